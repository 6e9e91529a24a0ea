"""``xmem track INPUT --masks M --out DIR``: segment objects through a video."""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.std import tqdm

from xmem.errors import XMemError
from xmem.inference.config import InferenceConfig
from xmem.inference.core import PRECISIONS
from xmem.inference.speed import CHANNELS_LAST, COMPILE_MODES, SpeedOptions, prepare_network
from xmem.inference.tracker import track
from xmem.io.frames import open_frames
from xmem.io.masks import Mask, find_annotations, read_mask, write_mask
from xmem.io.output import StagedDirectory, atomic_output_file
from xmem.io.overlay import render_overlay
from xmem.io.source import FrameSource
from xmem.io.writer import BackgroundWriter
from xmem.model.network import XMem

logger = logging.getLogger(__name__)


def add_inference_options(
    parser: argparse.ArgumentParser, precision_default: str | None = "fp32"
) -> None:
    """Options of the original evaluation script, with the paper's defaults.

    ``precision_default`` None: fp16 on CUDA, fp32 on the CPU (decided by the command).
    """
    d = InferenceConfig()
    g = parser.add_argument_group("inference options (paper defaults)")
    g.add_argument(
        "--size",
        type=int,
        default=None,
        help="shorter side to process at; -1: original (default: the model's own, shown by "
        "`xmem weights list`; 480 for XMem and for checkpoints outside the table)",
    )
    g.add_argument("--top-k", type=int, default=d.top_k, help=f"top-k affinity (default {d.top_k})")
    g.add_argument(
        "--mem-every",
        type=int,
        default=d.mem_every,
        help=f"memory frame every r frames (default {d.mem_every})",
    )
    g.add_argument(
        "--deep-update-every",
        type=int,
        default=d.deep_update_every,
        help="deep update period; <0: on memory frames (default -1)",
    )
    g.add_argument(
        "--disable-long-term",
        action="store_true",
        help="no long-term memory (working memory keeps the first and latest frames)",
    )
    g.add_argument(
        "--min-mid-term-frames",
        type=int,
        default=d.min_mid_term_frames,
        help=f"T_min (default {d.min_mid_term_frames})",
    )
    g.add_argument(
        "--max-mid-term-frames",
        type=int,
        default=d.max_mid_term_frames,
        help=f"T_max (default {d.max_mid_term_frames})",
    )
    g.add_argument(
        "--num-prototypes",
        type=int,
        default=d.num_prototypes,
        help=f"P (default {d.num_prototypes})",
    )
    g.add_argument(
        "--max-long-term-elements",
        type=int,
        default=d.max_long_term_elements,
        help=f"LT_max (default {d.max_long_term_elements})",
    )
    g.add_argument(
        "--weights",
        default=None,
        help="weights name (see `xmem weights list`) or checkpoint path "
        "(default: XMem when cached, else the bundled xmem-compact)",
    )
    g.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ..."
    )
    g.add_argument(
        "--precision",
        choices=sorted(PRECISIONS),
        default=precision_default,
        help=f"network precision (default {precision_default or 'fp16 on CUDA, fp32 on CPU'})",
    )
    add_speed_options(parser)


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """The fast paths (:class:`SpeedOptions`), each with its off switch."""
    d = SpeedOptions()
    g = parser.add_argument_group(
        "speed options (the same outputs up to float rounding; see docs/benchmark.md)"
    )
    g.add_argument(
        "--eager",
        action="store_true",
        help="the straightforward path: every option below off (the speed baseline)",
    )
    g.add_argument(
        "--no-fold-bn",
        dest="fold_bn",
        action="store_false",
        help="keep batch norm separate from the convolutions (default: folded into them)",
    )
    g.add_argument(
        "--channels-last",
        choices=CHANNELS_LAST,
        default=d.channels_last,
        help=f"NHWC weights for the encoders or the whole network (default {d.channels_last})",
    )
    g.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default=d.compile,
        help="torch.compile the encoders and decoder; reduce-overhead adds CUDA graphs "
        "(default off: compiling takes a while on the first frames)",
    )
    g.add_argument("--no-tf32", dest="tf32", action="store_false", help="no TensorFloat-32 on CUDA")
    g.add_argument(
        "--no-pin-memory",
        dest="pin_memory",
        action="store_false",
        help="no page-locked staging of frames for asynchronous copies to CUDA",
    )
    g.add_argument(
        "--no-overlap-io",
        dest="overlap_io",
        action="store_false",
        help="decode frames and read results in line, not overlapped with the network",
    )
    g.add_argument(
        "--object-chunk",
        type=int,
        default=d.object_chunk,
        help=f"objects decoded at a time, to bound memory; 0: all (default {d.object_chunk})",
    )


def speed_options(args: argparse.Namespace) -> SpeedOptions:
    """The speed options, checked (XMemError naming the option)."""
    if args.object_chunk < 0:
        raise XMemError(f"--object-chunk must be at least 0, got {args.object_chunk}")
    if args.eager:
        return SpeedOptions.eager()
    return SpeedOptions(
        fold_bn=args.fold_bn,
        channels_last=args.channels_last,
        compile=args.compile,
        tf32=args.tf32,
        pin_memory=args.pin_memory,
        overlap_io=args.overlap_io,
        object_chunk=args.object_chunk,
    )


