"""Hard cases added to augmented training clips: the failures seen on unseen video, made on
purpose (issue 23).

Each kind is drawn on a clip after augmentation (float T×3×S×S images in [0, 1] and ``int64``
T×S×S id maps, objects ``1..n``), from the ``numpy.random.Generator`` passed in:

- ``lookalike``: a copy of a given object (mirrored, rescaled, sometimes recoloured, sometimes
  semi-transparent like a reflection) that is *background*; it is in the first frame or comes
  in later, and it moves across the frame, often towards the target;
- ``crowd``: two to five such copies crossing the target;
- ``smoke``: drifting smoke or spray (smooth noise, light or dark) thickest over a target, and
  sometimes a blur of the whole clip: the target stays the target;
- ``thin``: a new object made of thin curves (1–3 pixels wide), moving and bending;
- ``tiny``: a new object, a copy of a given one shrunk to 0.15–1 % of the frame.

Copies are cut from the clip's own frames, so a look-alike is the target's own appearance,
the hardest distractor there is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["HARD_CASES", "HardCase", "add_hard_case"]

HARD_CASES = ("lookalike", "crowd", "smoke", "thin", "tiny")
_WEIGHTS = np.array([0.3, 0.2, 0.2, 0.15, 0.15])


@dataclass(frozen=True)
class HardCase:
    """A clip with a hard case drawn on it: images, ids, object count and the kind drawn."""

    images: Tensor
    labels: Tensor
    n_objects: int
    kind: str


def add_hard_case(
    images: Tensor,
    labels: Tensor,
    n_objects: int,
    max_objects: int,
    rng: np.random.Generator,
    kind: str | None = None,
) -> HardCase:
    """Draw one hard case (``kind``, or one drawn at random) on a copy of the clip.

    Args:
        images: T×3×S×S float in [0, 1]; labels: T×S×S ``int64`` ids, objects ``1..n_objects``
            (given in frame 0).
        max_objects: object slots; the kinds that add an object (``thin``, ``tiny``) fall back
            to ``lookalike`` when none is free.
    """
    if kind is None:
        kind = str(rng.choice(HARD_CASES, p=_WEIGHTS / _WEIGHTS.sum()))
    if kind not in HARD_CASES:
        raise ValueError(f"unknown hard case {kind!r}; choose from {', '.join(HARD_CASES)}")
    images, labels = images.clone(), labels.clone()
    present = [k for k in range(1, n_objects + 1) if bool((labels[0] == k).any())]
    if kind in ("thin", "tiny") and n_objects >= max_objects:
        kind = "lookalike"
    if kind in ("lookalike", "crowd", "tiny") and not present:
        kind = "smoke"
    if kind == "lookalike":
        _paste_copy(images, labels, int(rng.choice(present)), rng, new_id=0)
    elif kind == "crowd":
        for _ in range(int(rng.integers(2, 6))):
            _paste_copy(images, labels, int(rng.choice(present)), rng, new_id=0, crossing=0.8)
    elif kind == "smoke":
        _smoke(images, labels, present, rng)
    elif kind == "thin":
        _thin(images, labels, n_objects + 1, rng)
        n_objects += 1
    else:
        _paste_copy(images, labels, int(rng.choice(present)), rng, new_id=n_objects + 1)
        n_objects += 1
    return HardCase(images, labels, n_objects, kind)


def _centre(mask: Tensor) -> tuple[float, float] | None:
    """Centre (y, x) of a mask in normalised coordinates [-1, 1], or None when empty."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if ys.numel() == 0:
        return None
    h, w = mask.shape
    return (2 * float(ys.float().mean()) + 1) / h - 1, (2 * float(xs.float().mean()) + 1) / w - 1


