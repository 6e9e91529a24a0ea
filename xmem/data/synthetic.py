"""Deterministic synthetic videos: textured objects moving smoothly over a textured background.

For benchmarks (any length, any resolution, any number of objects) and smoke tests. A video is
fully determined by ``(height, width, n_objects, seed)``: frame ``t`` is computed on its own in
constant time, so frames are produced lazily and a video of any length never has to be held in
memory.

Each object is an ellipse or a rectangle with its own striped texture (which moves with it). At
frame 0 the objects lie in disjoint cells of a grid, so every one of them is visible in the first
frame's mask (for frames of at least 16×16 pixels); afterwards each one moves in a straight line
at constant speed and bounces off the frame's edges, and later objects pass in front of earlier
ones. Object ids are ``1..n_objects`` in drawing order (0 is the background).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image
from tqdm.std import tqdm

logger = logging.getLogger(__name__)

MAX_OBJECTS = 255  # ids are stored as uint8


@dataclass(frozen=True)
class _Sprite:
    shape: np.ndarray  # h×w bool
    texture: np.ndarray  # h×w×3 uint8
    y0: float
    x0: float
    vy: float  # pixels per frame
    vx: float


def _bounce(position: float, span: int) -> int:
    """Reflect ``position`` into ``[0, span]`` (a triangle wave of period ``2·span``)."""
    if span <= 0:
        return 0
    p = position % (2 * span)
    return int(round(p if p <= span else 2 * span - p))


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth colour blobs, a faint diagonal grating and fine grain: texture for the keys."""
    coarse = rng.integers(30, 226, (max(2, height // 40), max(2, width // 40), 3), dtype=np.uint8)
    base = np.asarray(
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.float32
    )
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    grating = 12 * np.sin(2 * math.pi * (x + 0.6 * y) / max(8.0, min(height, width) / 6))
    grain = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    # numpy's stubs type arithmetic on arrays of unknown dtype as Any: state the result's type
    texture: np.ndarray = np.clip(base + grating[..., None] + grain, 0, 255).astype(np.uint8)
    return texture


def _sprite_pixels(
    rng: np.random.Generator, index: int, h: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shape (ellipse for even indices, rectangle for odd ones) and striped texture."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if index % 2 == 0 and min(h, w) >= 3:
        cy, cx = (h - 1) / 2, (w - 1) / 2
        shape = ((y - cy) / (h / 2)) ** 2 + ((x - cx) / (w / 2)) ** 2 <= 1.0
    else:
        shape = np.ones((h, w), dtype=bool)
    colour = rng.integers(60, 256, 3).astype(np.float32)
    colour[rng.integers(0, 3)] *= 0.3  # saturated: one weak channel
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(4, 12)
    stripes = np.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period)
    texture = colour * (0.75 + 0.25 * stripes)[..., None]
    return shape, np.clip(texture, 0, 255).astype(np.uint8)


class SyntheticVideo:
    """A synthetic video: :meth:`frame`, :meth:`ids` and :meth:`render` give frame ``t``.

    Args:
        height, width: frame size in pixels (at least 1 each).
        n_objects: number of objects, 1..255.
        seed: everything (background, shapes, textures, paths) follows from it.
    """

    def __init__(self, height: int, width: int, n_objects: int, seed: int = 0) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"frame size must be positive, got {width}×{height}")
        if not 1 <= n_objects <= MAX_OBJECTS:
            raise ValueError(f"n_objects must be in 1..{MAX_OBJECTS}, got {n_objects}")
        self.height, self.width, self.n_objects, self.seed = height, width, n_objects, seed
        rng = np.random.default_rng(seed)
        self._background = _background(rng, height, width)
        # initial layout: one object per cell of a grid shaped like the frame
        cols = min(n_objects, width, max(1, round(math.sqrt(n_objects * width / height))))
        rows = math.ceil(n_objects / cols)
        speed_scale = math.hypot(height, width)
        self._sprites: list[_Sprite] = []
        for k in range(n_objects):
            r, c = divmod(k, cols)
            top, bottom = r * height // rows, (r + 1) * height // rows
            left, right = c * width // cols, (c + 1) * width // cols
            cell_h, cell_w = max(1, bottom - top), max(1, right - left)
            h = max(1, min(round(cell_h * rng.uniform(0.5, 0.8)), round(height * 0.35)))
            w = max(1, min(round(cell_w * rng.uniform(0.5, 0.8)), round(width * 0.35)))
            shape, texture = _sprite_pixels(rng, k, h, w)
            y0 = top + int(rng.integers(0, cell_h - h + 1))
            x0 = left + int(rng.integers(0, cell_w - w + 1))
            angle = rng.uniform(0, 2 * math.pi)
            speed = speed_scale * rng.uniform(0.002, 0.008)  # of the diagonal, per frame
            self._sprites.append(
                _Sprite(shape, texture, y0, x0, speed * math.sin(angle), speed * math.cos(angle))
            )

    def _position(self, sprite: _Sprite, t: int) -> tuple[int, int]:
        h, w = sprite.shape.shape
        return (
            _bounce(sprite.y0 + sprite.vy * t, self.height - h),
            _bounce(sprite.x0 + sprite.vx * t, self.width - w),
        )

    def render(self, t: int, rgb: bool = True, ids: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t``: (RGB uint8 H×W×3, uint8 H×W object ids); skipped parts are empty."""
        image = self._background.copy() if rgb else np.empty((0, 0, 3), np.uint8)
        id_map = np.zeros((self.height, self.width) if ids else (0, 0), np.uint8)
        for k, sprite in enumerate(self._sprites):
            y, x = self._position(sprite, t)
            h, w = sprite.shape.shape
            if rgb:
                region = image[y : y + h, x : x + w]
                region[sprite.shape] = sprite.texture[sprite.shape]
            if ids:
                id_map[y : y + h, x : x + w][sprite.shape] = k + 1
        return image, id_map

    def frame(self, t: int) -> np.ndarray:
        """RGB uint8 H×W×3 frame ``t``."""
        return self.render(t, ids=False)[0]

    def ids(self, t: int) -> np.ndarray:
        """uint8 H×W object ids of frame ``t`` (the ground truth; 0 = background)."""
        return self.render(t, rgb=False)[1]


def synthetic_frames(
    n_frames: int, height: int, width: int, n_objects: int, seed: int = 0
) -> Iterator[np.ndarray]:
    """Yield the ``n_frames`` RGB uint8 H×W×3 frames of a synthetic video, one at a time."""
    video = SyntheticVideo(height, width, n_objects, seed)
    for t in range(n_frames):
        yield video.frame(t)


def synthetic_first_mask(height: int, width: int, n_objects: int, seed: int = 0) -> np.ndarray:
    """uint8 H×W ids of frame 0 of the same video: every object ``1..n_objects`` is present."""
    return SyntheticVideo(height, width, n_objects, seed).ids(0)


def write_synthetic_video(
    path: str | Path,
    n_frames: int,
    height: int,
    width: int,
    n_objects: int,
    seed: int = 0,
    *,
    fps: int = 24,
    crf: int = 18,
    progress: bool = False,
) -> Path:
    """Encode a synthetic video to ``path`` (H.264, yuv420p) frame by frame; return ``path``.

    Height and width must be even (4:2:0 chroma subsampling). ``progress`` shows a bar
    (when the output is a terminal).
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    if height % 2 or width % 2:
        raise ValueError(f"H.264 (yuv420p) needs an even frame size, got {width}×{height}")
    video = SyntheticVideo(height, width, n_objects, seed)
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(
            "libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        bar = tqdm(
            range(n_frames),
            unit="frame",
            desc="writing synthetic video",
            disable=True if not progress else None,  # None: off when not a terminal
            leave=False,
            dynamic_ncols=True,
        )
        for t in bar:
            frame = av.VideoFrame.from_ndarray(video.frame(t), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    logger.debug("wrote synthetic video %s: %d frames %dx%d", path, n_frames, width, height)
    return path


__all__ = [
    "MAX_OBJECTS",
    "SyntheticVideo",
    "synthetic_first_mask",
    "synthetic_frames",
    "write_synthetic_video",
]
