"""CVAT for video 1.1 (``annotations.xml``, interpolation mode): one ``<track>`` per object, a
shape on every frame, ``outside="1"`` where the object is absent. Shapes are polygons (the
object's largest part; CVAT's polygon tracks hold one polygon per frame) or, with
``shape="mask"``, exact masks: CVAT's run-length code of the object's box, row by row,
alternating background and object runs from a background run (``rle``, with ``left``, ``top``,
``width``, ``height``). Frames a person drew are keyframes; the tracker's are not."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from . import MaskSet, Progress, write_objects
from .shapes import bbox, polygons


def cvat_rle(mask: np.ndarray) -> tuple[list[int], list[int]]:
    """CVAT's mask code of a non-empty boolean mask: (runs, [left, top, width, height])."""
    left, top, width, height = bbox(mask)
    flat = mask[top : top + height, left : left + width].ravel().astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)  # the code starts with a background run
    return runs, [left, top, width, height]


def _meta(root: ET.Element, data: MaskSet) -> None:
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    for tag, text in (
        ("name", "xmem export"),
        ("size", str(len(data.names))),
        ("mode", "interpolation"),
        ("start_frame", "0"),
        ("stop_frame", str(len(data.names) - 1)),
    ):
        ET.SubElement(task, tag).text = text
    labels = ET.SubElement(task, "labels")
    for name in data.labels:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "attributes")
    size = ET.SubElement(task, "original_size")
    ET.SubElement(size, "width").text = str(data.width)
    ET.SubElement(size, "height").text = str(data.height)


def _shape(track: ET.Element, frame: int, mask: np.ndarray, shape: str, keyframe: bool) -> bool:
    """Add the object's shape on ``frame``; False when it is absent (nothing added)."""
    common = {"frame": str(frame), "keyframe": str(int(keyframe)), "outside": "0",
              "occluded": "0", "z_order": "0"}  # fmt: skip
    if not mask.any():
        return False
    if shape == "mask":
        runs, (left, top, width, height) = cvat_rle(mask)
        ET.SubElement(track, "mask", {**common, "rle": ", ".join(map(str, runs)),
                      "left": str(left), "top": str(top), "width": str(width),
                      "height": str(height)})  # fmt: skip
        return True
    parts = polygons(mask)
    if not parts:
        return False
    points = ";".join(f"{x:.2f},{y:.2f}" for x, y in parts[0])
    ET.SubElement(track, "polygon", {**common, "points": points})
    return True


def write_cvat(
    data: MaskSet, folder: Path, progress: Progress, shape: str = "polygon"
) -> dict[str, str]:
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    _meta(root, data)
    tracks = {
        o.id: ET.SubElement(root, "track", {"id": str(k), "label": o.label, "source": "manual"})
        for k, o in enumerate(data.objects)
    }
    present = {o.id: False for o in data.objects}
    for index, ids in enumerate(data.masks()):
        for o in data.objects:
            track = tracks[o.id]
            if _shape(track, index, ids == o.id, shape, index in data.human or not present[o.id]):
                present[o.id] = True
            elif present[o.id]:  # it left: CVAT closes the track until it comes back
                last = track[-1]
                ET.SubElement(track, last.tag, {**last.attrib, "frame": str(index),
                              "keyframe": "1", "outside": "1"})  # fmt: skip
                present[o.id] = False
        progress(index)
    ET.indent(root)
    path = folder / "annotations.xml"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return {"annotations": str(path), "objects": str(write_objects(data, folder))}
