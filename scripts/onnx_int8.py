"""Probe: int8 static quantisation of the exported key encoder, its speed and the masks' IoU.

    python scripts/onnx_int8.py EXPORT_DIR VIDEO FIRST_MASK.png [--trunk-only]

Quantises EXPORT_DIR/key_encoder.onnx with ONNX Runtime (QDQ, per-channel int8 weights, uint8
activations) calibrated on every 6th frame of VIDEO, into a copy of the export, then tracks
VIDEO with both and prints the key encoder's time per frame and the mask IoU of int8 against
fp32. ``--trunk-only`` keeps the key projection (key, shrinkage, selection) in fp32. The
numbers on a 2-core CPU are in docs/onnx.md ("int8"); nothing here is shipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

import xmem
from xmem.inference.image import IMAGENET_MEAN, IMAGENET_STD, processing_size, resize_image
from xmem.io.frames import open_frames
from xmem.io.masks import read_mask
from xmem.model.onnx_network import OnnxXMem, session


def calibration(video: Path, size: int) -> list[np.ndarray]:
    mean, std = np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_STD, np.float32)
    frames = []
    with open_frames(video) as source:
        for _, rgb in source.read(range(0, len(source), 6)):
            hw = processing_size(rgb.shape[0], rgb.shape[1], size)
            x = ((resize_image(rgb, hw).astype(np.float32) / 255 - mean) / std).astype(np.float32)
            h, w = x.shape[:2]
            x = np.pad(x, ((0, (-h) % 16), (0, (-w) % 16), (0, 0)))
            frames.append(x.transpose(2, 0, 1)[None].copy())
    return frames


class Frames(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames: Iterator[np.ndarray] = iter(frames)

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self.frames, None)
        return None if x is None else {"image": x}


def projection_nodes(model: onnx.ModelProto) -> list[str]:
    """The nodes from f16 to key, shrinkage and selection."""
    producers = {out: node for node in model.graph.node for out in node.output}
    found, todo = set(), ["key", "shrinkage", "selection"]
    while todo:
        node = producers.get(todo.pop())
        if node is None or node.name in found or "f16" in node.output:
            continue
        found.add(node.name)
        todo.extend(i for i in node.input if i != "f16")
    return sorted(found)


def quantised_copy(export: Path, video: Path, trunk_only: bool, into: Path) -> Path:
    shutil.copytree(export, into)
    manifest = json.loads((export / "manifest.json").read_text())
    pre = into / "key_encoder.pre.onnx"
    quant_pre_process(str(export / "key_encoder.onnx"), str(pre))
    exclude = projection_nodes(onnx.load(str(pre))) if trunk_only else []
    target = into / "key_encoder.onnx"
    quantize_static(
        str(pre),
        str(target),
        Frames(calibration(video, manifest["default_size"])),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=exclude,
    )
    pre.unlink()
    manifest["graphs"]["key_encoder"]["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    (into / "manifest.json").write_text(json.dumps(manifest))
    return into


def key_encoder_ms(folder: Path, shape: tuple[int, int]) -> float:
    s = session(folder / "key_encoder.onnx", 2)
    x = np.random.default_rng(0).random((1, 3, *shape), dtype=np.float32)
    s.run(None, {"image": x})
    start = time.perf_counter()
    for _ in range(20):
        s.run(None, {"image": x})
    return (time.perf_counter() - start) / 20 * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("export", type=Path)
    p.add_argument("video", type=Path)
    p.add_argument("mask", type=Path)
    p.add_argument("--trunk-only", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        int8 = quantised_copy(args.export, args.video, args.trunk_only, Path(tmp) / "int8")
        annotations = {0: read_mask(args.mask).ids}
        options = xmem.TrackOptions(adapt_steps=0)
        masks = {
            name: [r.mask for r in xmem.track(OnnxXMem(folder), args.video, annotations, options)]
            for name, folder in (("fp32", args.export), ("int8", int8))
        }
        ious = []
        for a, b in zip(masks["fp32"], masks["int8"], strict=True):
            for o in sorted(set(np.unique(a)) - {0}):
                ious.append(((a == o) & (b == o)).sum() / ((a == o) | (b == o)).sum())
        size = json.loads((args.export / "manifest.json").read_text())["default_size"]
        shape = calibration(args.video, size)[0].shape[2:]
        for name, folder in (("fp32", args.export), ("int8", int8)):
            print(f"{name}: key encoder {key_encoder_ms(folder, shape):.1f} ms per frame")
        print(f"mask IoU int8 vs fp32: mean {np.mean(ious):.3f}, min {np.min(ious):.3f}")


if __name__ == "__main__":
    main()
