"""Figures in the emulator: their area (as the platform reports it) and the checks that
``figures.bulk.add`` makes before it stores anything."""

from __future__ import annotations

import base64
import io
import logging
import zlib
from typing import Any

import numpy as np
from PIL import Image

from .http import HttpError

logger = logging.getLogger(__name__)

GEOMETRY_TYPES = ("bitmap", "polygon", "rectangle", "point", "line", "graph")


def _polygon_area(points: Any) -> float:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _bitmap_area(data: str) -> int:
    img = Image.open(io.BytesIO(zlib.decompress(base64.b64decode(data))))
    if "A" in img.getbands():
        arr = np.asarray(img.getchannel("A"))
    elif img.mode == "P":
        arr = np.asarray(img)  # palette indices: 0 = background
    else:
        arr = np.asarray(img.convert("L"))
    return int(np.count_nonzero(arr))


def geometry_area(geometry_type: str, geometry: dict[str, Any]) -> str | None:
    """Best-effort area in pixels, as the string the platform returns; None when unreadable."""
    try:
        if geometry_type == "bitmap":
            return str(_bitmap_area(geometry["bitmap"]["data"]))
        if geometry_type == "polygon":
            pts = geometry["points"]
            area = _polygon_area(pts["exterior"])
            area -= sum(_polygon_area(hole) for hole in pts.get("interior", []))
            return str(int(round(max(area, 0.0))))
        if geometry_type == "rectangle":
            (left, top), (right, bottom) = geometry["points"]["exterior"]
            return str(int((abs(right - left) + 1) * (abs(bottom - top) + 1)))
        return "0"
    except Exception:  # malformed geometry is allowed (tests may seed it on purpose)
        logger.debug("cannot compute the area of a %s geometry", geometry_type, exc_info=True)
        return None


def check_new_figure(
    index: int, figure: Any, frames_count: int, objects: set[int]
) -> dict[str, Any]:
    """A figure of a ``figures.bulk.add`` body, checked as the platform does (400 otherwise):
    a known object of the video, a frame inside it, a geometry of a known type."""
    where = f"figures[{index}]"
    if not isinstance(figure, dict):
        raise HttpError(400, f"figures.bulk.add: {where} must be an object")
    object_id = figure.get("objectId")
    if object_id not in objects:
        raise HttpError(
            400, f"figures.bulk.add: {where}: object {object_id!r} is not in the video", figure
        )
    meta = figure.get("meta")
    frame = meta.get("frame") if isinstance(meta, dict) else None
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < frames_count:
        raise HttpError(
            400, f"figures.bulk.add: {where}: frame {frame!r} is outside [0, {frames_count})"
        )
    if figure.get("geometryType") not in GEOMETRY_TYPES or not isinstance(
        figure.get("geometry"), dict
    ):
        raise HttpError(400, f"figures.bulk.add: {where}: missing or unknown geometry")
    return figure