@dataclass(frozen=True)
class _CopyPath:
    """How a pasted copy looks and moves: drawn once per copy by :func:`_draw_copy_path`."""

    scale: float
    alpha: float
    start: int  # first frame it is in
    front: bool  # in front of the objects (else behind them)
    mirror: float  # -1 mirrored in x, else 1
    begin: np.ndarray  # centre (y, x) in [-1, 1] at frame ``start``
    end: np.ndarray  # centre at the last frame
    recolour: bool
    permutation: Tensor  # of the colour channels, when recoloured
    gain: Tensor  # 3×1×1 per-channel gain, when recoloured


def _paste_copy(
    images: Tensor,
    labels: Tensor,
    source: int,
    rng: np.random.Generator,
    *,
    new_id: int,
    crossing: float = 0.5,
) -> None:
    """Paste a moving copy of object ``source`` (its appearance frame by frame), in place.

    ``new_id`` 0 makes it a distractor (background); otherwise it is a new, tiny, tracked
    object. A distractor passes in front of the target or behind it, and comes in at frame 0
    or later; with probability ``crossing`` its path ends on the target.
    """
    frames = images.shape[0]
    path = _draw_copy_path(labels, source, rng, new_id=new_id, crossing=crossing)
    for t in range(path.start, frames):
        centre = _centre(labels[t] == source)
        if centre is None:
            continue
        a = (t - path.start) / max(1, frames - 1 - path.start)
        dy, dx = (1 - a) * path.begin + a * path.end
        rgb, cut = _warp_copy(images[t], labels[t] == source, centre, (float(dy), float(dx)), path)
        if path.recolour:
            rgb = (rgb[path.permutation] * path.gain).clamp(0, 1)
        if not path.front:
            cut &= labels[t] == 0
        alpha = path.alpha
        images[t] = torch.where(cut, (1 - alpha) * images[t] + alpha * rgb, images[t])
        if new_id:
            labels[t][cut] = new_id
        elif alpha >= 0.5:
            labels[t][cut] = 0


def _draw_copy_path(
    labels: Tensor, source: int, rng: np.random.Generator, *, new_id: int, crossing: float
) -> _CopyPath:
    """Draw the size, transparency, timing, path and colours of a copy of ``source``."""
    frames, size, _ = labels.shape
    area = float((labels[0] == source).sum()) / size**2
    if new_id:  # tiny: 0.15–1 % of the frame
        scale = math.sqrt(rng.uniform(0.0015, 0.01) / max(area, 1e-6))
        alpha, start, front = 1.0, 0, True
    else:
        scale = rng.uniform(0.7, 1.3)
        alpha = rng.uniform(0.35, 0.7) if rng.random() < 0.3 else 1.0
        start = 0 if rng.random() < 0.5 else int(rng.integers(1, frames)) if frames > 1 else 0
        front = rng.random() < 0.5
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    begin = rng.uniform(-0.8, 0.8, 2)
    last = _centre(labels[-1] == source)
    if last is not None and rng.random() < crossing:
        end = np.array(last) + rng.uniform(-0.15, 0.15, 2)
    else:
        end = rng.uniform(-0.8, 0.8, 2)
    recolour = rng.random() < 0.3
    permutation = torch.from_numpy(rng.permutation(3))
    gain = torch.from_numpy(rng.uniform(0.7, 1.3, 3)).float().view(3, 1, 1)
    return _CopyPath(scale, alpha, start, front, mirror, begin, end, recolour, permutation, gain)


def _warp_copy(
    image: Tensor,
    mask: Tensor,
    centre: tuple[float, float],
    shift: tuple[float, float],
    path: _CopyPath,
) -> tuple[Tensor, Tensor]:
    """The copy's 3×S×S colours and S×S ``bool`` mask, centred at ``shift`` (y, x) in [-1, 1]."""
    size = image.shape[-1]
    scale, mirror, (dy, dx) = path.scale, path.mirror, shift
    # output (x, y) → source: source centre + (out − new centre) / scale, mirrored in x
    theta = torch.tensor(
        [
            [mirror / scale, 0.0, centre[1] - mirror * dx / scale],
            [0.0, 1.0 / scale, centre[0] - dy / scale],
        ],
        dtype=image.dtype,
    )
    grid = F.affine_grid(theta[None], [1, 1, size, size], align_corners=False)
    stack = torch.cat([image, mask.float()[None]])[None]
    warped = F.grid_sample(stack, grid, align_corners=False, padding_mode="zeros")[0]
    return warped[:3], warped[3] > 0.5


