"""YOLO segmentation (Ultralytics' layout): ``images/<frame>.jpg``, ``labels/<frame>.txt`` with
one line per object part, ``class x1 y1 x2 y2 …`` (corners normalised to 0–1 by the frame's
width and height), and ``data.yaml`` naming the classes. Polygons have no holes and parts of
fewer than 4 pixels are left out: the format's limits."""

from __future__ import annotations

import json
from pathlib import Path

from . import MaskSet, Progress, write_images, write_objects
from .shapes import polygons


def write_yolo(data: MaskSet, folder: Path, progress: Progress) -> dict[str, str]:
    labels = data.labels
    klass = {label: k for k, label in enumerate(labels)}
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for index, ids in enumerate(data.masks()):
        lines = []
        for o in data.objects:
            for points in polygons(ids == o.id):
                xy = points / [data.width, data.height]
                coords = " ".join(f"{v:.6f}" for v in xy.clip(0, 1).ravel())
                lines.append(f"{klass[o.label]} {coords}")
        text = "\n".join(lines) + ("\n" if lines else "")
        (folder / "labels" / f"{data.names[index]}.txt").write_text(text, encoding="utf-8")
        progress(index)
    write_images(data, folder / "images")
    names = "\n".join(
        f"  {k}: {json.dumps(label, ensure_ascii=False)}" for label, k in klass.items()
    )
    yaml = f"path: .\ntrain: images\nval: images\nnames:\n{names}\n"
    (folder / "data.yaml").write_text(yaml, encoding="utf-8")
    return {
        "labels": str(folder / "labels"),
        "images": str(folder / "images"),
        "data": str(folder / "data.yaml"),
        "objects": str(write_objects(data, folder)),
    }
