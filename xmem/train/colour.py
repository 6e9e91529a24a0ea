"""Colour jitter of training clips: brightness, contrast, saturation and hue, per clip and per
frame, drawn from the ``numpy.random.Generator`` passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

# RGB → YIQ: Y is luma, (I, Q) the chroma plane that hue rotations turn and saturation scales.
_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float64
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ColourJitter:
    """Ranges of random colour changes: brightness, contrast and saturation factors are drawn
    in ``[1 - x, 1 + x]``; ``hue`` turns the chroma plane by up to ``hue`` of a full turn."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0


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
