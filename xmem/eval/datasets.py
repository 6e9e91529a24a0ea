"""Evaluation datasets in the layouts of the field, found and checked before any work.

Three layouts:

- ``davis``: ``JPEGImages/<res>/<seq>/``, ``Annotations/<res>/<seq>/`` (``<res>`` is ``480p``
  by default) and the sequence list ``ImageSets/…/<split>.txt`` or ``--split FILE``.
  Annotations are 0/255 (one object) or palette PNGs (ids; 255 is void). The objects are
  given on the first frame; every frame but the first and the last is scored (the official
  semi-supervised protocol).
- ``youtube``: ``JPEGImages/<seq>/``, ``Annotations/<seq>/`` and ``meta.json`` (YouTube-VOS).
  Objects may first appear on later frames: each is given on its first annotated frame and
  scored on every later frame that has an annotation.
- ``generic``: one folder per sequence, ``<seq>/images/`` and ``<seq>/masks/``, scored as
  ``youtube``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmem.errors import XMemError
from xmem.io.frames import list_images
from xmem.io.masks import read_mask
from xmem.io.source import visible_files

logger = logging.getLogger(__name__)

LAYOUTS = ("davis", "youtube", "generic")
VOID = 255  # palette index of void ("don't care") pixels in DAVIS annotations


@dataclass(frozen=True)
class EvalSequence:
    """One video of a dataset with its annotations.

    Attributes:
        name: the sequence's name (unique in the dataset).
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


def detect_layout(root: Path) -> str:
    """The layout of the dataset folder ``root`` (XMemError when it is none of them)."""
    if not root.is_dir():
        raise XMemError(f"dataset folder '{root}' does not exist or is not a folder")
    images, annotations = root / "JPEGImages", root / "Annotations"
    if images.is_dir() and annotations.is_dir():
        if (root / "meta.json").is_file():
            return "youtube"
        subdirs = [p for p in images.iterdir() if p.is_dir()]
        if subdirs and all(any(q.is_dir() for q in p.iterdir()) for p in subdirs):
            return "davis"  # JPEGImages/<res>/<seq>/
        return "youtube"
    children = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if children and all((p / "images").is_dir() and (p / "masks").is_dir() for p in children):
        return "generic"
    raise XMemError(
        f"'{root}' is not a dataset in a supported layout: expected JPEGImages/ and "
        "Annotations/ (DAVIS: JPEGImages/480p/<seq>/; YouTube-VOS: JPEGImages/<seq>/ with "
        "meta.json), or one folder per sequence with images/ and masks/"
    )


