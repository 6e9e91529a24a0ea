"""Image tensors in and out of the network: normalisation, padding, resizing."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Pad = tuple[int, int, int, int]  # left, right, top, bottom


def to_tensor(rgb: np.ndarray, device: str | torch.device = "cpu") -> Tensor:
    """RGB uint8 H×W×3 → normalised float32 3×H×W."""
    return normalise(pixels_tensor(rgb).to(device))


def pixels_tensor(rgb: np.ndarray) -> Tensor:
    """RGB uint8 H×W×3 array → CPU uint8 tensor sharing its memory (copied if read-only)."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8, copy=not rgb.flags.writeable))


def normalise(pixels: Tensor) -> Tensor:
    """RGB uint8 H×W×3 tensor → normalised float32 3×H×W on the same device."""
    image = pixels.permute(2, 0, 1).float() / 255
    mean = torch.tensor(IMAGENET_MEAN, device=pixels.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=pixels.device)[:, None, None]
    return (image - mean) / std


def pad_to_multiple(x: Tensor, d: int = 16) -> tuple[Tensor, Pad]:
    """Zero-pad the last two dims to multiples of ``d``: ``gap//2`` before, the rest after."""
    h, w = x.shape[-2:]
    gap_h, gap_w = (-h) % d, (-w) % d
    pad = (gap_w // 2, gap_w - gap_w // 2, gap_h // 2, gap_h - gap_h // 2)
    return F.pad(x, pad), pad


def unpad(x: Tensor, pad: Pad) -> Tensor:
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


def processing_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the shorter side ``size`` (aspect kept); ``size < 0`` keeps the original."""
    if size < 0 or min(height, width) == size:
        return height, width
    if height <= width:
        return size, int(width * size / height)
    return int(height * size / width), size


def resize_image(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an RGB uint8 image (PIL, as the original evaluation)."""
    if rgb.shape[:2] == hw:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((hw[1], hw[0]), Image.Resampling.BILINEAR))


def resize_mask(mask: Tensor, hw: tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of an integer mask H×W or per-object masks N×H×W."""
    if tuple(mask.shape[-2:]) == hw:
        return mask
    x = mask.float()[None] if mask.ndim == 3 else mask.float()[None, None]
    out = F.interpolate(x, size=hw, mode="nearest")
    return out[0].to(mask.dtype) if mask.ndim == 3 else out[0, 0].to(mask.dtype)


def upsample_prob(prob: Tensor, hw: tuple[int, int]) -> Tensor:
    """Bilinear upsampling of probabilities C×h×w to ``hw`` (align_corners False)."""
    if tuple(prob.shape[-2:]) == hw:
        return prob
    return F.interpolate(prob[None], size=hw, mode="bilinear", align_corners=False)[0]
