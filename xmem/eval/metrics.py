"""DAVIS region (J) and contour (F) accuracy, computed exactly as the official toolkit does.

The reference is the DAVIS 2017 evaluation toolkit (``davis2017/metrics.py`` and
``davis2017/utils.py``, ``db_statistics``); see ``docs/evaluation.md`` for the protocol. Every
function here is pure numpy and reproduces the toolkit's numbers bit for bit (up to float
rounding of the final ratios), with one documented exception in :func:`statistics` (the toolkit's
``uint8`` bin indices wrap around for sequences longer than 256 frames; here they do not).

Conventions:

* Masks are 2-D ``H x W`` arrays; anything non-zero counts as foreground.
* ``void`` marks pixels that are ignored (label 255 in DAVIS annotations).
* Arguments are ordered *ground truth first, prediction second*. For F, precision is the fraction
  of the prediction's boundary pixels that lie near the ground-truth boundary, recall the fraction
  of the ground truth's boundary pixels that lie near the prediction's boundary.

Speed: the contour measure only depends on the pixels around the two masks, so every score is
computed inside the bounding box of ``gt | pred`` (grown by one pixel, which keeps the boundary
map identical to the full-image one); the boundary map and the disk dilation are in
:mod:`xmem.eval.morphology`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from xmem.eval.morphology import as_mask, boundary_map, dilate

__all__ = [
    "Statistics",
    "boundary_radius",
    "f_measure",
    "frame_scores",
    "jaccard",
    "statistics",
]

DEFAULT_BOUND_TH = 0.008
"""Boundary tolerance of the DAVIS toolkit, as a fraction of the image diagonal."""


# --------------------------------------------------------------------------- helpers


def _check_same_shape(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None) -> None:
    """Raise ``ValueError`` naming the shapes when ground truth, prediction or void disagree."""
    if gt.shape != pred.shape:
        raise ValueError(
            f"ground truth and prediction shapes differ: {gt.shape} (ground truth) vs "
            f"{pred.shape} (prediction)"
        )
    if void is not None and void.shape != gt.shape:
        raise ValueError(
            f"void mask shape {void.shape} differs from the ground-truth shape {gt.shape}"
        )


def _window(a: np.ndarray, b: np.ndarray) -> tuple[slice, slice] | None:
    """Bounding box of ``a | b`` grown by one pixel on every side (clipped to the image).

    Returns ``None`` when both masks are empty. Inside this window the boundary map equals the
    full-image one: boundary pixels sit at most one pixel above/left of a foreground pixel, and
    the extra row/column below/right is all background, exactly as in the full image (or is the
    image's own last row/column, where the edge rules are the same).
    """
    union = a | b
    rows = np.flatnonzero(union.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(union[rows[0] : rows[-1] + 1].any(axis=0))
    h, w = union.shape
    y0 = max(int(rows[0]) - 1, 0)
    y1 = min(int(rows[-1]) + 2, h)
    x0 = max(int(cols[0]) - 1, 0)
    x1 = min(int(cols[-1]) + 2, w)
    return slice(y0, y1), slice(x0, x1)


def _jaccard_counts(gt: np.ndarray, pred: np.ndarray, keep: np.ndarray | None) -> float:
    """IoU of two boolean masks over the pixels where ``keep`` is True (all when ``None``)."""
    inter = gt & pred
    union = gt | pred
    if keep is not None:
        inter &= keep
        union &= keep
    n_union = int(np.count_nonzero(union))
    if n_union == 0:
        return 1.0
    return int(np.count_nonzero(inter)) / n_union


def _f_from_masks(gt: np.ndarray, pred: np.ndarray, radius: int) -> float:
    """Contour F of two boolean masks whose void pixels have already been cleared."""
    gt_b = boundary_map(gt)
    pred_b = boundary_map(pred)
    n_gt = int(np.count_nonzero(gt_b))
    n_fg = int(np.count_nonzero(pred_b))
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        fg_match = int(np.count_nonzero(pred_b & dilate(gt_b, radius)))
        gt_match = int(np.count_nonzero(gt_b & dilate(pred_b, radius)))
        precision = fg_match / n_fg
        recall = gt_match / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def _scores(
    gt: np.ndarray,
    pred: np.ndarray,
    void: np.ndarray | None,
    radius: int,
    want_j: bool = True,
    want_f: bool = True,
) -> tuple[float, float]:
    """J and F of two validated boolean masks, computed inside their joint bounding window.

    Pixels outside the window are background in both masks, so they add nothing to J's
    intersection or union nor to either boundary, and void pixels there are irrelevant.
    """
    win = _window(gt, pred)
    if win is None:  # both empty: union 0 -> J = 1; no boundaries -> P = R = 1 -> F = 1
        return 1.0, 1.0
    g = gt[win]
    p = pred[win]
    keep = None if void is None else ~void[win]
    j = _jaccard_counts(g, p, keep) if want_j else math.nan
    f = math.nan
    if want_f:
        if keep is not None:
            g = g & keep
            p = p & keep
        f = _f_from_masks(g, p, radius)
    return j, f


def boundary_radius(height: int, width: int, bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Boundary tolerance in pixels: ``ceil(bound_th * sqrt(H**2 + W**2))``.

    A ``bound_th`` of 1 or more is taken as a pixel count directly (it must then be an
    integer). For DAVIS 480p (480 x 854) the radius is 8.
    """
    if not bound_th > 0:
        raise ValueError(f"bound_th must be positive, got {bound_th!r}")
    if bound_th >= 1:
        if float(bound_th) != int(bound_th):
            raise ValueError(f"a bound_th >= 1 is a pixel radius and must be whole: {bound_th!r}")
        return int(bound_th)
    diagonal = math.sqrt(float(int(height) ** 2 + int(width) ** 2))
    return int(math.ceil(bound_th * diagonal))


# --------------------------------------------------------------------------- per-frame scores


def jaccard(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J of one frame: IoU of the masks over the non-void pixels.

    Args:
        gt: Ground-truth mask, 2-D, non-zero is foreground.
        pred: Predicted mask, same shape.
        void: Optional mask of pixels to ignore, same shape.

    Returns:
        ``|gt & pred| / |gt | pred|`` counted on non-void pixels; 1.0 when the union is empty.
    """
    g = as_mask(gt, "gt")
    p = as_mask(pred, "pred")
    v = None if void is None else as_mask(void, "void")
    _check_same_shape(g, p, v)
    return _scores(g, p, v, 0, want_f=False)[0]


def f_measure(
    gt: np.ndarray,
    pred: np.ndarray,
    void: np.ndarray | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
) -> float:
    """Contour accuracy F of one frame, as the toolkit's ``f_measure``.

    Both masks lose their void pixels, then their :func:`boundary_map` s are compared with a
    tolerance of :func:`boundary_radius` pixels (disk dilation). Precision is the fraction of
    predicted boundary pixels near the ground-truth boundary, recall the fraction of ground-truth
    boundary pixels near the predicted boundary. With no predicted boundary (but a ground-truth
    one) P = 1, R = 0; in the reverse case P = 0, R = 1; with neither, P = R = 1.

    Args:
        gt: Ground-truth mask, 2-D, non-zero is foreground.
        pred: Predicted mask, same shape.
        void: Optional mask of pixels to ignore, same shape.
        bound_th: Tolerance as a fraction of the image diagonal (or pixels when >= 1).

    Returns:
        ``2PR / (P + R)``, or 0.0 when ``P + R == 0``.
    """
    g = as_mask(gt, "gt")
    p = as_mask(pred, "pred")
    v = None if void is None else as_mask(void, "void")
    _check_same_shape(g, p, v)
    radius = boundary_radius(g.shape[0], g.shape[1], bound_th)
    return _scores(g, p, v, radius, want_j=False)[1]


def frame_scores(
    gt_ids: np.ndarray,
    pred_ids: np.ndarray,
    objects: Sequence[int],
    void: np.ndarray | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every listed object in one frame of integer id maps.

    Args:
        gt_ids: Ground-truth id map, ``H x W`` integers, 0 is background.
        pred_ids: Predicted id map, same shape.
        objects: Object ids to score; object ``k``'s masks are ``gt_ids == k`` and
            ``pred_ids == k``.
        void: Optional mask of pixels to ignore, same shape.
        bound_th: Contour tolerance, as in :func:`f_measure`.

    Returns:
        ``(J, F)``, two float64 arrays of length ``len(objects)``.

    Raises:
        ValueError: The id maps (or the void mask) differ in shape, or are not 2-D.
    """
    gt_arr = np.asarray(gt_ids)
    pred_arr = np.asarray(pred_ids)
    v = None if void is None else as_mask(void, "void")
    _check_same_shape(gt_arr, pred_arr, v)
    if gt_arr.ndim != 2:
        raise ValueError(f"id maps must be 2-D H x W arrays, got shape {gt_arr.shape}")
    radius = boundary_radius(gt_arr.shape[0], gt_arr.shape[1], bound_th)
    j_out = np.empty(len(objects), dtype=np.float64)
    f_out = np.empty(len(objects), dtype=np.float64)
    for i, obj in enumerate(objects):
        j_out[i], f_out[i] = _scores(gt_arr == obj, pred_arr == obj, v, radius)
    return j_out, f_out


# --------------------------------------------------------------------------- statistics


class Statistics(NamedTuple):
    """Per-object summary of per-frame scores (the toolkit's ``db_statistics``)."""

    mean: float
    """Mean over frames, ignoring NaN."""
    recall: float
    """Fraction of frames scoring above 0.5 (NaN frames count as below)."""
    decay: float
    """Mean of the first quarter of frames minus mean of the last quarter."""


def statistics(values: np.ndarray | Sequence[float]) -> Statistics:
    """Mean, recall and decay of one object's per-frame scores, as ``db_statistics``.

    ``mean = nanmean(v)``; ``recall = nanmean(v > 0.5)`` (a NaN frame is not above 0.5, so it
    counts as a miss); for the decay, ``ids = round(linspace(1, T, 5) + 1e-10) - 1`` splits the
    frames into four bins ``v[ids[i] : ids[i+1] + 1]`` (neighbouring bins share one frame, as in
    the toolkit) and ``decay = nanmean(bin 0) - nanmean(bin 3)``.

    Deviation from the toolkit: it casts ``ids`` to ``np.uint8``, which wraps around for
    sequences longer than 256 frames and then picks wrong bins; here ``ids`` stay ``int64``, so
    long sequences get the decay the formula means. For ``T <= 256`` the results are identical.

    Args:
        values: 1-D per-frame scores (may contain NaN).

    Returns:
        :class:`Statistics`; every field is NaN when ``values`` is empty (and a field is NaN when
        every value it averages is NaN), without emitting RuntimeWarnings.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"statistics expects a 1-D sequence of per-frame values, got {v.shape}")
    n = v.shape[0]
    if n == 0:
        return Statistics(math.nan, math.nan, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(v))
        recall = float(np.nanmean(v > 0.5))
        ids = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)
        first = v[ids[0] : ids[1] + 1]
        last = v[ids[3] : ids[4] + 1]
        decay = float(np.nanmean(first) - np.nanmean(last))
    return Statistics(mean, recall, decay)
