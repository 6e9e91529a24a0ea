"""COCO instance segmentation: ``annotations.json`` (one image per frame, one annotation per
object and frame where the object is present, its mask as compressed RLE, as pycocotools
writes it) and ``images/<frame>.jpg``. Each annotation also carries ``track_id`` (the object's
id, the same on every frame) and ``object_name``; the categories are the objects' classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import MaskSet, Progress, write_images, write_objects
from .shapes import bbox, rle


def coco_document(data: MaskSet, progress: Progress) -> dict[str, Any]:
    labels = data.labels
    category = {label: k for k, label in enumerate(labels, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index, ids in enumerate(data.masks()):
        images.append(
            {
                "id": index + 1,
                "file_name": f"{data.names[index]}.jpg",
                "width": data.width,
                "height": data.height,
                "frame_index": index,
            }
        )
        for o in data.objects:
            mask = ids == o.id
            area = int(np.count_nonzero(mask))
            if not area:
                continue
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": category[o.label],
                    "segmentation": rle(mask),
                    "area": area,
                    "bbox": bbox(mask),
                    "iscrowd": 0,
                    "track_id": o.id,
                    "object_name": o.name,
                }
            )
        progress(index)
    return {
        "info": {"description": "exported by xmem", "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": k, "name": label, "supercategory": ""} for label, k in category.items()
        ],
    }


def write_coco(data: MaskSet, folder: Path, progress: Progress) -> dict[str, str]:
    document = coco_document(data, progress)
    path = folder / "annotations.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    write_images(data, folder / "images")
    return {
        "annotations": str(path),
        "images": str(folder / "images"),
        "objects": str(write_objects(data, folder)),
    }
