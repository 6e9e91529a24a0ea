"""The dataset layouts of the field, one small class each, in the registry :data:`LAYOUTS`.

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

A layout answers five questions: is a folder in it (:meth:`Layout.matches`), which sequences
are there and where their frames and masks are (:meth:`Layout.names`, :meth:`Layout.folders`),
which objects are given on which frames (:meth:`Layout.given`), which frames are scored
(:attr:`Layout.skip_last`) and where a method's results go (:meth:`Layout.results_dir`).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from xmem.data.sequence import EvalSequence
from xmem.errors import XMemError


def read_split(path: Path) -> list[str]:
    """The sequence names listed in a text file, one per line (``#`` lines are comments)."""
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


def first_appearances(seq: EvalSequence) -> dict[int, tuple[int, ...]]:
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


class Layout:
    """A dataset layout, for the dataset folder ``root`` (see the module's docstring)."""

    name: ClassVar[str]
    skip_last: ClassVar[bool] = False  # the last frame is not scored

    def __init__(self, root: Path, resolution: str = "480p") -> None:
        self.root = root
        self.resolution = resolution

    @classmethod
    def matches(cls, root: Path) -> bool:
        """Whether the folder ``root`` is in this layout (asked in the registry's order)."""
        raise NotImplementedError

    @property
    def images(self) -> Path:
        """The folder whose sub-folders are the sequences."""
        return self.root

    def names(self, split: str | None) -> list[str] | None:
        """The sequences of ``split`` (a text file of names), or None for all of them."""
        return read_split(Path(split)) if split else None

    def folders(self, name: str) -> tuple[Path, Path]:
        """The frames and annotations folders of sequence ``name``."""
        return self.images / name, self.root / "Annotations" / name

    def given(self, seq: EvalSequence) -> dict[int, tuple[int, ...]]:
        """Frame index → ids of the objects given there (checked against the annotations)."""
        given = self._given(seq)
        if not given:
            raise XMemError(f"sequence '{seq.name}': its annotations have no object")
        for t, ids in given.items():
            if t not in seq.annotated:
                raise XMemError(
                    f"sequence '{seq.name}': object {ids[0]} first appears on frame "
                    f"'{seq.frame_names[t]}' (meta.json) but {seq.mask_path(t)} is missing"
                )
        return given

    def _given(self, seq: EvalSequence) -> dict[int, tuple[int, ...]]:
        return first_appearances(seq)

    @classmethod
    def results_dir(cls, root: Path, name: str, existing: bool = False) -> Path:
        """Where the predictions of sequence ``name`` are in a results folder ``root``;
        ``existing``: results written by another tool, which may use another convention."""
        return root / name


class Davis(Layout):
    name = "davis"
    skip_last = True

    @classmethod
    def matches(cls, root: Path) -> bool:
        images = root / "JPEGImages"
        if not (images.is_dir() and (root / "Annotations").is_dir()):
            return False
        if (root / "meta.json").is_file():
            return False
        subdirs = [p for p in images.iterdir() if p.is_dir()]
        return bool(subdirs) and all(any(q.is_dir() for q in p.iterdir()) for p in subdirs)

    @property
    def images(self) -> Path:
        return self.root / "JPEGImages" / self.resolution

    def names(self, split: str | None) -> list[str] | None:
        if split is None:
            return None
        as_path = Path(split)
        if as_path.suffix == ".txt" or as_path.exists():
            return read_split(as_path)
        sets = self.root / "ImageSets"
        candidates = sorted(sets.rglob(f"{split}.txt"))
        if not candidates:
            raise XMemError(f"no split '{split}': '{sets}' has no {split}.txt")
        if len(candidates) > 1:
            listed = ", ".join(str(c.relative_to(self.root)) for c in candidates)
            raise XMemError(
                f"split '{split}' is ambiguous ({listed}); give the path of the split file instead"
            )
        return read_split(candidates[0])

    def folders(self, name: str) -> tuple[Path, Path]:
        return self.images / name, self.root / "Annotations" / self.resolution / name

    def given(self, seq: EvalSequence) -> dict[int, tuple[int, ...]]:
        missing = [t for t in range(len(seq)) if t not in set(seq.annotated)]
        if 0 in missing:
            raise XMemError(f"sequence '{seq.name}': the first frame has no annotation")
        if missing:
            raise XMemError(
                f"sequence '{seq.name}': no ground truth for frame "
                f"'{seq.frame_names[missing[0]]}' (missing {seq.mask_path(missing[0])}; "
                f"{len(missing)} frames lack one)"
            )
        ids, _ = seq.annotation(0)
        present = int(ids.max())
        if present == 0:
            raise XMemError(f"sequence '{seq.name}': the first frame's annotation has no object")
        # as the official toolkit: objects 1..max id of the first frame
        return {0: tuple(range(1, present + 1))}


class YouTube(Layout):
    name = "youtube"

    @classmethod
    def matches(cls, root: Path) -> bool:
        return (root / "JPEGImages").is_dir() and (root / "Annotations").is_dir()

    @property
    def images(self) -> Path:
        return self.root / "JPEGImages"

    @cached_property
    def meta(self) -> dict[str, Any]:
        """The contents of ``meta.json`` (empty when there is none)."""
        path = self.root / "meta.json"
        if not path.is_file():
            return {}
        try:
            meta: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise XMemError(f"cannot read '{path}': {e}") from e
        return meta

    def _given(self, seq: EvalSequence) -> dict[int, tuple[int, ...]]:
        entry = self.meta.get("videos", {}).get(seq.name) if self.meta else None
        if entry is None:
            return first_appearances(seq)
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

    @classmethod
    def results_dir(cls, root: Path, name: str, existing: bool = False) -> Path:
        # the challenge's format: Annotations/<seq>/ (or a plain <seq>/ from another tool)
        nested = root / "Annotations" / name
        if existing and not nested.is_dir() and (root / name).is_dir():
            return root / name
        return nested


class Generic(Layout):
    name = "generic"

    @classmethod
    def matches(cls, root: Path) -> bool:
        children = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return bool(children) and all(
            (p / "images").is_dir() and (p / "masks").is_dir() for p in children
        )

    def folders(self, name: str) -> tuple[Path, Path]:
        return self.root / name / "images", self.root / name / "masks"


LAYOUTS: dict[str, type[Layout]] = {c.name: c for c in (Davis, YouTube, Generic)}


def layout_class(name: str) -> type[Layout]:
    """The layout called ``name`` (XMemError when there is none)."""
    if name not in LAYOUTS:
        raise XMemError(f"unknown layout {name!r}; choose from {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def detect_layout(root: Path) -> str:
    """The layout of the dataset folder ``root`` (XMemError when it is none of them)."""
    if not root.is_dir():
        raise XMemError(f"dataset folder '{root}' does not exist or is not a folder")
    for name, layout in LAYOUTS.items():
        if layout.matches(root):
            return name
    raise XMemError(
        f"'{root}' is not a dataset in a supported layout: expected JPEGImages/ and "
        "Annotations/ (DAVIS: JPEGImages/480p/<seq>/; YouTube-VOS: JPEGImages/<seq>/ with "
        "meta.json), or one folder per sequence with images/ and masks/"
    )
