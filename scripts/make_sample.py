"""Generate the bundled sample clip: examples/sample/video.mp4 and masks/00000.png.

Synthetic (no licence attached): a textured background with two textured objects that move,
turn and overlap. Run: python scripts/make_sample.py
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np

from xmem.io.masks import write_mask

OUT = Path(__file__).resolve().parents[1] / "examples" / "sample"
W, H, T, FPS = 640, 360, 60, 24


def texture(h: int, w: int, seed: int, scale: float) -> np.ndarray:
    """Smooth colour noise in [0, 1], H×W×3 (sum of random sinusoids)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w, 3), np.float32)
    for _ in range(12):
        fx, fy = rng.normal(0, scale, 2)
        phase = rng.uniform(0, 2 * math.pi)
        colour = rng.uniform(0, 1, 3)
        out += np.sin(fx * x + fy * y + phase)[..., None] * colour
    out -= out.min()
    return out / out.max()


def object_masks(t: int) -> tuple[np.ndarray, np.ndarray]:
    """The two objects' true masks on frame ``t`` (H×W bool; object 2 is behind object 1)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    s = t / (T - 1)
    # object 1: an ellipse travelling left to right on an arc
    cx, cy = 110 + 420 * s, 200 - 90 * math.sin(math.pi * s)
    a = ((xx - cx) / 70) ** 2 + ((yy - cy) / 45) ** 2 <= 1
    # object 2: a turning rectangle moving right to left, passing behind object 1
    angle = 2.0 * s
    bx, by = 500 - 330 * s, 170 + 40 * math.cos(3 * s)
    u = (xx - bx) * math.cos(angle) + (yy - by) * math.sin(angle)
    v = -(xx - bx) * math.sin(angle) + (yy - by) * math.cos(angle)
    b = (np.abs(u) <= 60) & (np.abs(v) <= 32) & ~a
    return a, b


def main() -> None:
    background = 0.35 + 0.4 * texture(H, W, 0, 0.03)
    tex_a = 0.2 + 0.6 * texture(H, W, 1, 0.15) * np.array([1.0, 0.35, 0.25])
    tex_b = 0.25 + 0.7 * texture(H, W, 2, 0.08) * np.array([0.3, 0.5, 1.0])
    OUT.joinpath("masks").mkdir(parents=True, exist_ok=True)
    with av.open(str(OUT / "video.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "18"}
        for t in range(T):
            a, b = object_masks(t)
            frame = background.copy()
            frame[b] = tex_b[b]
            frame[a] = tex_a[a]
            rgb = (np.clip(frame, 0, 1) * 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
            if t == 0:
                ids = np.zeros((H, W), np.uint8)
                ids[a], ids[b] = 1, 2
                write_mask(OUT / "masks" / "00000.png", ids)
        for packet in stream.encode():
            container.mux(packet)


if __name__ == "__main__":
    main()
