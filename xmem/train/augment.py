"""Training-time augmentation of clips: crop, flip, affine and elastic warps, colour jitter,
and pasting objects from other clips.

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

__all__ = [
    "AffineJitter",
    "AugmentConfig",
    "ColourJitter",
    "augment_clip",
    "colour_jitter",
    "make_item",
    "min_visible_pixels",
    "paste_object",
]

# RGB → YIQ: Y is luma, (I, Q) the chroma plane that hue rotations turn and saturation scales.
_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float64
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)
_LUMA = (0.299, 0.587, 0.114)


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
class ColourJitter:
    """Ranges of random colour changes: brightness, contrast and saturation factors are drawn
    in ``[1 - x, 1 + x]``; ``hue`` turns the chroma plane by up to ``hue`` of a full turn."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0


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


# --------------------------------------------------------------------------------------------
# colour


def _factors(jitter: ColourJitter, n: int, rng: np.random.Generator) -> np.ndarray:
    """n×4: brightness, contrast, saturation factors and hue angle (radians)."""
    return np.stack(
        [
            1 + rng.uniform(-jitter.brightness, jitter.brightness, n),
            1 + rng.uniform(-jitter.contrast, jitter.contrast, n),
            1 + rng.uniform(-jitter.saturation, jitter.saturation, n),
            2 * math.pi * rng.uniform(-jitter.hue, jitter.hue, n),
        ],
        axis=1,
    )


def colour_jitter(
    images: Tensor,
    clip: ColourJitter,
    frame: ColourJitter,
    grayscale_prob: float,
    rng: np.random.Generator,
) -> Tensor:
    """Random brightness, contrast, saturation and hue of T×3×H×W images in [0, 1]: one draw
    for the clip combined with one per frame (products of factors, sums of hue angles)."""
    frames = images.shape[0]
    per_clip, per_frame = _factors(clip, 1, rng), _factors(frame, frames, rng)
    grey = rng.random() < grayscale_prob
    brightness = per_clip[0, 0] * per_frame[:, 0]
    contrast = per_clip[0, 1] * per_frame[:, 1]
    saturation = 0.0 * per_frame[:, 2] if grey else per_clip[0, 2] * per_frame[:, 2]
    hue = per_clip[0, 3] + per_frame[:, 3]
    if (
        np.all(brightness == 1)
        and np.all(contrast == 1)
        and np.all(saturation == 1)
        and np.all(hue == 0)
    ):
        return images
    # saturation and hue act on the YIQ chroma plane: one 3×3 matrix per frame, brightness too
    chroma = np.zeros((frames, 3, 3))
    chroma[:, 0, 0] = 1
    chroma[:, 1, 1] = chroma[:, 2, 2] = saturation * np.cos(hue)
    chroma[:, 1, 2] = -saturation * np.sin(hue)
    chroma[:, 2, 1] = saturation * np.sin(hue)
    matrices = brightness[:, None, None] * (_YIQ_TO_RGB @ chroma @ _RGB_TO_YIQ)
    out = torch.einsum("tij,tjhw->tihw", torch.from_numpy(matrices).float(), images)
    luma = torch.tensor(_LUMA).view(1, 3, 1, 1)
    mean = (out * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    factor = torch.from_numpy(contrast).float().view(-1, 1, 1, 1)
    return ((out - mean) * factor + mean).clamp_(0, 1)


# --------------------------------------------------------------------------------------------
# pasting


def paste_object(
    rgb: np.ndarray,
    ids: np.ndarray,
    donor_rgb: np.ndarray,
    donor_mask: np.ndarray,
    new_id: int,
    rng: np.random.Generator,
    *,
    size: tuple[float, float] = (0.25, 0.7),
    drift: float = 0.15,
    tries: int = 4,
) -> bool:
    """Paste an object cut from another clip onto a clip, in place, as object ``new_id``.

    The object's box over all donor frames is cut out of each donor frame (so the object keeps
    its own motion and deformation), rescaled so that its longer side is a random fraction
    ``size`` of the clip's shorter side (never larger than the frame), and placed at a position
    that moves linearly over the clip by up to ``drift`` of the frame. It covers what was
    there: earlier objects lose those pixels. Of ``tries`` random placements, the first that
    leaves every earlier object at least half of its first-frame area is taken (else the one
    that leaves them the most).

    Args:
        rgb, ids: the clip, ``uint8`` T×H×W×3 and T×H×W; modified in place.
        donor_rgb, donor_mask: the donor clip, T×h×w×3 ``uint8`` and T×h×w ``bool``.
        new_id: the pasted object's id.

    Returns:
        False (and nothing is changed) when the donor mask is empty.
    """
    frames, h, w = ids.shape
    if donor_mask.shape[0] != frames or donor_rgb.shape[:3] != donor_mask.shape:
        raise ValueError(f"donor {donor_rgb.shape}/{donor_mask.shape} does not match {ids.shape}")
    rows = np.flatnonzero(donor_mask.any(axis=(0, 2)))
    cols = np.flatnonzero(donor_mask.any(axis=(0, 1)))
    if rows.size == 0:
        return False
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    ph, pw = bottom - top, right - left
    factor = min(rng.uniform(*size) * min(h, w) / max(ph, pw), h / ph, w / pw)
    nh, nw = min(h, max(1, round(ph * factor))), min(w, max(1, round(pw * factor)))

    patch = torch.from_numpy(np.ascontiguousarray(donor_rgb[:, top:bottom, left:right]))
    patch = patch.permute(0, 3, 1, 2).float()
    patch = F.interpolate(patch, size=(nh, nw), mode="bilinear", antialias=factor < 1)
    patch_rgb = patch.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    cut = torch.from_numpy(np.ascontiguousarray(donor_mask[:, top:bottom, left:right]))
    cut = F.interpolate(cut[:, None].float(), size=(nh, nw), mode="nearest")
    patch_mask = cut[:, 0].numpy() > 0.5

    present = np.bincount(ids[0].ravel(), minlength=new_id)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(max(1, tries)):
        start = np.array([rng.integers(0, h - nh + 1), rng.integers(0, w - nw + 1)], np.float64)
        end = start + rng.uniform(-drift, drift, 2) * np.array([h, w])
        end = np.clip(end, 0, [h - nh, w - nw])
        covered = np.bincount(
            ids[0, int(start[0]) : int(start[0]) + nh, int(start[1]) : int(start[1]) + nw][
                patch_mask[0]
            ],
            minlength=present.size,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            left_over = np.where(present[1:] > 0, 1 - covered[1:] / present[1:], 1.0)
        worst = float(left_over.min()) if left_over.size else 1.0
        if best is None or worst > best[0]:
            best = (worst, start, end)
        if worst >= 0.5:
            break
    assert best is not None
    _, start, end = best
    for t in range(frames):
        a = t / (frames - 1) if frames > 1 else 0.0
        y, x = (int(round(v)) for v in start + a * (end - start))
        region = (slice(y, y + nh), slice(x, x + nw))
        m = patch_mask[t]
        rgb[t][region][m] = patch_rgb[t][m]
        ids[t][region][m] = new_id
    return True


# --------------------------------------------------------------------------------------------
# the item


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
