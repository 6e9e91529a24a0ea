"""Figures ↔ masks: bitmap and polygon geometries, rasterised or traced at frame size."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from supervisely.geometry.bitmap import Bitmap
from supervisely.geometry.geometry import Geometry
from supervisely.geometry.helpers import deserialize_geometry
from supervisely.geometry.polygon import Polygon
from supervisely.geometry.rectangle import Rectangle

from xmem.integrations.supervisely.fields import RequestError

SUPPORTED = ("bitmap", "polygon")


def parse_geometry(geometry_type: Any, data: Any, what: str) -> Geometry:
    """A bitmap or polygon geometry from its JSON; anything else is a 400 naming ``what``."""
    if geometry_type not in SUPPORTED:
        raise RequestError(
            400, f"{what}: geometry '{geometry_type}' cannot be tracked; use a bitmap or a polygon"
        )
    if not isinstance(data, dict):
        raise RequestError(400, f"{what}: geometry data must be a JSON object")
    try:
        return deserialize_geometry(geometry_type, data)
    except Exception as error:  # the SDK raises many kinds on bad geometry JSON
        raise RequestError(400, f"{what}: invalid {geometry_type} geometry ({error})") from error


def rasterize(geometry: Geometry, height: int, width: int) -> np.ndarray:
    """H×W bool mask of a geometry, cropped to the frame (parts outside it are dropped)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for piece in geometry.crop(Rectangle(0, 0, height - 1, width - 1)):
        piece.draw(mask, color=1)
    return mask.astype(bool)


def drop_specks(mask: np.ndarray, min_part: float) -> np.ndarray:
    """The mask without its connected parts (8-connected) smaller than ``min_part`` × the area
    of its largest part; ``min_part`` 0 keeps everything."""
    if min_part <= 0 or not mask.any():
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 2:  # background and one part
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= min_part * areas.max()) + 1
    return np.isin(labels, keep)


def trace(mask: np.ndarray, geometry_type: str, min_part: float = 0.0) -> list[Geometry]:
    """Geometries of a binary mask in the input's type: one bitmap, or one polygon per
    connected part (holes kept), without the parts smaller than ``min_part`` × the largest
    (:func:`drop_specks`). Empty when the mask is empty."""
    mask = drop_specks(mask, min_part)
    if not mask.any():
        return []
    bitmap = Bitmap(mask)
    if geometry_type == "bitmap":
        return [bitmap]
    return [p for p in bitmap.to_contours() if isinstance(p, Polygon)]
