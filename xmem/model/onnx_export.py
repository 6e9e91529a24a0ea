"""The network as three ONNX graphs (key encoder, value encoder, decoder) and a manifest.

The memory read stays in the host program (:class:`~xmem.inference.core.InferenceCore` keeps
it sparse, which is faster than a dense graph), as in the working SAM 2 ports: the graphs are
the network's stateless stages, with a dynamic image size (multiples of 16) and a dynamic
number of objects. ``manifest.json`` holds what a runtime needs to use them: the model config,
its processing size, each graph's inputs, outputs and SHA-256, and the largest difference
from PyTorch measured at export (per stage), with the tolerance the tests hold it to.

Needs the ``onnx`` extra (``onnx``, ``onnxscript`` for the exporter, ``onnxruntime`` for the
check); :mod:`xmem.model.onnx_network` runs the graphs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xmem.errors import XMemError
from xmem.model.network import XMem

logger = logging.getLogger(__name__)

FORMAT = "xmem-onnx"
VERSION = 1
MIN_OPSET = 18
MANIFEST = "manifest.json"
# Largest |ONNX Runtime − PyTorch| allowed per stage output, relative to the output's largest
# magnitude (float32 kernels differ in summation order; the golden modules' bound is 1e-4).
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Graph:
    """One exported stage: its file and the names of its inputs and outputs, in order."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def file(self) -> str:
        return f"{self.name}.onnx"


def graphs(hidden: bool) -> tuple[Graph, Graph, Graph]:
    """The three graphs of a network, with (``hidden``) or without sensory memory.

    key_encoder: image 1×3×H×W (normalised, H and W multiples of 16) → key, shrinkage,
        selection (1×C×H/16×W/16) and the image features f16, f8, f4.
    value_encoder: image, f16, masks and others (1×N×H×W: each object's probability and the
        sum of the other objects'), hidden 1×N×CH×h×w → value 1×N×CV×h×w, the hidden state
        after a deep update.
    decoder: f16, f8, f4, hidden, memory readout 1×N×CV×h×w → logits 1×N×H×W (one per object,
        before the sigmoid and the soft aggregation), the updated hidden state.
    """
    h_in, h_out = (("hidden",), ("new_hidden",)) if hidden else ((), ())
    return (
        Graph("key_encoder", ("image",), ("key", "shrinkage", "selection", "f16", "f8", "f4")),
        Graph("value_encoder", ("image", "f16", "masks", "others", *h_in), ("value", *h_out)),
        Graph("decoder", ("f16", "f8", "f4", "readout", *h_in), ("logits", *h_out)),
    )


class _KeyStage(nn.Module):
    def __init__(self, network: XMem) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        kf = self.network.encode_key(image, need_shrinkage=True, need_selection=True)
        assert kf.shrinkage is not None and kf.selection is not None
        return kf.key, kf.shrinkage, kf.selection, kf.f16, kf.f8, kf.f4


