"""Figures a person drew or corrected, found on the video to guide tracking.

A figure's labelling status is carried by two flags (``supervisely.annotation.label``
``LabelingStatus``, SDK 6.74.51):

======================  ===========  ===========
status                  nnCreated    nnUpdated
======================  ===========  ===========
AUTO (made by a model)  true         true
CORRECTED (by a person) true         false
MANUAL (by a person)    false        false
======================  ===========  ===========

So a figure is a person's work unless both flags are true; a missing flag counts as false, as
``LabelingStatus.from_flags`` reads it. The app writes its figures with both flags true. The
SDK's ``FigureInfo`` drops the two flags, so figures are listed here with ``figures.list``
(the body the SDK's ``figure.download`` sends) and read as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from xmem.integrations.supervisely.fields import FrameRange, RequestError
from xmem.integrations.supervisely.geometry import SUPPORTED, parse_geometry
from xmem.integrations.supervisely.session import Keyframe, SourceObject

logger = logging.getLogger(__name__)

FIELDS = ["id", "objectId", "geometryType", "geometry", "meta", "nnCreated", "nnUpdated"]


def by_person(figure: dict[str, Any]) -> bool:
    """True for a MANUAL or CORRECTED figure (see the table above)."""
    return not (bool(figure.get("nnCreated")) and bool(figure.get("nnUpdated")))


def frame_of(figure: dict[str, Any]) -> int | None:
    meta = figure.get("meta")
    frame = meta.get("frame") if isinstance(meta, dict) else None
    frame = figure.get("frameIndex") if frame is None else frame
    return frame if isinstance(frame, int) else None


def list_figures(api: Any, dataset_id: int, video_id: int) -> list[dict[str, Any]]:
    """Every figure of a video, as the platform's JSON (all pages)."""
    data: dict[str, Any] = {
        "datasetId": dataset_id,
        "fields": FIELDS,
        "filter": [{"field": "entityId", "operator": "in", "value": [video_id]}],
    }
    figures: list[dict[str, Any]] = []
    page, pages = 1, 1
    while page <= pages:
        reply = api.post("figures.list", {**data, "page": page}).json()
        figures += reply.get("entities", [])
        pages = int(reply.get("pagesCount", 1))
        page += 1
    return figures


def select(
    figures: Sequence[dict[str, Any]],
    objects: Sequence[SourceObject],
    frames: FrameRange,
    references: int = 0,
) -> tuple[Keyframe, ...]:
    """The persons' figures of the tracked objects: every one inside the tracked range (after
    the source), and the nearest ones before the source (in processing order) as references,
    on at most ``references`` frames."""
    positions = {o.object_id: i for i, o in enumerate(objects) if o.object_id is not None}
    sources = {o.figure_id for o in objects}
    tracked = set(frames.indexes[1:])
    inside: list[Keyframe] = []
    before: list[Keyframe] = []
    for figure in figures:
        frame = frame_of(figure)
        object_id = figure.get("objectId")
        position = positions.get(object_id) if isinstance(object_id, int) else None
        if position is None or frame is None or frame == frames.source:
            continue
        if figure.get("id") in sources or not by_person(figure):
            continue
        if figure.get("geometryType") not in SUPPORTED:
            continue
        behind = (frame - frames.source) * frames.step < 0
        if frame not in tracked and not behind:
            continue  # beyond the range
        try:
            geometry = parse_geometry(
                figure["geometryType"], figure.get("geometry"), f"figure {figure.get('id')}"
            )
        except RequestError as error:
            logger.warning("keyframe skipped: %s", error.message)
            continue
        keyframe = Keyframe(frame, position, geometry, figure.get("id"))
        (before if behind else inside).append(keyframe)
    nearest = sorted({k.frame for k in before}, key=lambda f: abs(f - frames.source))
    chosen = set(nearest[: max(0, references)])
    keyframes = tuple(inside + [k for k in before if k.frame in chosen])
    if keyframes:
        logger.info(
            "using %d figures drawn by a person, on frames %s",
            len(keyframes),
            sorted({k.frame for k in keyframes}),
        )
    return keyframes
