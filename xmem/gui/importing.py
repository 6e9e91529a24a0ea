"""Import existing masks into a project (issue 24): a folder of PNGs named like the frames
(palette or grey, object ids as pixel values: what ``xmem track`` and DAVIS write) or a COCO
instance-segmentation file (RLE or polygons; images matched to frames by file name). Objects
the project does not have are added (from COCO: named after their track or category, the
category as their class). Masks land as the tracker's (to be corrected and tracked over) or,
with ``keyframes``, as a person's (given to the tracker, never overwritten)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from xmem.errors import XMemError
from xmem.io.export.shapes import decode_coco
from xmem.io.masks import masks_named_like_frames, read_mask

from .objects import MAX_OBJECTS
from .project import Project

logger = logging.getLogger(__name__)


def _ensure_objects(project: Project, found: dict[int, tuple[str | None, str | None]]) -> None:
    """Add the objects of ``found`` (id → (name, class)) that the project lacks."""
    known = {o.id for o in project.objects}
    for object_id in sorted(set(found) - known):
        if not 0 < object_id <= MAX_OBJECTS:
            raise XMemError(f"object id {object_id} cannot be imported (ids are 1 to 255)")
        name, label = found[object_id]
        project.add_object(name, None, label, object_id=object_id)


def _save(project: Project, masks: dict[int, np.ndarray], keyframes: bool) -> int:
    palette = project.palette()
    for index, ids in masks.items():
        if keyframes:
            project.save_annotation(index, ids)
        else:
            project.save_tracked(index, project.check_ids(ids), palette)
    return len(masks)


def import_folder(project: Project, folder: Path, keyframes: bool = False) -> int:
    """PNGs of ``folder`` named like the frames; returns the number of frames imported."""
    paths = masks_named_like_frames(
        folder,
        project.names,
        lambda p: (
            f"mask '{p.name}' names no frame of the video (frames are named like "
            f"'{project.names[0]}')"
        ),
    )
    if not paths:
        raise XMemError(f"'{folder}' has no PNG mask named like a frame")
    masks: dict[int, np.ndarray] = {}
    for index, path in paths.items():
        ids = read_mask(path).ids
        if ids.shape != (project.source.height, project.source.width):
            raise XMemError(
                f"mask '{path}' is {ids.shape[1]}×{ids.shape[0]} but the frames are "
                f"{project.source.width}×{project.source.height}"
            )
        if int(ids.max()) > MAX_OBJECTS:
            raise XMemError(f"mask '{path}' has object ids above {MAX_OBJECTS}")
        masks[index] = ids.astype(np.uint8)
    found: dict[int, tuple[str | None, str | None]] = {
        int(i): (None, None) for m in masks.values() for i in np.unique(m) if i
    }
    _ensure_objects(project, found)
    return _save(project, masks, keyframes)


def _frame_of(project: Project, image: dict[str, Any]) -> int | None:
    stem = Path(str(image.get("file_name", ""))).stem
    if stem in project.index_of:
        return project.index_of[stem]
    index = image.get("frame_index")
    return index if isinstance(index, int) and 0 <= index < len(project.names) else None


def import_coco(project: Project, path: Path, keyframes: bool = False) -> int:
    """A COCO file's masks; an annotation's object is its ``track_id`` (xmem's export), else
    one object per category. Returns the number of frames imported."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        images = {int(i["id"]): i for i in document["images"]}
        categories = {int(c["id"]): str(c["name"]) for c in document.get("categories", [])}
        annotations = list(document["annotations"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise XMemError(f"'{path}' is not a readable COCO file: {exc}") from exc
    h, w = project.source.height, project.source.width
    masks: dict[int, np.ndarray] = {}
    found: dict[int, tuple[str | None, str | None]] = {}
    first_id = project.next_id
    by_category: dict[int, int] = {}
    for a in annotations:
        image = images.get(int(a.get("image_id", -1)))
        index = _frame_of(project, image) if image is not None else None
        if index is None:
            logger.warning("COCO annotation %s is on no frame of the video; skipped", a.get("id"))
            continue
        category = int(a.get("category_id", 0))
        if "track_id" in a:
            object_id = int(a["track_id"])
        else:
            object_id = by_category.setdefault(category, first_id + len(by_category))
        found[object_id] = (a.get("object_name"), categories.get(category))
        mask = decode_coco(a.get("segmentation"), h, w)
        ids = masks.setdefault(index, np.zeros((h, w), dtype=np.uint8))
        ids[mask] = object_id
    if not masks:
        raise XMemError(f"'{path}' has no annotation on a frame of this video")
    _ensure_objects(project, found)
    return _save(project, masks, keyframes)


def import_masks(project: Project, path: str | Path, keyframes: bool = False) -> int:
    """A folder of PNGs or a COCO ``.json`` file (:func:`import_folder`, :func:`import_coco`)."""
    path = Path(path)
    if path.is_dir():
        return import_folder(project, path, keyframes)
    if path.suffix.lower() == ".json" and path.is_file():
        return import_coco(project, path, keyframes)
    raise XMemError(f"'{path}' is neither a folder of PNG masks nor a COCO .json file")
