"""Drift marks: how likely each tracked frame is wrong, from the tracker's own output.

For every frame and object, :class:`QualityMonitor` measures (with no ground truth):

- ``confidence``: the mean probability of the object over the pixels it was given (its mask);
- ``uncertain``: the share of the object's likely pixels (probability > 0.25) that are doubtful
  (0.25–0.75): a soft, smeared mask;
- ``area_change``: log of the area ratio to the previous frame (in processing order);
- ``iou_prev``: IoU of the mask with the previous frame's;

and folds them into one ``score`` in [0, 1], the largest of three signs of a jump:

- doubt: ``(1 − confidence) / 0.5`` (a confidence of 0.5 or less scores 1);
- a jump in place: how far the IoU with the previous frame falls below its median over the
  object's last :data:`HISTORY` frames, relative to that median (an object that moves fast has
  a low IoU every frame and is not marked for it);
- a jump in size: ``|area_change| / ln 2`` (the area doubled or halved in one frame: 1), and 1
  when the object vanishes or reappears.

A frame whose score reaches :data:`SUSPECT` is a *suspect*: the GUI marks it on the timeline
and ``xmem track --report`` writes it. A swap to a look-alike (the mask leaves the object for
another one) moves the mask at once, so its frame scores near 1.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from typing import TextIO

import numpy as np

from xmem.inference.tracker import FrameResult

SUSPECT = 0.5  # a frame scoring this much or more is marked
HISTORY = 10  # frames of IoU history per object
LIKELY, DOUBT_LOW, DOUBT_HIGH = 0.25, 0.25, 0.75


@dataclass(frozen=True)
class ObjectQuality:
    """One object on one frame (areas in pixels at the frame's resolution)."""

    frame: int
    object_id: int
    area: int
    confidence: float  # mean probability inside the mask; 0 for an empty mask
    uncertain: float  # doubtful share of the likely pixels
    area_change: float  # ln((area + 1) / (previous area + 1)); 0 on the first frame
    iou_prev: float | None  # None on the object's first frame or when both masks are empty
    score: float  # 0 (fine) … 1 (most likely wrong)

    @property
    def suspect(self) -> bool:
        return self.score >= SUSPECT


def frame_score(objects: Iterable[ObjectQuality]) -> float:
    """A frame's score: its worst object's (0 for a frame with no object)."""
    return max((o.score for o in objects), default=0.0)


def _iou(a: np.ndarray, b: np.ndarray) -> float | None:
    union = np.count_nonzero(a | b)
    return None if union == 0 else np.count_nonzero(a & b) / union


class QualityMonitor:
    """Measures each frame of one tracking pass, in the order the tracker yields them.

    Call :meth:`update` with every :class:`FrameResult` of a pass (tracked with
    ``return_prob=True``). A frame that does not follow the previous one (another pass, or a
    jump) starts afresh.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._previous: dict[int, np.ndarray] = {}
        self._history: dict[int, deque[float]] = {}
        self._last: int | None = None

    def update(self, result: FrameResult) -> list[ObjectQuality]:
        """The figures of each object of ``result`` (which must carry ``prob``)."""
        if result.prob is None:
            raise ValueError("QualityMonitor needs results tracked with return_prob=True")
        if self._last is None or abs(result.index - self._last) != 1:
            self.reset()
        self._last = result.index
        prob = result.prob.float().numpy()
        out = []
        for slot, object_id in enumerate(result.object_ids, start=1):
            out.append(self._measure(result.index, object_id, result.mask == object_id, prob[slot]))
        return out

    def _measure(
        self, frame: int, object_id: int, mask: np.ndarray, p: np.ndarray
    ) -> ObjectQuality:
        area = int(np.count_nonzero(mask))
        confidence = float(p[mask].mean()) if area else 0.0
        likely = p > LIKELY
        n_likely = int(np.count_nonzero(likely))
        doubtful = np.count_nonzero(likely & (p < DOUBT_HIGH)) if n_likely else 0
        uncertain = doubtful / n_likely if n_likely else 0.0
        previous = self._previous.get(object_id)
        history = self._history.setdefault(object_id, deque(maxlen=HISTORY))
        iou, change, jump, size = None, 0.0, 0.0, 0.0
        if previous is not None:
            iou = _iou(mask, previous)
            iou = None if iou is None else float(iou)
            before = int(np.count_nonzero(previous))
            change = math.log((area + 1) / (before + 1))
            if (area == 0) != (before == 0):
                size = 1.0  # vanished or reappeared
            elif area and before:
                size = min(1.0, abs(math.log(area / before)) / math.log(2))
            if iou is not None and history:
                typical = float(np.median(history))
                jump = max(0.0, typical - iou) / max(typical, 0.1)
        if iou is not None:
            history.append(iou)
        self._previous[object_id] = mask
        doubt = (1.0 - confidence) / 0.5 if area else 0.0
        score = float(min(1.0, max(doubt, jump, size)))
        return ObjectQuality(
            frame, object_id, area, confidence, uncertain, change, iou, round(score, 4)
        )


COLUMNS = ("frame", "name", *[f.name for f in fields(ObjectQuality)][1:], "suspect")


def write_report(
    rows: Iterable[ObjectQuality], names: Sequence[str], out: TextIO, digits: int = 4
) -> int:
    """Write ``rows`` as CSV (:data:`COLUMNS`, one row per frame and object, in the order
    given); ``names``: the frames' names by index. Returns the number of suspect rows."""
    table = csv.writer(out)
    table.writerow(COLUMNS)
    suspects = 0
    for row in rows:
        values = [
            round(v, digits) if isinstance(v, float) else ("" if v is None else v)
            for v in astuple(row)
        ]
        table.writerow([row.frame, names[row.frame], *values[1:], int(row.suspect)])
        suspects += row.suspect
    return suspects
