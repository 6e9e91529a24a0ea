"""``xmem weights``: list, download and locate the pretrained checkpoints."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from xmem.errors import XMemError
from xmem.model.onnx_export import MIN_OPSET
from xmem.model.weights import (
    BUNDLED_DEFAULT,
    DEFAULT_WEIGHTS,
    WEIGHTS,
    cache_dir,
    cached_path,
    download,
    list_weights,
)

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``xmem weights`` and its actions on the top-level sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "weights",
        help="list, download and locate pretrained weights",
        description=(
            "Pretrained XMem checkpoints. They are cached in $XMEM_CACHE_DIR, else "
            "$XDG_CACHE_HOME/xmem, else ~/.cache/xmem; $XMEM_WEIGHTS_MIRROR replaces the "
            "download base URL."
        ),
    )
    actions = parser.add_subparsers(dest="weights_action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="show the known weights and whether they are cached")
    listing.set_defaults(run=run_list)

    names = ", ".join(WEIGHTS)
    fetch = actions.add_parser("download", help="download weights into the cache, print the path")
    fetch.add_argument("name", metavar="NAME", help=f"one of {names}")
    fetch.add_argument("--force", action="store_true", help="download again even when cached")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(run=run_download)

    where = actions.add_parser("path", help="print where the weights are (or would be) cached")
    where.add_argument("name", metavar="NAME", help=f"one of {names}")
    where.set_defaults(run=run_path)

    onnx = actions.add_parser(
        "onnx",
        help="export weights as ONNX graphs (key encoder, value encoder, decoder) and a manifest",
        description="Write the network of WEIGHTS as three ONNX graphs with a dynamic image "
        "size and number of objects, and manifest.json (model config, processing size, "
        "hashes, measured differences from PyTorch). The memory read stays in the host "
        "program: `xmem track --backend onnx --weights DIR` runs them; docs/onnx.md shows "
        "them run with onnxruntime alone.",
    )
    onnx.add_argument("weights", metavar="WEIGHTS", help=f"one of {names}, or a checkpoint path")
    onnx.add_argument("--out", "-o", type=Path, required=True, help="folder to write")
    onnx.add_argument(
        "--opset", type=int, default=MIN_OPSET, help=f"ONNX opset, at least {MIN_OPSET}"
    )
    onnx.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    onnx.set_defaults(run=run_onnx)

    parser.set_defaults(run=_no_action)  # the actions' own defaults override this
    return parser


def _no_action(args: argparse.Namespace) -> int:
    raise XMemError(
        "choose an action: xmem weights list | download NAME | path NAME | onnx NAME --out DIR"
    )


def run_list(args: argparse.Namespace) -> int:
    """Print a table: name (default marked), cached yes/no, default processing size (shorter
    side, used unless --size is given), path, description."""
    rows = [("NAME", "CACHED", "SIZE", "PATH", "DESCRIPTION")]
    for info, path in list_weights():
        mark = "* " if info.name == DEFAULT_WEIGHTS else "  "
        have = ("bundled" if info.bundled else "yes") if path else "no"
        size = str(info.process_size)
        rows.append((mark + info.name, have, size, str(path or "-"), info.description))
    rows[0] = ("  " + rows[0][0],) + rows[0][1:]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join([*(row[i].ljust(widths[i]) for i in range(4)), row[4]]) for row in rows]
    lines.append(
        f"(* = default when cached, else {BUNDLED_DEFAULT} (bundled); SIZE: shorter side "
        f"processed unless --size is given)  cache: {cache_dir()}"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def run_download(args: argparse.Namespace) -> int:
    """Download (unless cached, or with --force) and print the final path."""
    path = download(args.name, force=args.force, progress=not args.no_progress)
    sys.stdout.write(f"{path}\n")
    return 0


def run_path(args: argparse.Namespace) -> int:
    """Print the cache path of the named weights, whether or not it exists yet."""
    sys.stdout.write(f"{cached_path(args.name)}\n")
    return 0


def run_onnx(args: argparse.Namespace) -> int:
    """Export the graphs and the manifest, and say where they are and how close they are."""
    from xmem.model.onnx_export import export_weights

    manifest = export_weights(args.weights, args.out, opset=args.opset, overwrite=args.overwrite)
    for name, graph in manifest["graphs"].items():
        d = manifest["tolerances"][name]
        logger.info(
            "%s: %s (max |ONNX - PyTorch| %.2g)", name, args.out / graph["file"], d["max_abs"]
        )
    sys.stdout.write(f"{args.out}\n")
    return 0
