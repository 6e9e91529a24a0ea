"""A video of a dataset with its annotations (:class:`EvalSequence`), and a dataset of them.

The unit of data of both evaluation (what is tracked and scored) and training (what clips are
cut from). :mod:`xmem.data.layouts` finds them in the layouts of the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmem.io.masks import read_mask

VOID = 255  # palette index of void ("don't care") pixels in DAVIS annotations


@dataclass(frozen=True)
class EvalSequence:
    """One video of a dataset with its annotations.

    Attributes:
        name: the sequence's name (unique in the dataset).
        layout: the name of the dataset's layout (a key of :data:`xmem.data.layouts.LAYOUTS`).
        frames: folder of its frames; ``frame_names`` are their stems in order.
        masks: folder of its annotation PNGs, named like the frames.
        annotated: indices of the frames that have an annotation PNG.
        given: frame index → ids of the objects first annotated on that frame (they are given
            to the tracker there).
        skip_last: the last frame is not scored (DAVIS protocol).
    """

    name: str
    layout: str
    frames: Path
    frame_names: tuple[str, ...]
    masks: Path
    annotated: tuple[int, ...]
    given: dict[int, tuple[int, ...]] = field(default_factory=dict)
    skip_last: bool = False

    def __len__(self) -> int:
        return len(self.frame_names)

    @property
    def objects(self) -> tuple[int, ...]:
        return tuple(sorted(i for ids in self.given.values() for i in ids))

    def mask_path(self, index: int) -> Path:
        return self.masks / f"{self.frame_names[index]}.png"

    def first_frame(self, obj: int) -> int:
        return next(t for t, ids in sorted(self.given.items()) if obj in ids)

    def scored_frames(self, obj: int) -> list[int]:
        """Frames on which object ``obj`` is scored (after it is given, with an annotation)."""
        end = len(self) - 1 if self.skip_last else len(self)
        return [t for t in self.annotated if self.first_frame(obj) < t < end]

    def annotation(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The annotation of frame ``index`` as (ids, void or None); void pixels are id 0."""
        mask = read_mask(self.mask_path(index))
        ids = mask.ids
        if mask.palette is None or not (ids == VOID).any():
            return ids, None
        void = ids == VOID
        return np.where(void, 0, ids).astype(np.uint8), void


@dataclass(frozen=True)
class Dataset:
    root: Path
    layout: str
    sequences: tuple[EvalSequence, ...]

    @property
    def num_frames(self) -> int:
        return sum(len(s) for s in self.sequences)
