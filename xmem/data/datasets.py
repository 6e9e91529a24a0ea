"""Evaluation and training datasets, found and checked before any work.

The layouts (DAVIS, YouTube-VOS, generic) are in :mod:`xmem.data.layouts`; this module walks
one: which sequences, their frames and annotations, and the objects each one gives.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from xmem.data.layouts import Layout, detect_layout, layout_class
from xmem.data.sequence import Dataset, EvalSequence
from xmem.errors import XMemError
from xmem.io.frames import list_images
from xmem.io.masks import masks_named_like_frames

logger = logging.getLogger(__name__)


def _annotated(seq: str, frame_names: Sequence[str], masks: Path) -> tuple[int, ...]:
    found = masks_named_like_frames(
        masks,
        frame_names,
        lambda png: (
            f"sequence '{seq}': annotation '{png}' has no frame "
            f"(no {png.stem}.jpg or other image in the frames folder)"
        ),
        kind="annotations",
    )
    return tuple(found)


def _sequence(layout: Layout, name: str) -> EvalSequence:
    frames, masks = layout.folders(name)
    if not frames.is_dir():
        raise XMemError(f"sequence '{name}': frames folder '{frames}' does not exist")
    if not masks.is_dir():
        raise XMemError(f"sequence '{name}': annotations folder '{masks}' does not exist")
    names = tuple(p.stem for p in list_images(frames))
    annotated = _annotated(name, names, masks)
    if not annotated:
        raise XMemError(f"sequence '{name}': no annotation in '{masks}'")
    seq = EvalSequence(
        name, layout.name, frames, names, masks, annotated, skip_last=layout.skip_last
    )
    return dataclasses.replace(seq, given=layout.given(seq))


def load_dataset(
    root: str | Path,
    layout: str | None = None,
    split: str | None = None,
    resolution: str = "480p",
    sequences: Sequence[str] | None = None,
) -> Dataset:
    """Find and check every sequence of a dataset.

    Args:
        root: the dataset folder.
        layout: "davis", "youtube" or "generic" (detected when None).
        split: DAVIS split name (``ImageSets/**/<split>.txt``) or any text file listing
            sequence names, one per line (all layouts). All sequences when None.
        resolution: DAVIS resolution folder.
        sequences: only these sequences (after the split).
    """
    root = Path(root)
    found_layout = layout_class(layout or detect_layout(root))(root, resolution)
    names = found_layout.names(split)
    images = found_layout.images
    if not images.is_dir():
        raise XMemError(f"'{root}' has no frames folder '{images}' ({found_layout.name} layout)")
    if names is None:
        names = sorted(p.name for p in images.iterdir() if p.is_dir() and p.name[0] != ".")
    if sequences:
        unknown = sorted(set(sequences) - set(names))
        if unknown:
            raise XMemError(f"no sequence {', '.join(map(repr, unknown))} in '{root}'")
        names = [n for n in names if n in set(sequences)]
    if not names:
        raise XMemError(f"dataset '{root}' has no sequence")

    found = [_sequence(found_layout, name) for name in names]
    logger.info(
        "%s: %d sequences, %d frames (%s layout)",
        root,
        len(found),
        sum(len(s) for s in found),
        found_layout.name,
    )
    return Dataset(root, found_layout.name, tuple(found))
