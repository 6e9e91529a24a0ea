"""A tiny synthetic scene shared by the tracker and CLI tests: a textured background with a
red square (object 1) moving right and a green square (object 2) moving left."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

H, W = 64, 96
N = 12
SQUARE = 16
_BACKGROUND = np.random.default_rng(0).integers(0, 200, (H, W, 3), dtype=np.uint8)


def box(t: int, obj: int = 1) -> tuple[int, int]:
    """Top-left corner of object ``obj`` at frame ``t``."""
    return (12, 8 + 3 * t) if obj == 1 else (40, W - 8 - SQUARE - 2 * t)


def frame(t: int) -> np.ndarray:
    """RGB uint8 H×W×3 frame ``t`` with both squares."""
    img = _BACKGROUND.copy()
    for obj, colour in ((1, (250, 30, 30)), (2, (30, 250, 30))):
        y, x = box(t, obj)
        img[y : y + SQUARE, x : x + SQUARE] = colour
    return img


def ids(t: int, *objects: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    """uint8 id mask of ``objects`` (default: object 1) at frame ``t``."""
    out = np.zeros(shape, dtype=np.uint8)
    for obj in objects or (1,):
        y, x = box(t, obj)
        out[y : y + SQUARE, x : x + SQUARE] = obj
    return out


def encode_video(path: Path, frames: list[np.ndarray], crf: int = 18) -> Path:
    """Encode RGB frames as an H.264 mp4 with PyAV."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=24, options={"crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path
