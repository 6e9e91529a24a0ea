"""Pasting an object cut from another clip onto a training clip (more objects per clip, and
occlusions), drawn from the ``numpy.random.Generator`` passed in."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


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
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    cut_rgb, cut_mask = donor_rgb[:, box[0], box[1]], donor_mask[:, box[0], box[1]]
    patch_rgb, patch_mask = _scaled_patch(cut_rgb, cut_mask, (h, w), size, rng)
    start, end = _choose_path(ids[0], patch_mask[0], new_id, rng, drift=drift, tries=tries)
    _draw_patch(rgb, ids, patch_rgb, patch_mask, start, end, new_id)
    return True


def _scaled_patch(
    cut_rgb: np.ndarray,
    cut_mask: np.ndarray,
    frame: tuple[int, int],
    size: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The donor's box (T×ph×pw×3 ``uint8``, T×ph×pw ``bool``) rescaled to a random size."""
    h, w = frame
    ph, pw = cut_mask.shape[1:]
    factor = min(rng.uniform(*size) * min(h, w) / max(ph, pw), h / ph, w / pw)
    nh, nw = min(h, max(1, round(ph * factor))), min(w, max(1, round(pw * factor)))
    patch = torch.from_numpy(np.ascontiguousarray(cut_rgb)).permute(0, 3, 1, 2).float()
    patch = F.interpolate(patch, size=(nh, nw), mode="bilinear", antialias=factor < 1)
    patch_rgb = patch.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    cut = torch.from_numpy(np.ascontiguousarray(cut_mask))
    cut = F.interpolate(cut[:, None].float(), size=(nh, nw), mode="nearest")
    return patch_rgb, cut[:, 0].numpy() > 0.5


def _choose_path(
    first_ids: np.ndarray,
    first_mask: np.ndarray,
    new_id: int,
    rng: np.random.Generator,
    *,
    drift: float,
    tries: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners (y, x) of the patch in the first and last frames: the first of
    ``tries`` random paths that leaves every earlier object half of its first-frame area."""
    h, w = first_ids.shape
    nh, nw = first_mask.shape
    present = np.bincount(first_ids.ravel(), minlength=new_id)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(max(1, tries)):
        start = np.array([rng.integers(0, h - nh + 1), rng.integers(0, w - nw + 1)], np.float64)
        end = start + rng.uniform(-drift, drift, 2) * np.array([h, w])
        end = np.clip(end, 0, [h - nh, w - nw])
        y, x = int(start[0]), int(start[1])
        covered = np.bincount(first_ids[y : y + nh, x : x + nw][first_mask], minlength=present.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            left_over = np.where(present[1:] > 0, 1 - covered[1:] / present[1:], 1.0)
        worst = float(left_over.min()) if left_over.size else 1.0
        if best is None or worst > best[0]:
            best = (worst, start, end)
        if worst >= 0.5:
            break
    assert best is not None
    return best[1], best[2]


def _draw_patch(
    rgb: np.ndarray,
    ids: np.ndarray,
    patch_rgb: np.ndarray,
    patch_mask: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    new_id: int,
) -> None:
    """Draw the patch over the clip in place, moving linearly from ``start`` to ``end``."""
    frames = ids.shape[0]
    nh, nw = patch_mask.shape[1:]
    for t in range(frames):
        a = t / (frames - 1) if frames > 1 else 0.0
        y, x = (int(round(v)) for v in start + a * (end - start))
        region = (slice(y, y + nh), slice(x, x + nw))
        m = patch_mask[t]
        rgb[t][region][m] = patch_rgb[t][m]
        ids[t][region][m] = new_id