def _read_split(path: Path) -> list[str]:
    if not path.is_file():
        raise XMemError(f"split file '{path}' does not exist")
    names = [line.strip() for line in path.read_text().splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise XMemError(f"split file '{path}' lists no sequence")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise XMemError(f"split file '{path}' lists {', '.join(duplicates)} more than once")
    return names


def _davis_split(root: Path, split: str | None) -> list[str] | None:
    if split is None:
        return None
    as_path = Path(split)
    if as_path.suffix == ".txt" or as_path.exists():
        return _read_split(as_path)
    candidates = sorted((root / "ImageSets").rglob(f"{split}.txt"))
    if not candidates:
        raise XMemError(f"no split '{split}': '{root / 'ImageSets'}' has no {split}.txt")
    if len(candidates) > 1:
        listed = ", ".join(str(c.relative_to(root)) for c in candidates)
        raise XMemError(f"split '{split}' is ambiguous ({listed}); pass the file with --split")
    return _read_split(candidates[0])


def _annotated(seq: str, frame_names: Sequence[str], masks: Path) -> tuple[int, ...]:
    index = {n: i for i, n in enumerate(frame_names)}
    out = []
    for png in visible_files(masks, (".png",), "annotations"):
        if png.stem not in index:
            raise XMemError(
                f"sequence '{seq}': annotation '{png}' has no frame "
                f"(no {png.stem}.jpg or other image in the frames folder)"
            )
        out.append(index[png.stem])
    return tuple(sorted(out))


def _first_appearances(seq: EvalSequence) -> dict[int, tuple[int, ...]]:
    """Frame → ids first annotated there, read from the annotation PNGs."""
    seen: set[int] = set()
    given: dict[int, tuple[int, ...]] = {}
    for t in seq.annotated:
        ids, _ = seq.annotation(t)
        new = sorted(set(np.unique(ids).tolist()) - seen - {0})
        if new:
            given[t] = tuple(int(i) for i in new)
            seen.update(new)
    return given


def _meta_appearances(seq: EvalSequence, meta: dict) -> dict[int, tuple[int, ...]] | None:
    """Frame → ids first annotated there, from YouTube-VOS's meta.json (None if absent)."""
    entry = meta.get("videos", {}).get(seq.name)
    if entry is None:
        return None
    index = {n: i for i, n in enumerate(seq.frame_names)}
    given: dict[int, list[int]] = {}
    for key, obj in entry.get("objects", {}).items():
        frames = [f for f in obj.get("frames", []) if f in index]
        if not frames:
            raise XMemError(
                f"sequence '{seq.name}': meta.json gives object {key} no frame of the video"
            )
        try:
            given.setdefault(min(index[f] for f in frames), []).append(int(key))
        except ValueError as e:
            raise XMemError(f"sequence '{seq.name}': meta.json object id {key!r}") from e
    return {t: tuple(sorted(ids)) for t, ids in sorted(given.items())}


def _sequence(name: str, layout: str, frames: Path, masks: Path, skip_last: bool) -> EvalSequence:
    if not frames.is_dir():
        raise XMemError(f"sequence '{name}': frames folder '{frames}' does not exist")
    if not masks.is_dir():
        raise XMemError(f"sequence '{name}': annotations folder '{masks}' does not exist")
    names = tuple(p.stem for p in list_images(frames))
    annotated = _annotated(name, names, masks)
    if not annotated:
        raise XMemError(f"sequence '{name}': no annotation in '{masks}'")
    return EvalSequence(name, layout, frames, names, masks, annotated, skip_last=skip_last)


def _check_davis(seq: EvalSequence) -> EvalSequence:
    missing = [t for t in range(len(seq)) if t not in set(seq.annotated)]
    if 0 in missing:
        raise XMemError(f"sequence '{seq.name}': the first frame has no annotation")
    if missing:
        raise XMemError(
            f"sequence '{seq.name}': no ground truth for frame '{seq.frame_names[missing[0]]}' "
            f"(missing {seq.mask_path(missing[0])}; {len(missing)} frames lack one)"
        )
    ids, _ = seq.annotation(0)
    present = int(ids.max())
    if present == 0:
        raise XMemError(f"sequence '{seq.name}': the first frame's annotation has no object")
    # as the official toolkit: objects 1..max id of the first frame
    return dataclasses.replace(seq, given={0: tuple(range(1, present + 1))})


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
    layout = layout or detect_layout(root)
    if layout not in LAYOUTS:
        raise XMemError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    if layout == "davis":
        images, annotations = root / "JPEGImages" / resolution, root / "Annotations" / resolution
        names = _davis_split(root, split)
    elif layout == "youtube":
        images, annotations = root / "JPEGImages", root / "Annotations"
        names = _read_split(Path(split)) if split else None
    else:
        images = annotations = root
        names = _read_split(Path(split)) if split else None
    if not images.is_dir():
        raise XMemError(f"'{root}' has no frames folder '{images}' ({layout} layout)")
    if names is None:
        names = sorted(p.name for p in images.iterdir() if p.is_dir() and p.name[0] != ".")
    if sequences:
        unknown = sorted(set(sequences) - set(names))
        if unknown:
            raise XMemError(f"no sequence {', '.join(map(repr, unknown))} in '{root}'")
        names = [n for n in names if n in set(sequences)]
    if not names:
        raise XMemError(f"dataset '{root}' has no sequence")

    meta = {}
    if layout == "youtube" and (root / "meta.json").is_file():
        try:
            meta = json.loads((root / "meta.json").read_text())
        except (OSError, ValueError) as e:
            raise XMemError(f"cannot read '{root / 'meta.json'}': {e}") from e

    found = []
    for name in names:
        if layout == "generic":
            seq = _sequence(name, layout, root / name / "images", root / name / "masks", False)
        else:
            seq = _sequence(name, layout, images / name, annotations / name, layout == "davis")
        if layout == "davis":
            seq = _check_davis(seq)
        else:
            given = _meta_appearances(seq, meta) if meta else None
            seq = dataclasses.replace(
                seq, given=given if given is not None else _first_appearances(seq)
            )
            if not seq.given:
                raise XMemError(f"sequence '{seq.name}': its annotations have no object")
            for t, ids in seq.given.items():
                if t not in seq.annotated:
                    raise XMemError(
                        f"sequence '{seq.name}': object {ids[0]} first appears on frame "
                        f"'{seq.frame_names[t]}' (meta.json) but {seq.mask_path(t)} is missing"
                    )
        found.append(seq)
    logger.info(
        "%s: %d sequences, %d frames (%s layout)",
        root,
        len(found),
        sum(len(s) for s in found),
        layout,
    )
    return Dataset(root, layout, tuple(found))
