"""Training-time augmentation of clips: crop, flip, affine and elastic warps, then colour
jitter (:mod:`xmem.train.colour`); pasting objects from other clips is :mod:`xmem.train.paste`.

A clip enters as RGB ``uint8`` T×H×W×3 frames and ``uint8`` T×H×W object-id maps (0 is
background, objects are ``1..n``; one id per pixel, so objects never overlap) and leaves as
float T×3×S×S images in [0, 1] and ``int64`` T×S×S id maps, S being the crop size.

Geometry is done in one resampling per frame: the resize (shorter side = ``crop`` × a random
factor), the clip's crop window, its horizontal flip, the frame's own affine jitter and the
optional elastic field are composed into a sampling grid, and ``grid_sample`` reads the output
straight from the source frame (bilinear for images, after an antialiased pre-resize when the
clip is shrunk; nearest for id maps). Images and masks go through the same grid, so they stay
aligned. Every random draw comes from the ``numpy.random.Generator`` passed in: the global
RNGs of numpy and torch are never used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from xmem.inference.image import IMAGENET_MEAN, IMAGENET_STD
from xmem.train.colour import ColourJitter, colour_jitter

__all__ = ["AffineJitter", "AugmentConfig", "augment_clip", "make_item", "min_visible_pixels"]


@dataclass(frozen=True)
class AffineJitter:
    """Ranges of a random affine warp about the crop's centre (each value drawn uniformly).

    Attributes:
        degrees: rotation in ``[-degrees, degrees]``.
        scale: zoom factor range (> 1 magnifies).
        shear: shear angles (x and y, independently) in ``[-shear, shear]`` degrees.
        translate: shift in ``[-translate, translate]`` × the crop side, per axis.
    """

    degrees: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    shear: float = 0.0
    translate: float = 0.0


@dataclass(frozen=True)
class AugmentConfig:
    """How a clip is augmented (see :meth:`video`, :meth:`static` and :meth:`plain`).

    Attributes:
        crop: side of the square output, in pixels.
        resize: range of (shorter side after the resize) / ``crop``; values ≥ 1 keep the crop
            inside the frame.
        flip_prob: probability of a horizontal flip of the whole clip.
        frame_affine: affine jitter drawn independently for every frame.
        elastic: standard deviation of a smooth random displacement field, as a fraction of
            the crop side (0: none), drawn independently for every frame.
        clip_colour: colour jitter drawn once per clip …
        frame_colour: … and combined with one drawn for every frame.
        grayscale_prob: probability that the whole clip is made grey.
        crop_tries: crop windows tried to find one that keeps the first frame's objects.
    """

    crop: int = 384
    resize: tuple[float, float] = (1.0, 1.0)
    flip_prob: float = 0.0
    frame_affine: AffineJitter = field(default_factory=AffineJitter)
    elastic: float = 0.0
    clip_colour: ColourJitter = field(default_factory=ColourJitter)
    frame_colour: ColourJitter = field(default_factory=ColourJitter)
    grayscale_prob: float = 0.0
    crop_tries: int = 5

    def __post_init__(self) -> None:
        if self.crop < 1:
            raise ValueError(f"crop must be at least 1 pixel, got {self.crop}")
        if not 0 < self.resize[0] <= self.resize[1]:
            raise ValueError(
                f"resize must be a range (low, high) of positive numbers, got {self.resize}"
            )

    @classmethod
    def plain(cls, crop: int) -> AugmentConfig:
        """No augmentation: the shorter side is resized to ``crop`` and a window is cropped
        (still chosen at random among those that keep the first frame's objects)."""
        return cls(crop=crop)

    @classmethod
    def video(cls, crop: int) -> AugmentConfig:
        """The video stages: mild per-frame jitter on top of a clip-wide crop and flip."""
        return cls(
            crop=crop,
            resize=(1.0, 1.6),
            flip_prob=0.5,
            frame_affine=AffineJitter(degrees=8.0, scale=(0.95, 1.05), shear=5.0, translate=0.02),
            clip_colour=ColourJitter(brightness=0.2, contrast=0.15, saturation=0.2, hue=0.03),
            frame_colour=ColourJitter(brightness=0.03, contrast=0.03, saturation=0.03, hue=0.005),
            grayscale_prob=0.05,
        )

    @classmethod
    def static(cls, crop: int) -> AugmentConfig:
        """The static-image stage: strong, independent deformations of every frame."""
        return cls(
            crop=crop,
            resize=(1.0, 1.6),
            flip_prob=0.5,
            frame_affine=AffineJitter(degrees=20.0, scale=(0.85, 1.15), shear=10.0, translate=0.08),
            elastic=0.015,
            clip_colour=ColourJitter(brightness=0.2, contrast=0.15, saturation=0.2, hue=0.03),
            frame_colour=ColourJitter(brightness=0.05, contrast=0.05, saturation=0.05, hue=0.01),
            grayscale_prob=0.05,
        )


def make_item(
    images: Tensor, labels: Tensor, n_objects: int, max_objects: int, min_pixels: int = 1
) -> dict[str, Tensor] | None:
    """The training item of an augmented clip, or None when no object is visible in frame 0.

    Objects with fewer than ``min_pixels`` pixels in the first frame are not given, so they
    become background in every frame; the others fill the first slots in id order.

    Returns:
        ``rgb`` float32 T×3×S×S (ImageNet-normalised), ``masks`` float32 T×K×S×S in {0, 1}
        and ``valid`` bool K, K = ``max_objects``.
    """
    frames, height, width = labels.shape
    counts = torch.bincount(labels[0].flatten(), minlength=n_objects + 1)
    visible = [k for k in range(1, n_objects + 1) if counts[k] >= min_pixels][:max_objects]
    if not visible:
        return None
    masks = torch.zeros(frames, max_objects, height, width)
    for slot, k in enumerate(visible):
        masks[:, slot] = labels == k
    valid = torch.zeros(max_objects, dtype=torch.bool)
    valid[: len(visible)] = True
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return {"rgb": ((images - mean) / std).float(), "masks": masks, "valid": valid}


def min_visible_pixels(crop: int) -> int:
    """Pixels an object needs in the first frame of a ``crop``×``crop`` clip to count as
    visible (0.1% of the crop, at least 1: 147 pixels at 384)."""
    return max(1, round(1e-3 * crop * crop))


# --------------------------------------------------------------------------------------------
# geometry


def _affine(jitter: AffineJitter, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random 2×2 matrix (rotation · shear · zoom) and a translation (fraction of the crop)."""
    angle = math.radians(rng.uniform(-jitter.degrees, jitter.degrees))
    zoom = rng.uniform(*jitter.scale)
    shx, shy = (math.radians(a) for a in rng.uniform(-jitter.shear, jitter.shear, 2))
    shift = rng.uniform(-jitter.translate, jitter.translate, 2)
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s], [s, c]])
    shear = np.array([[1.0, math.tan(shx)], [math.tan(shy), 1.0]])
    # the matrix maps output offsets to input offsets, so zooming in shrinks them
    return rotation @ shear / zoom, shift


def _integral(mask: np.ndarray) -> np.ndarray:
    out = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    out[1:, 1:] = mask.cumsum(0).cumsum(1)
    return out


def _window(low: float, high: float, crop: int, limit: float, rng: np.random.Generator) -> float:
    """Start of a random window of side ``crop`` in ``[0, limit + crop]`` that contains the
    span ``[low, high]`` (or lies inside it, when the span is longer)."""
    a, b = sorted((high - crop, low))
    a, b = min(max(a, 0.0), limit), min(max(b, 0.0), limit)
    return rng.uniform(a, b) if b > a else a


def _choose_crop(
    ids0: np.ndarray, scale: float, crop: int, tries: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Top-left corner (in resized pixels) of a crop window that keeps the objects of the first
    frame, each needing half its area or 1% of the crop: of up to ``tries`` windows (the first
    half at random, the others around the objects' joint box), the first that keeps them all,
    else the one that keeps the most."""
    h, w = ids0.shape
    max_top, max_left = max(0.0, h * scale - crop), max(0.0, w * scale - crop)
    objects = [k for k in np.unique(ids0).tolist() if k != 0]
    if not objects or (max_top < 1 and max_left < 1):
        return rng.uniform(0, max_top), rng.uniform(0, max_left)
    tables = [_integral(ids0 == k) for k in objects]
    area = np.array([t[-1, -1] for t in tables], np.float64) * scale * scale
    need = np.maximum(np.minimum(0.5 * area, 0.01 * crop * crop), min_visible_pixels(crop))
    rows = np.flatnonzero((ids0 > 0).any(1))
    cols = np.flatnonzero((ids0 > 0).any(0))
    best: tuple[tuple[int, float], tuple[float, float]] | None = None
    tries = max(1, tries)
    for i in range(tries):
        if i < (tries + 1) // 2:
            top, left = rng.uniform(0, max_top), rng.uniform(0, max_left)
        else:
            top = _window(rows[0] * scale, (rows[-1] + 1) * scale, crop, max_top, rng)
            left = _window(cols[0] * scale, (cols[-1] + 1) * scale, crop, max_left, rng)
        y0, y1 = int(top / scale), min(h, math.ceil((top + crop) / scale))
        x0, x1 = int(left / scale), min(w, math.ceil((left + crop) / scale))
        kept = np.array([t[y1, x1] - t[y0, x1] - t[y1, x0] + t[y0, x0] for t in tables])
        kept = kept * scale * scale
        ok = kept >= need
        if ok.all():
            return top, left
        score = (int(ok.sum()), float((kept / need).min()))
        if best is None or score > best[0]:
            best = (score, (top, left))
    assert best is not None
    return best[1]


def _elastic(frames: int, crop: int, amount: float, rng: np.random.Generator) -> Tensor:
    """Smooth random displacements, frames×crop×crop×2, in output pixels (std ``amount``·crop):
    Gaussian noise on a 4×4 lattice, upsampled bicubically."""
    coarse = torch.from_numpy(rng.standard_normal((frames, 2, 4, 4)).astype(np.float32))
    smooth = F.interpolate(coarse, size=(crop, crop), mode="bicubic", align_corners=True)
    return smooth.permute(0, 2, 3, 1) * (amount * crop)


def _sampling_grid(
    shape: tuple[int, int, int], config: AugmentConfig, ids0: np.ndarray, rng: np.random.Generator
) -> tuple[Tensor, float]:
    """The frames×S×S×2 grid (``grid_sample`` coordinates of the source frames) and the resize
    factor."""
    frames, h, w = shape
    crop = config.crop
    scale = crop / min(h, w) * rng.uniform(*config.resize)
    top, left = _choose_crop(ids0, scale, crop, config.crop_tries, rng)
    flip = rng.random() < config.flip_prob
    sh, sw = h * scale, w * scale  # resized frame, in pixels
    half = crop / 2
    thetas = np.zeros((frames, 2, 3), np.float64)
    for t in range(frames):
        matrix, shift = _affine(config.frame_affine, rng)
        if flip:
            matrix = matrix @ np.diag([-1.0, 1.0])
        cx, cy = left + half + shift[0] * crop, top + half + shift[1] * crop
        # output offset d (pixels from the crop centre, = u·S/2 for u in [-1, 1]) maps to the
        # resized-frame point c + M·d, which is 2·p/size − 1 in grid_sample coordinates
        thetas[t, 0] = [matrix[0, 0] * crop / sw, matrix[0, 1] * crop / sw, 2 * cx / sw - 1]
        thetas[t, 1] = [matrix[1, 0] * crop / sh, matrix[1, 1] * crop / sh, 2 * cy / sh - 1]
    grid = F.affine_grid(
        torch.from_numpy(thetas).float(), [frames, 1, crop, crop], align_corners=False
    )
    if config.elastic > 0:
        shift_px = _elastic(frames, crop, config.elastic, rng)
        grid = grid + shift_px * torch.tensor([2 / sw, 2 / sh])
    return grid, scale


def augment_clip(
    rgb: np.ndarray, ids: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> tuple[Tensor, Tensor]:
    """Crop, flip, warp and colour-jitter a clip.

    Args:
        rgb: ``uint8`` T×H×W×3 frames.
        ids: ``uint8`` T×H×W object ids (0 = background).
        config: the augmentation.
        rng: the only source of randomness.

    Returns:
        float32 T×3×S×S images in [0, 1] and int64 T×S×S ids (0 where the warp leaves the
        frame), S = ``config.crop``.
    """
    frames, h, w = ids.shape
    if rgb.shape != (frames, h, w, 3):
        raise ValueError(f"frames {rgb.shape} do not match the id maps {ids.shape}")
    grid, scale = _sampling_grid((frames, h, w), config, ids[0], rng)

    # read only the part of the frames that the grid touches (plus a margin for bilinear)
    px = (grid[..., 0] + 1) * (w / 2)
    py = (grid[..., 1] + 1) * (h / 2)
    margin = math.ceil(2 / min(scale, 1.0)) + 1
    x0 = min(max(0, math.floor(px.min().item()) - margin), w - 1)
    x1 = max(min(w, math.ceil(px.max().item()) + margin), x0 + 1)
    y0 = min(max(0, math.floor(py.min().item()) - margin), h - 1)
    y1 = max(min(h, math.ceil(py.max().item()) + margin), y0 + 1)
    grid = torch.stack([(px - x0) * (2 / (x1 - x0)) - 1, (py - y0) * (2 / (y1 - y0)) - 1], dim=-1)

    image = torch.from_numpy(np.ascontiguousarray(rgb[:, y0:y1, x0:x1])).permute(0, 3, 1, 2)
    image = image.float().div_(255)
    if scale < 1:  # shrinking: antialias first, so that bilinear sampling does not alias
        size = (max(1, round((y1 - y0) * scale)), max(1, round((x1 - x0) * scale)))
        image = F.interpolate(
            image, size=size, mode="bilinear", antialias=True, align_corners=False
        )
    image = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    labels = torch.from_numpy(np.ascontiguousarray(ids[:, y0:y1, x0:x1])).float()[:, None]
    labels = F.grid_sample(labels, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    image = colour_jitter(
        image, config.clip_colour, config.frame_colour, config.grayscale_prob, rng
    )
    return image.clamp_(0, 1), labels[:, 0].round().long()