class _ValueStage(nn.Module):
    def __init__(self, network: XMem) -> None:
        super().__init__()
        self.network = network

    def forward(
        self,
        image: Tensor,
        f16: Tensor,
        masks: Tensor,
        others: Tensor,
        hidden: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        deep = hidden is not None
        value, new_hidden = self.network.value_encoder(
            image, f16, hidden, masks, others, deep_update=deep
        )
        return (value, new_hidden) if deep and new_hidden is not None else (value,)


class _DecoderStage(nn.Module):
    def __init__(self, network: XMem) -> None:
        super().__init__()
        self.network = network

    def forward(
        self, f16: Tensor, f8: Tensor, f4: Tensor, readout: Tensor, hidden: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        update = hidden is not None
        new_hidden, logits = self.network.decoder(
            f16, f8, f4, hidden, readout, update_hidden=update
        )
        return (logits, new_hidden) if update and new_hidden is not None else (logits,)


def sample_inputs(
    network: XMem, size: tuple[int, int] = (96, 128), objects: int = 2
) -> dict[str, dict[str, Tensor]]:
    """Inputs of each graph for a frame of ``size`` with ``objects`` objects (seeded), from
    the network's own key encoder."""
    g = torch.Generator().manual_seed(0)
    h, w = size
    image = torch.randn(1, 3, h, w, generator=g)
    with torch.inference_mode():
        kf = network.encode_key(image)
    masks = torch.rand(1, objects, h, w, generator=g)
    masks = masks / masks.sum(dim=1, keepdim=True)
    c = network.config
    hidden = torch.randn(1, objects, c.hidden_dim, h // 16, w // 16, generator=g)
    readout = torch.randn(1, objects, c.value_dim, h // 16, w // 16, generator=g)
    extra = {"hidden": hidden} if c.hidden_dim > 0 else {}
    return {
        "key_encoder": {"image": image},
        "value_encoder": {
            "image": image,
            "f16": kf.f16,
            "masks": masks,
            "others": masks.sum(dim=1, keepdim=True) - masks,
            **extra,
        },
        "decoder": {"f16": kf.f16, "f8": kf.f8, "f4": kf.f4, "readout": readout, **extra},
    }


def _stages(network: XMem) -> dict[str, nn.Module]:
    return {
        "key_encoder": _KeyStage(network).eval(),
        "value_encoder": _ValueStage(network).eval(),
        "decoder": _DecoderStage(network).eval(),
    }


def _dynamic_shapes(graph: Graph) -> dict[str, dict[int, Any]]:
    """Image size in steps of 16 and the number of objects, dynamic in every input."""
    dim = torch.export.Dim
    h16, w16 = dim("h16", min=1, max=512), dim("w16", min=1, max=512)
    objects = dim("objects", min=1, max=255)
    full = {2: 16 * h16, 3: 16 * w16}
    shapes: dict[str, dict[int, Any]] = {
        "image": full,
        "f16": {2: h16, 3: w16},
        "f8": {2: 2 * h16, 3: 2 * w16},
        "f4": {2: 4 * h16, 3: 4 * w16},
        "masks": {1: objects, **full},
        "others": {1: objects, **full},
        "hidden": {1: objects, 3: h16, 4: w16},
        "readout": {1: objects, 3: h16, 4: w16},
    }
    return {name: shapes[name] for name in graph.inputs}


def export_graph(
    stage: nn.Module, graph: Graph, inputs: dict[str, Tensor], path: Path, opset: int
) -> None:
    """Write one stage as an ONNX graph with dynamic size and objects (torch.export-based)."""
    args = tuple(inputs[name] for name in graph.inputs)
    dynamic = _dynamic_shapes(graph)
    program = torch.onnx.export(
        stage,
        args,
        dynamo=True,
        opset_version=opset,
        input_names=list(graph.inputs),
        output_names=list(graph.outputs),
        dynamic_shapes=dynamic,
        optimize=True,
        verbose=False,
    )
    if program is None:  # pragma: no cover - the dynamo exporter always returns one
        raise XMemError(f"exporting the {graph.name} to ONNX gave no graph")
    program.save(str(path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_differences(
    network: XMem,
    run: Callable[[str, dict[str, np.ndarray]], Sequence[np.ndarray]],
    size: tuple[int, int] = (112, 160),
    objects: int = 3,
) -> dict[str, dict[str, float]]:
    """Per graph: the largest |ONNX − PyTorch| over its outputs and that relative to the
    outputs' largest magnitude, on inputs of another size and number of objects than the
    export's (so the dynamic axes are checked too). ``run(graph, inputs)`` runs a graph."""
    inputs = sample_inputs(network, size, objects)
    stages = _stages(network)
    out: dict[str, dict[str, float]] = {}
    for graph in graphs(network.config.hidden_dim > 0):
        feed = inputs[graph.name]
        with torch.inference_mode():
            expected = stages[graph.name](*(feed[n] for n in graph.inputs))
        got = run(graph.name, {n: feed[n].numpy() for n in graph.inputs})
        diff = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True))
        scale = max(float(e.abs().max()) for e in expected)
        out[graph.name] = {"max_abs": diff, "relative": diff / max(scale, 1e-12)}
    return out


def export_onnx(
    network: XMem,
    out: str | Path,
    *,
    model: str | None = None,
    source: Path | None = None,
    opset: int = MIN_OPSET,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the graphs of ``network`` (fp32, batch norm folded) and ``manifest.json`` into
    the folder ``out``; returns the manifest.

    ``model`` and ``source`` (the weights file) are recorded in the manifest. The folder
    appears only when everything is written and checked with ONNX Runtime (each stage within
    :data:`TOLERANCE` of PyTorch); an existing non-empty folder needs ``overwrite``.
    """
    out = Path(out)
    if opset < MIN_OPSET:
        raise XMemError(f"the ONNX opset must be at least {MIN_OPSET}, got {opset}")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise XMemError(
            f"'{out}' exists and is not an empty folder (give another --out, or --overwrite)"
        )
    from xmem.model.fuse import fold_batchnorm
    from xmem.model.onnx_network import check_runtime, session

    check_runtime()
    net = fold_batchnorm(network.cpu().float()).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        started = time.perf_counter()
        differences = _write_checked_graphs(net, staging, opset, session)
        manifest = _manifest(net, staging, opset, differences, model, source)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.chmod(0o777 & ~_umask())  # mkdtemp's folder is private
        staging.rename(out)
        logger.info(
            "exported %s to %s in %.0f s",
            model or "the network",
            out,
            time.perf_counter() - started,
        )
        return manifest
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _write_checked_graphs(
    net: XMem, folder: Path, opset: int, session: Callable[..., Any]
) -> dict[str, dict[str, float]]:
    """Export the three graphs into ``folder`` and measure them against PyTorch with ONNX
    Runtime; a stage beyond :data:`TOLERANCE` is an error."""
    inputs = sample_inputs(net)
    stages = _stages(net)
    hidden = net.config.hidden_dim > 0
    for graph in graphs(hidden):
        logger.info("exporting the %s", graph.name.replace("_", " "))
        with _quiet_exporter():
            export_graph(stages[graph.name], graph, inputs[graph.name], folder / graph.file, opset)
    sessions = {g.name: session(folder / g.file, threads=0) for g in graphs(hidden)}
    differences = stage_differences(net, lambda name, feed: sessions[name].run(None, feed))
    for name, d in differences.items():
        if d["relative"] > TOLERANCE:
            raise XMemError(
                f"the exported {name} differs from PyTorch by {d['max_abs']:.3g} "
                f"({d['relative']:.2g} of its range, more than {TOLERANCE:g})"
            )
    return differences


def _manifest(
    net: XMem,
    folder: Path,
    opset: int,
    differences: dict[str, dict[str, float]],
    model: str | None,
    source: Path | None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model,
        "config": dataclasses.asdict(net.config),
        "default_size": int(getattr(net, "default_size", 480)),
        "default_flip": bool(getattr(net, "default_flip", False)),
        "opset": opset,
        "precision": "fp32",
        "size_multiple": 16,
        "source": None if source is None else {"file": source.name, "sha256": file_sha256(source)},
        "graphs": {
            g.name: {
                "file": g.file,
                "sha256": file_sha256(folder / g.file),
                "inputs": list(g.inputs),
                "outputs": list(g.outputs),
            }
            for g in graphs(net.config.hidden_dim > 0)
        },
        "tolerances": {name: {**d, "bound_relative": TOLERANCE} for name, d in differences.items()},
        "torch": torch.__version__,
    }


def export_weights(
    name_or_path: str | Path | None,
    out: str | Path,
    *,
    opset: int = MIN_OPSET,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export the weights ``name_or_path`` (a name of the weights table or a checkpoint path;
    None: the default weights) into the folder ``out``; returns the manifest."""
    from xmem.model.weights import from_pretrained, resolve_weights, table_entry

    source = resolve_weights(name_or_path, download_missing=True)
    network = from_pretrained(source)
    info = table_entry(source)
    model = info.name if info is not None else source.stem
    return export_onnx(network, out, model=model, source=source, opset=opset, overwrite=overwrite)


def exported(name_or_path: str | Path | None) -> Path:
    """The export folder for ``name_or_path``: a folder holding a manifest as is; otherwise
    the weights' export in the cache (``onnx/<file>-<sha256 prefix>``), made on first use."""
    from xmem.model.weights import cache_dir, resolve_weights

    if name_or_path is not None and (Path(name_or_path) / MANIFEST).is_file():
        return Path(name_or_path)
    source = resolve_weights(name_or_path, download_missing=True)
    folder = cache_dir() / "onnx" / f"{source.stem}-{file_sha256(source)[:12]}"
    if not (folder / MANIFEST).is_file():
        logger.info("exporting %s to ONNX once, into %s (about a minute)", source.name, folder)
        export_weights(source, folder, overwrite=True)
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's notes (axis names, initializers merged) kept out of the user's log."""
    quiet = logging.getLogger("onnx_ir")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        quiet.setLevel(level)
