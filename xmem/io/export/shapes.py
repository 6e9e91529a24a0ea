"""Masks as the shapes of training formats: polygons (OpenCV's contours), COCO RLE
(pycocotools), and the bounding box. Both packages are the ``export`` extra."""

from __future__ import annotations

from typing import Any

import numpy as np

from xmem.errors import XMemError

MIN_POLYGON_AREA = 4.0  # pixels: smaller parts (specks) are left out of polygons


def _module(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except ImportError as exc:
        raise XMemError(
            f'this export format needs {name.split(".")[0]}: pip install "xmem[export]"'
        ) from exc


def polygons(mask: np.ndarray) -> list[np.ndarray]:
    """The outer outlines of a boolean H×W mask's parts, each K×2 float (x, y) pixel corners,
    largest part first. Holes are not kept (polygon formats have none)."""
    cv2 = _module("cv2")
    contours, _ = cv2.findContours(
        np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    found = []
    for c in contours:
        if len(c) >= 3 and cv2.contourArea(c) >= MIN_POLYGON_AREA:
            found.append((cv2.contourArea(c), c.reshape(-1, 2).astype(np.float64)))
    found.sort(key=lambda item: -item[0])
    return [points for _, points in found]


def rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO's compressed RLE of a boolean H×W mask: ``{"size": [H, W], "counts": str}``."""
    coco_mask = _module("pycocotools.mask")
    encoded = coco_mask.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def bbox(mask: np.ndarray) -> list[int]:
    """``[x, y, width, height]`` of a non-empty boolean mask."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]


def decode_coco(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO segmentation (RLE, uncompressed RLE or polygons) as a boolean H×W mask."""
    coco_mask = _module("pycocotools.mask")
    if isinstance(segmentation, list):  # polygons
        rles = coco_mask.frPyObjects(segmentation, height, width)
        encoded = coco_mask.merge(rles)
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        encoded = coco_mask.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict):
        counts = segmentation["counts"]
        encoded = {
            "size": segmentation["size"],
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
        }
    else:
        raise XMemError(f"not a COCO segmentation: {str(segmentation)[:80]}")
    if list(encoded["size"]) != [height, width]:
        raise XMemError(
            f"a COCO mask is {encoded['size'][1]}×{encoded['size'][0]}, the frames {width}×{height}"
        )
    decoded: np.ndarray = coco_mask.decode(encoded)
    return decoded.astype(bool)
