"""DAVIS layout: one palette PNG per frame (object ids as pixel values), as ``xmem track``
writes, and ``objects.json`` with the objects' names and classes."""

from __future__ import annotations

from pathlib import Path

from xmem.io.masks import write_mask

from . import MaskSet, Progress, write_objects


def write_davis(data: MaskSet, folder: Path, progress: Progress) -> dict[str, str]:
    masks = folder / "masks"
    masks.mkdir(parents=True, exist_ok=True)
    for index, ids in enumerate(data.masks()):
        write_mask(masks / f"{data.names[index]}.png", ids, data.palette)
        progress(index)
    return {"masks": str(masks), "objects": str(write_objects(data, folder))}
