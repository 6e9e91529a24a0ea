"""Soft masks: per object, the tracker's probability of every frame as an 8-bit grey PNG
(``alpha/<object id>/<frame>.png``, 255 = certainly the object), for matting and for training
with soft targets. Frames a person drew are 0 or 255."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from . import MaskSet, Progress, write_objects


def write_alpha(data: MaskSet, folder: Path, progress: Progress) -> dict[str, str]:
    root = folder / "alpha"
    for o in data.objects:
        (root / str(o.id)).mkdir(parents=True, exist_ok=True)
    for index, ids in enumerate(data.masks()):
        soft = data.soft(index, ids)
        for o in data.objects:
            alpha = soft.get(o.id)
            if alpha is None:
                alpha = (ids == o.id).astype("uint8") * 255
            Image.fromarray(alpha, mode="L").save(root / str(o.id) / f"{data.names[index]}.png")
        progress(index)
    return {"alpha": str(root), "objects": str(write_objects(data, folder))}
