"""Track objects with the ONNX graphs of `xmem weights onnx`, using onnxruntime and numpy only.

    python onnx_track.py EXPORT_DIR FRAMES_DIR FIRST_MASK.png OUT_DIR

EXPORT_DIR: written by `xmem weights onnx WEIGHTS --out EXPORT_DIR`. FRAMES_DIR: the video's
frames as images, in name order. FIRST_MASK.png: object ids on the first frame (0 is the
background). OUT_DIR receives one id PNG per frame.

The graphs are the network's stages; the memory lives here. This keeps the first frame and the
last few memory frames (a memory frame every 5) and reads them with XMem's top-k affinity: the
idea of XMem's working memory without its long-term memory, in about a hundred lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
MEM_EVERY, KEEP, TOP_K = 5, 8, 30  # a memory frame every 5; first + 7 latest kept; top-k


def load(folder: Path) -> tuple[dict, dict[str, ort.InferenceSession]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    sessions = {
        name: ort.InferenceSession(str(folder / g["file"]), providers=["CPUExecutionProvider"])
        for name, g in manifest["graphs"].items()
    }
    return manifest, sessions


def prepare(rgb: Image.Image, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Resize (shorter side ``size``), normalise and zero-pad to multiples of 16: 1×3×H×W."""
    w, h = rgb.size
    scale = size / min(h, w)
    rgb = rgb.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)
    x = (np.asarray(rgb, np.float32) / 255 - MEAN) / STD
    h, w = x.shape[:2]
    top, left = ((-h) % 16) // 2, ((-w) % 16) // 2
    pad = (top, (-h) % 16 - top, left, (-w) % 16 - left)
    x = np.pad(x, ((pad[0], pad[1]), (pad[2], pad[3]), (0, 0)))
    return x.transpose(2, 0, 1)[None].copy(), pad


def read_memory(
    memory: list[dict[str, np.ndarray]], key: np.ndarray, sel: np.ndarray
) -> np.ndarray:
    """XMem's read: shrunk, selected L2 similarity; softmax over each query's top-k."""
    mk = np.concatenate([m["key"].reshape(m["key"].shape[1], -1) for m in memory], 1)  # CK×M
    ms = np.concatenate([m["shrinkage"].reshape(1, -1) for m in memory], 1)  # 1×M
    mv = np.concatenate([m["value"].reshape(*m["value"].shape[1:3], -1) for m in memory], 2)
    ck, h, w = key.shape[1:]
    qk, qe = key.reshape(ck, -1), sel.reshape(ck, -1)  # CK×Q
    sim = 2 * mk.T @ (qk * qe) - (mk**2).T @ qe - (qe * qk**2).sum(0, keepdims=True)
    sim = sim * ms.T / np.sqrt(ck)  # M×Q
    k = min(TOP_K, sim.shape[0])
    top = np.argpartition(-sim, k - 1, axis=0)[:k]  # k×Q
    weights = np.take_along_axis(sim, top, 0)
    weights = np.exp(weights - weights.max(0, keepdims=True))
    weights /= weights.sum(0, keepdims=True)
    readout = np.einsum("ncqk,kq->ncq", mv[:, :, top.T], weights)  # N×CV×Q
    return readout.reshape(1, *readout.shape[:2], h, w).astype(np.float32)


def aggregate(prob: np.ndarray) -> np.ndarray:
    """Per-object probabilities (N×H×W) → background first, summing to 1 (XMem's)."""
    q = np.clip(np.concatenate([np.prod(1 - prob, 0, keepdims=True), prob]), 1e-7, 1 - 1e-7)
    logits = np.log(q / (1 - q))
    e = np.exp(logits - logits.max(0, keepdims=True))
    return e / e.sum(0, keepdims=True)


def encode_value(
    s: dict, image: np.ndarray, f16: np.ndarray, prob: np.ndarray, hidden: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    masks = prob[None].astype(np.float32)
    others = masks.sum(1, keepdims=True) - masks
    value, hidden = s["value_encoder"].run(
        None, {"image": image, "f16": f16, "masks": masks, "others": others, "hidden": hidden}
    )
    return value, hidden


def track(export: Path, frames: Path, first_mask: Path, out: Path) -> None:
    manifest, s = load(export)
    size, ch = manifest["default_size"], manifest["config"]["hidden_dim"]
    ids = np.asarray(Image.open(first_mask))
    objects = [int(i) for i in np.unique(ids) if i != 0]
    out.mkdir(parents=True, exist_ok=True)
    memory: list[dict[str, np.ndarray]] = []
    hidden = prob = None
    for t, path in enumerate(sorted(p for p in frames.iterdir() if p.suffix in (".jpg", ".png"))):
        rgb = Image.open(path).convert("RGB")
        image, (top, bottom, left, right) = prepare(rgb, size)
        key, shrinkage, selection, f16, f8, f4 = s["key_encoder"].run(None, {"image": image})
        hh, ww = image.shape[2:]
        if t == 0:  # the given mask, at processing size, padded like the image
            small = np.asarray(
                Image.fromarray(ids).resize(
                    (ww - left - right, hh - top - bottom), Image.Resampling.NEAREST
                )
            )
            given = np.stack([small == o for o in objects]).astype(np.float32)
            prob = aggregate(np.pad(given, ((0, 0), (top, bottom), (left, right))))
            hidden = np.zeros((1, len(objects), ch, hh // 16, ww // 16), np.float32)
        else:
            readout = read_memory(memory, key, selection)
            logits, hidden = s["decoder"].run(
                None, {"f16": f16, "f8": f8, "f4": f4, "readout": readout, "hidden": hidden}
            )
            prob = aggregate(1 / (1 + np.exp(-logits[0])))
        if t % MEM_EVERY == 0:
            value, hidden = encode_value(s, image, f16, prob[1:], hidden)
            memory.append({"key": key, "shrinkage": shrinkage, "value": value})
            memory = memory[:1] + memory[1:][-(KEEP - 1) :]
        labels = np.array([0, *objects], np.uint8)[prob.argmax(0)]
        labels = labels[top : hh - bottom, left : ww - right]
        Image.fromarray(labels).resize(rgb.size, Image.Resampling.NEAREST).save(
            out / f"{path.stem}.png"
        )


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    track(*(Path(a) for a in sys.argv[1:]))
