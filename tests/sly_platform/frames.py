"""Frames for the emulator's videos: a synthetic moving square, or a real DAVIS 2016 sequence.

DAVIS 2016 (480p, one object per sequence, a ground-truth mask on every frame) is read in place
from ``XMEM_DAVIS2016`` (default ``/work/shared/data/davis2016``); it is never copied into the
repository. :func:`davis` returns ``None`` when it is not there, so tests can skip.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

DAVIS_ROOT = Path(os.environ.get("XMEM_DAVIS2016", "/work/shared/data/davis2016"))


def default_frame(video_id: int, index: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    """A deterministic RGB ``uint8`` frame of shape ``(height, width, 3)``.

    The background is smooth (a per-channel horizontal wave plus a vertical one, with phases that
    depend on ``video_id``, values in [0, 200]); on top of it a white (255) square of side
    ``min(width, height) // 4`` has its top edge at row ``height // 3`` and its left edge at column
    ``index % width``, wrapping around the right border (it moves 1 px per frame to the right).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    seed = (int(video_id) * 2654435761) & 0xFFFFFFFF
    phases = [((seed >> (8 * c)) & 0xFF) / 255.0 * 2.0 * math.pi for c in range(4)]
    x = np.arange(width, dtype=np.float32) * np.float32(2.0 * math.pi / width)
    y = np.arange(height, dtype=np.float32) * np.float32(2.0 * math.pi / height)
    cols = np.empty((width, 3), dtype=np.float32)
    for c in range(3):
        cols[:, c] = 60.0 + 60.0 * np.cos(x * (c + 1) + phases[c])
    rows = 40.0 + 40.0 * np.sin(y * 2.0 + phases[3])
    # Two uint8 terms whose sum stays <= 200: one broadcast add over a 2-D (H, W*3) view.
    cols_u8 = np.rint(cols).astype(np.uint8).reshape(1, width * 3)
    rows_u8 = np.rint(rows).astype(np.uint8).reshape(height, 1)
    out = np.empty((height, width, 3), dtype=np.uint8)
    np.add(rows_u8, cols_u8, out=out.reshape(height, width * 3))
    side = max(1, min(width, height) // 4)
    top = height // 3
    left = int(index) % width
    right = left + side
    out[top : top + side, left : min(right, width)] = 255
    if right > width:
        out[top : top + side, : right - width] = 255
    return out


@dataclass(frozen=True)
class DavisSequence:
    """One DAVIS 2016 sequence: RGB frames and their ground-truth masks, read on demand."""

    name: str
    frames: list[Path]
    masks: list[Path]
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, index: int) -> npt.NDArray[np.uint8]:
        """RGB uint8 H×W×3 (cached: the emulator encodes a frame per request)."""
        return _read_rgb(self.frames[index])

    def mask(self, index: int) -> npt.NDArray[np.bool_]:
        """The ground-truth object mask, H×W bool."""
        return np.asarray(Image.open(self.masks[index])) > 127


@lru_cache(maxsize=256)
def _read_rgb(path: Path) -> npt.NDArray[np.uint8]:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def davis(name: str, root: Path = DAVIS_ROOT) -> DavisSequence | None:
    """The sequence ``name`` (e.g. "blackswan"), or None when the data set is not there."""
    frames = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))
    masks = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
    if not frames or len(frames) != len(masks):
        return None
    width, height = Image.open(frames[0]).size
    return DavisSequence(name, frames, masks, width, height)