def _noise(rng: np.random.Generator, size: int, cells: int, frames: int) -> Tensor:
    """T×S×S smooth noise in [0, 1] that drifts from frame to frame."""
    field = torch.from_numpy(rng.random((1, 1, cells * 2, cells * 2))).float()
    field = F.interpolate(field, size=(size * 2, size * 2), mode="bicubic", align_corners=False)
    step = rng.uniform(-0.5, 0.5, 2) * size / max(1, frames)
    out = []
    for t in range(frames):
        y = int(np.clip(size // 2 + step[0] * t, 0, size))
        x = int(np.clip(size // 2 + step[1] * t, 0, size))
        out.append(field[0, 0, y : y + size, x : x + size])
    return torch.stack(out).clamp(0, 1)


def _smoke(images: Tensor, labels: Tensor, present: list[int], rng: np.random.Generator) -> None:
    """Smoke or spray over the clip, thickest over one target; sometimes blur. In place."""
    frames, _, size, _ = images.shape
    density = _noise(rng, size, int(rng.integers(3, 8)), frames)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    target = int(rng.choice(present)) if present else 0
    spread = rng.uniform(0.3, 0.8)
    for t in range(frames):
        centre = _centre(labels[t] == target) if target else None
        cy, cx = centre if centre is not None else (0.0, 0.0)
        envelope = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * spread**2))
        density[t] *= envelope
    thickness = rng.uniform(0.5, 0.95)
    alpha = (density / density.max().clamp_min(1e-6) * thickness)[:, None]
    shade = rng.uniform(0.75, 1.0) if rng.random() < 0.75 else rng.uniform(0.05, 0.3)
    images.mul_(1 - alpha).add_(alpha * shade)
    if rng.random() < 0.3:
        images.copy_(F.avg_pool2d(images, 5, stride=1, padding=2, count_include_pad=False))


def _thin(images: Tensor, labels: Tensor, new_id: int, rng: np.random.Generator) -> None:
    """A new object of 1–3 curves, 1–3 pixels wide, that moves and bends. In place."""
    frames, _, size, _ = images.shape
    width = rng.uniform(0.5, 1.5)  # half-width in pixels
    colour = torch.from_numpy(rng.uniform(0, 1, 3)).float().view(3, 1, 1)
    curves = int(rng.integers(1, 4))
    ends = rng.uniform(0.1, 0.9, (curves, 3, 2)) * size  # start, control, end points
    motion = rng.uniform(-0.15, 0.15, (curves, 3, 2)) * size
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    s = torch.linspace(0, 1, 17)[:, None]
    for t in range(frames):
        a = t / max(1, frames - 1)
        mask = torch.zeros(size, size, dtype=torch.bool)
        for c in range(curves):
            p = torch.from_numpy(ends[c] + a * motion[c]).float()
            points = (1 - s) ** 2 * p[0] + 2 * s * (1 - s) * p[1] + s**2 * p[2]  # 17×2 (y, x)
            for (y0, x0), (y1, x1) in zip(points[:-1].tolist(), points[1:].tolist(), strict=True):
                mask |= _segment_distance(yy, xx, y0, x0, y1, x1) <= width + 0.5
        images[t] = torch.where(mask, colour, images[t])
        labels[t][mask] = new_id


def _segment_distance(yy: Tensor, xx: Tensor, y0: float, x0: float, y1: float, x1: float) -> Tensor:
    """Distance of every pixel (coordinates ``yy``, ``xx``) to the segment (y0, x0)–(y1, x1)."""
    dy, dx = y1 - y0, x1 - x0
    along = ((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-9)
    along = along.clamp(0, 1)
    return torch.hypot(yy - (y0 + along * dy), xx - (x0 + along * dx))
