"""The GUI's project folder: what a person annotated, what the tracker computed, and the objects
(their checks and colours in :mod:`.objects`; atomic writes in :mod:`.atomic`).

Layout (``FORMAT_VERSION`` 2; version 1, without classes, pins, soft masks and drift
scores, is read as is)::

    PROJECT/project.json   {"format": "xmem-gui-project", "version": 2,
                            "source": "/abs/video.mp4", "frames": N, "width": W, "height": H,
                            "next_id": 3, "objects": [{"id": 1, "name": "object 1",
                                "color": "#800000", "label": "object"}, ...], "pinned": [40]}
    PROJECT/annotations/<frame>.png   frames a person drew on (palette PNGs, object ids)
    PROJECT/masks/<frame>.png         frames the tracker computed (palette PNGs, object ids)
    PROJECT/soft/<frame>.png          the tracker's probabilities of those frames (:mod:`.soft`)
    PROJECT/quality.json              the tracker's drift scores: {"<frame>": {"score": s,
                                      "objects": {"<id>": {confidence, iou_prev, ...}}}}

A frame's mask is its annotation when a person drew on it, else its tracked mask, else empty.
The tracker writes only ``masks/``, so a person's frames are never overwritten. Every file is
written to a temporary name and renamed into place, so a failed write (a full disk) leaves the
previous version intact. Ids of deleted objects are dropped when masks are read.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from xmem.errors import XMemError
from xmem.inference.quality import ObjectQuality
from xmem.io.export import ExportObject, MaskSet
from xmem.io.frames import open_frames
from xmem.io.masks import read_mask, write_mask
from xmem.io.source import FrameSource

from .atomic import replace_atomically
from .objects import (
    DEFAULT_LABEL,
    MAX_OBJECTS,
    TrackedObject,
    check_color,
    check_label,
    check_name,
    default_color,
    palette_of,
)
from .quality import QUALITY, quality_table, read_quality, write_quality
from .soft import quantise, read_soft, write_soft

logger = logging.getLogger(__name__)

FORMAT = "xmem-gui-project"
FORMAT_VERSION = 2


class Project:
    """An open project folder with its frame source (for reading masks and metadata).

    Use :meth:`open` (existing folder) or :meth:`create`. Not thread-safe by itself: the server
    serialises changes of the objects; mask files are independent and written atomically.
    """

    def __init__(self, root: Path, source_path: Path, source: FrameSource, meta: dict[str, Any]):
        self.root = root
        self.source_path = source_path
        self.source = source
        self.names: list[str] = list(source.names)
        self.index_of = {name: i for i, name in enumerate(self.names)}
        self.objects = [TrackedObject(**o) for o in meta.get("objects", [])]
        self.next_id = int(meta.get("next_id", max((o.id for o in self.objects), default=0) + 1))
        self.pinned: set[int] = {int(i) for i in meta.get("pinned", [])}
        self.annotations_dir = root / "annotations"
        self.masks_dir = root / "masks"
        self.soft_dir = root / "soft"
        self.human = self._listed(self.annotations_dir)
        self.tracked = self._listed(self.masks_dir)
        self.quality = read_quality(root / QUALITY)

    # -- opening -------------------------------------------------------------------------

    @staticmethod
    def read_meta(root: Path) -> dict[str, Any] | None:
        """``project.json`` of ``root``, checked; None when ``root`` is not a project yet."""
        path = root / "project.json"
        if not path.exists():
            if root.exists() and not root.is_dir():
                raise XMemError(f"project folder '{root}' is a file, not a folder")
            if root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
                raise XMemError(
                    f"'{root}' is not an xmem project (no project.json) and is not empty; "
                    "choose an empty or new folder for the project"
                )
            return None
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise XMemError(f"cannot read project file '{path}': {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise XMemError(f"'{path}' is not an xmem GUI project file")
        version = meta.get("version")
        if not isinstance(version, int):
            raise XMemError(f"project file '{path}' has no valid version")
        if version > FORMAT_VERSION:
            raise XMemError(
                f"project '{root}' was saved by a newer xmem (project format {version}; this "
                f"xmem reads up to format {FORMAT_VERSION}); upgrade xmem to open it "
                "(the project was left unchanged)"
            )
        return meta

    @classmethod
    def open(cls, root: str | Path, source: str | Path | None = None) -> Project:
        """Open the project in ``root``, creating it for ``source`` when ``root`` is new.

        ``source`` given for an existing project points it at that video or folder (e.g. after
        moving the video); it must have the project's frame count and size.
        """
        root = Path(os.path.abspath(root))
        meta = cls.read_meta(root)
        if meta is None:
            if source is None:
                raise XMemError(
                    f"'{root}' is not an xmem project yet; give a video or frames folder to "
                    "start one"
                )
            return cls.create(root, source)
        recorded = Path(meta.get("source", ""))
        source_path = Path(os.path.abspath(source)) if source is not None else recorded
        if not source_path.exists():
            raise XMemError(
                f"the video of project '{root}' is missing: '{source_path}'; if it moved, run "
                f"`xmem gui NEW_PATH --project {root}`"
            )
        frames = open_frames(source_path)
        try:
            shape = (len(frames), frames.width, frames.height)
            expected = (meta.get("frames"), meta.get("width"), meta.get("height"))
            if shape != expected:
                raise XMemError(
                    f"'{source_path}' has {shape[0]} frames of {shape[1]}×{shape[2]} but project "
                    f"'{root}' was made for {expected[0]} frames of {expected[1]}×{expected[2]}"
                )
            project = cls(root, source_path, frames, meta)
            if source_path != recorded:
                project.save_meta()
        except BaseException:
            frames.close()
            raise
        logger.info(
            "opened project %s: %s, %d frames, %d annotated by hand, %d tracked",
            root,
            source_path,
            len(project.names),
            len(project.human),
            len(project.tracked),
        )
        return project

    @classmethod
    def create(cls, root: str | Path, source: str | Path) -> Project:
        """A new project in ``root`` (missing or empty) for the video or frames folder."""
        root = Path(os.path.abspath(root))
        source_path = Path(os.path.abspath(source))
        frames = open_frames(source_path)  # bad input fails before anything is written
        try:
            meta = {"objects": [asdict(TrackedObject(1, "object 1", default_color(1)))]}
            try:
                (root / "annotations").mkdir(parents=True, exist_ok=True)
                (root / "masks").mkdir(exist_ok=True)
            except OSError as exc:
                raise XMemError(
                    f"cannot create project folder '{root}': {exc.strerror or exc}"
                ) from exc
            project = cls(root, source_path, frames, meta)
            project.save_meta()
        except BaseException:
            frames.close()
            raise
        logger.info("created project %s for %s (%d frames)", root, source_path, len(frames))
        return project

    def close(self) -> None:
        self.source.close()

    def _listed(self, folder: Path) -> set[int]:
        if not folder.is_dir():
            return set()
        found = set()
        for entry in folder.iterdir():
            if entry.suffix == ".png" and not entry.name.startswith("."):
                index = self.index_of.get(entry.stem)
                if index is not None:
                    found.add(index)
        return found

    # -- metadata ------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "source": str(self.source_path),
            "frames": len(self.names),
            "width": self.source.width,
            "height": self.source.height,
            "next_id": self.next_id,
            "objects": [asdict(o) for o in self.objects],
            "pinned": sorted(self.pinned),
        }

    def save_meta(self) -> None:
        text = json.dumps(self.meta(), indent=2) + "\n"
        replace_atomically(
            self.root / "project.json",
            lambda tmp: tmp.write_text(text, encoding="utf-8"),
            f"project file '{self.root / 'project.json'}'",
        )

    def _update(self, objects: list[TrackedObject], next_id: int) -> None:
        """Replace the objects, saved first: on a failed save nothing changes."""
        saved = self.objects, self.next_id
        self.objects, self.next_id = objects, next_id
        try:
            self.save_meta()
        except XMemError:
            self.objects, self.next_id = saved
            raise

    def add_object(
        self,
        name: str | None = None,
        color: str | None = None,
        label: str | None = None,
        object_id: int | None = None,
    ) -> TrackedObject:
        """A new object: id ``object_id`` (an import's, unused) or the next free one."""
        new_id = self.next_id if object_id is None else object_id
        if new_id > MAX_OBJECTS:
            raise XMemError(f"at most {MAX_OBJECTS} objects per project (masks are 8-bit)")
        if new_id < 1 or any(o.id == new_id for o in self.objects):
            raise XMemError(f"object id {new_id} is taken or invalid")
        new = TrackedObject(
            new_id,
            check_name(name) if name else f"object {new_id}",
            check_color(color) if color else default_color(new_id),
            check_label(label) if label else DEFAULT_LABEL,
        )
        self._update([*self.objects, new], max(self.next_id, new_id + 1))
        return new

    def edit_object(
        self, object_id: int, name: str | None, color: str | None, label: str | None = None
    ) -> TrackedObject:
        old = self.find(object_id)
        new = TrackedObject(
            old.id,
            check_name(name) if name is not None else old.name,
            check_color(color or old.color),
            check_label(label) if label is not None else old.label,
        )
        self._update([new if o.id == object_id else o for o in self.objects], self.next_id)
        return new

    def delete_object(self, object_id: int) -> None:
        self.find(object_id)
        self._update([o for o in self.objects if o.id != object_id], self.next_id)

    def find(self, object_id: int) -> TrackedObject:
        for o in self.objects:
            if o.id == object_id:
                return o
        raise XMemError(f"no object with id {object_id}")

    def palette(self) -> list[int]:
        """The DAVIS palette with each object's colour at its id."""
        return palette_of(self.objects)

    # -- masks ---------------------------------------------------------------------------

    def check_index(self, index: int) -> str:
        if not 0 <= index < len(self.names):
            raise XMemError(f"frame {index} does not exist (the video has {len(self.names)})")
        return self.names[index]

    def annotation_path(self, index: int) -> Path:
        return self.annotations_dir / f"{self.check_index(index)}.png"

    def mask_path(self, index: int) -> Path:
        return self.masks_dir / f"{self.check_index(index)}.png"

    def _read(self, path: Path) -> np.ndarray | None:
        try:
            ids = read_mask(path).ids
        except XMemError as exc:
            logger.warning("%s; the frame is shown without it", exc)
            return None
        if ids.shape != (self.source.height, self.source.width):
            logger.warning("mask '%s' has the wrong size; ignored", path)
            return None
        known = np.zeros(256, dtype=bool)
        known[[o.id for o in self.objects]] = True
        return np.where(known[ids], ids, 0).astype(np.uint8)

    def mask(self, index: int) -> tuple[np.ndarray, bool]:
        """The frame's ids (uint8 H×W) and whether a person drew them."""
        if index in self.human:
            ids = self._read(self.annotation_path(index))
            if ids is not None:
                return ids, True
        if index in self.tracked:
            ids = self._read(self.mask_path(index))
            if ids is not None:
                return ids, False
        self.check_index(index)
        return np.zeros((self.source.height, self.source.width), dtype=np.uint8), False

    def annotation(self, index: int) -> np.ndarray | None:
        """The ids a person drew on the frame, or None."""
        return self._read(self.annotation_path(index)) if index in self.human else None

    def check_ids(self, ids: np.ndarray) -> np.ndarray:
        if ids.shape != (self.source.height, self.source.width):
            raise XMemError(
                f"a mask must be {self.source.width}×{self.source.height}, got "
                f"{ids.shape[1] if ids.ndim > 1 else '?'}×{ids.shape[0]}"
            )
        unknown = sorted(set(np.unique(ids).tolist()) - {0} - {o.id for o in self.objects})
        if unknown:
            raise XMemError(f"the mask holds ids of no object: {unknown}")
        return ids.astype(np.uint8, copy=False)

    def save_annotation(self, index: int, ids: np.ndarray) -> None:
        """Save a person's mask of the frame (atomic: on failure the old one stays)."""
        ids = self.check_ids(ids)
        path = self.annotation_path(index)
        palette = self.palette()
        replace_atomically(
            path,
            lambda tmp: write_mask(tmp, ids, palette),
            f"the annotation of frame {index} ('{path}')",
        )
        self.human.add(index)

    def forget_annotation(self, index: int) -> None:
        """The frame is no longer a person's: the tracker may compute it again."""
        path = self.annotation_path(index)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise XMemError(f"cannot remove '{path}': {exc.strerror or exc}") from exc
        self.human.discard(index)

    def save_tracked(
        self,
        index: int,
        ids: np.ndarray,
        palette: Sequence[int],
        soft: tuple[tuple[int, ...], np.ndarray] | None = None,
    ) -> None:
        """Save the tracker's mask of the frame (atomic), and its probabilities (object ids,
        N×H×W in [0, 1], stored as 8 bits) when given."""
        path = self.mask_path(index)
        if soft is not None:
            self.soft_dir.mkdir(exist_ok=True)
            soft_path = self.soft_dir / path.name
            replace_atomically(
                soft_path,
                lambda tmp: write_soft(tmp, soft[0], quantise(soft[1])),
                f"the probabilities of frame {index} ('{soft_path}')",
            )
        replace_atomically(
            path,
            lambda tmp: write_mask(tmp, ids, list(palette)),
            f"the mask of frame {index} ('{path}')",
        )
        self.tracked.add(index)

    def soft(self, index: int, ids: np.ndarray) -> dict[int, np.ndarray]:
        """The tracker's probability of each object on a frame it computed (uint8 H×W); empty
        for a person's frame (its mask is exact) or one tracked before soft masks were kept."""
        if index in self.human or index not in self.tracked:
            return {}
        planes = read_soft(self.soft_dir / f"{self.names[index]}.png", *ids.shape)
        known = {o.id for o in self.objects}
        return {i: p for i, p in planes.items() if i in known}

    def save_quality(self, rows: Iterable[ObjectQuality]) -> None:
        """Record the drift figures of frames just tracked (replacing theirs) and save them."""
        self.quality.update(quality_table(rows))
        write_quality(self.root / QUALITY, self.quality)

    def pin(self, index: int, pinned: bool = True) -> None:
        """Keep frame ``index`` in the tracker's memory for the rest of the video (or not)."""
        self.check_index(index)
        before = set(self.pinned)
        (self.pinned.add if pinned else self.pinned.discard)(index)
        try:
            self.save_meta()
        except XMemError:
            self.pinned = before
            raise

    def mask_set(self) -> MaskSet:
        """What the export formats read (:mod:`xmem.io.export`)."""
        return MaskSet(
            names=list(self.names),
            width=self.source.width,
            height=self.source.height,
            objects=[ExportObject(o.id, o.name, o.label) for o in self.objects],
            masks=self.masks,
            soft=self.soft,
            frames=self.source,
            palette=self.palette(),
            human=frozenset(self.human),
        )

    def masks(self) -> Iterator[np.ndarray]:
        """Every frame's ids in display order."""
        for index in range(len(self.names)):
            yield self.mask(index)[0]