def load_inference_network(args: argparse.Namespace, device: torch.device) -> XMem:
    """The network of ``--weights`` on ``device``, prepared by the speed options."""
    from xmem.model.weights import from_pretrained

    network = from_pretrained(args.weights, device=device)
    return prepare_network(network, speed_options(args))


def inference_config(args: argparse.Namespace) -> InferenceConfig:
    """The inference options, checked (XMemError naming the option)."""
    if args.size is not None and (args.size == 0 or args.size < -1):
        raise XMemError("--size must be positive, or -1 to keep the original resolution")
    return InferenceConfig(
        top_k=args.top_k,
        mem_every=args.mem_every,
        deep_update_every=args.deep_update_every,
        enable_long_term=not args.disable_long_term,
        min_mid_term_frames=args.min_mid_term_frames,
        max_mid_term_frames=args.max_mid_term_frames,
        num_prototypes=args.num_prototypes,
        max_long_term_elements=args.max_long_term_elements,
    )


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise XMemError(f"unknown device {name!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise XMemError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track", help="segment objects through a video from masks on some frames")
    p.add_argument(
        "input", type=Path, help="folder of frames (jpg/png) or video file (mp4/mov/avi/mkv)"
    )
    p.add_argument(
        "--masks",
        "-m",
        type=Path,
        required=True,
        help="one PNG (for the first frame, or the frame named like it) "
        "or a folder of PNGs named like the frames",
    )
    p.add_argument(
        "--out", "-o", type=Path, required=True, help="output folder: one palette PNG per frame"
    )
    p.add_argument(
        "--overlay", type=Path, default=None, help="also write an overlay video (e.g. out.mp4)"
    )
    p.add_argument(
        "--reverse",
        action="store_true",
        help="propagate backward, from the last frame to the first",
    )
    add_inference_options(p)
    p.set_defaults(run=run)


def load_annotations(
    source: FrameSource, masks: Path, reverse: bool
) -> tuple[dict[int, np.ndarray], list[int] | None]:
    """Read and check every annotation before any work starts."""
    paths = find_annotations(masks, source.names, default_index=len(source) - 1 if reverse else 0)
    annotations: dict[int, np.ndarray] = {}
    palette = None
    for index in sorted(paths, reverse=reverse):
        mask: Mask = read_mask(paths[index])
        h, w = mask.ids.shape
        if (h, w) != (source.height, source.width):
            raise XMemError(
                f"mask '{paths[index]}' is {w}×{h} "
                f"but the frames are {source.width}×{source.height}"
            )
        if not mask.ids.any():
            if not annotations:
                raise XMemError(f"mask '{paths[index]}' has no object (it is all background)")
            logger.warning("mask '%s' has no object; ignored", paths[index])
            continue
        palette = palette or mask.palette
        annotations[index] = mask.ids
    return annotations, palette


def run(args: argparse.Namespace) -> int:
    config = inference_config(args)
    if args.overlay is not None and args.overlay.suffix.lower() not in (
        ".mp4",
        ".mov",
        ".mkv",
        ".avi",
    ):
        raise XMemError(
            f"--overlay must be a video file (.mp4, .mov, .mkv, .avi), got '{args.overlay}'"
        )
    device = select_device(args.device)
    with open_frames(args.input) as source:
        annotations, palette = load_annotations(source, args.masks, args.reverse)
        # Both outputs are staged (checked writable before any work) and appear only when
        # everything succeeded: a failure while writing the overlay leaves no masks either.
        with contextlib.ExitStack() as outputs:
            overlay = (
                outputs.enter_context(atomic_output_file(args.overlay))
                if args.overlay is not None
                else None
            )
            staged = outputs.enter_context(StagedDirectory(args.out))
            speed = speed_options(args)
            network = load_inference_network(args, device)
            results = track(
                network,
                source,
                annotations,
                config=config,
                size=args.size,
                reverse=args.reverse,
                precision=args.precision,
                speed=speed,
            )
            start = time.perf_counter()
            bar = tqdm(
                results, total=len(source), unit="frame", desc="tracking", dynamic_ncols=True
            )
            # PNGs are encoded by writer threads while the next frames are tracked
            with BackgroundWriter(enabled=speed.overlap_io) as writer:
                for result in bar:
                    path = staged.path / f"{source.names[result.index]}.png"
                    writer.submit(write_mask, path, result.mask, palette)
            elapsed = time.perf_counter() - start
            if overlay is not None:
                masks = [staged.path / f"{name}.png" for name in source.names]
                render_overlay(
                    source, masks, overlay, fps=source.fps, palette=palette, progress=True
                )
        logger.info(
            "wrote %d masks to %s (%.2f frames/s on %s)",
            len(source),
            args.out,
            len(source) / max(elapsed, 1e-9),
            device,
        )
        if args.overlay is not None:
            logger.info("wrote overlay video %s", args.overlay)
    return 0
