"""The four request formats of the tracking endpoints, parsed into checked jobs before any work.

- ``/track``: figures by id, fetched from the platform (:func:`legacy_job`);
- ``/track_async``: full figure JSONs (:func:`async_job`);
- ``/track-api``: anonymous geometries (:func:`api_job`);
- ``/track-api-files``: anonymous geometries and the frames, uploaded (:func:`files_job`).

The first three track a platform video, their range clipped to it. A bad request is a
:class:`~.fields.RequestError` raised here, so nothing is written for it. The request control
endpoints name their request with :func:`request_key`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any, BinaryIO

import numpy as np
from supervisely.api.api import Api
from supervisely.imaging import image as sly_image

from xmem.integrations.supervisely.fields import (
    FrameRange,
    RequestError,
    direct_session,
    direction,
    id_list,
    integer,
    pick,
)
from xmem.integrations.supervisely.frames import Frame
from xmem.integrations.supervisely.geometry import parse_geometry
from xmem.integrations.supervisely.keyframes import list_figures, select
from xmem.integrations.supervisely.session import Keyframe, SourceObject, TrackRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Guidance:
    """Which figures a person made on other frames of the tracked objects go to the tracker."""

    keyframes: bool = True  # inside the tracked range (never written over)
    references: int = 0  # frames with such figures before the source, read first as memory


def legacy_job(api: Api, context: dict[str, Any], guidance: Guidance) -> TrackRequest:
    """``/track``: figures by id (``figureIds``), fetched from the platform; the object of
    each is the figure's own (``objectIds`` only checked against it)."""
    track_id = pick(context, "trackId")
    figure_ids = id_list(context, "figureIds")
    object_ids = context.get("objectIds")
    integer(context, "videoId", "video_id")  # checked before any figure is fetched
    objects = []
    for i, figure_id in enumerate(figure_ids):
        figure = api.video.figure.get_info_by_id(figure_id)
        if figure is None:
            raise RequestError(404, f"figure {figure_id} not found")
        geometry = parse_geometry(figure.geometry_type, figure.geometry, f"figure {figure_id}")
        if isinstance(object_ids, list) and i < len(object_ids):
            if object_ids[i] != figure.object_id:
                logger.warning(
                    "figure %s belongs to object %s, not %s (objectIds): using the figure's",
                    figure_id,
                    figure.object_id,
                    object_ids[i],
                )
        objects.append(SourceObject(figure.geometry_type, geometry, figure.object_id, figure_id))
    return _job(api, context, objects, str(track_id), guidance)


def async_job(api: Api, context: dict[str, Any], guidance: Guidance) -> TrackRequest:
    """``/track_async``: full figure JSONs in the request (``figures``)."""
    figures = context.get("figures")
    if not isinstance(figures, list) or not figures:
        raise RequestError(400, "'figures' must be a non-empty list of figure JSONs")
    objects = []
    for i, figure in enumerate(figures):
        if not isinstance(figure, dict):
            raise RequestError(400, f"figures[{i}] is not a figure JSON object")
        figure_id = figure.get("id")
        name = f"figure {figure_id}" if figure_id is not None else f"figures[{i}]"
        geometry_type = figure.get("geometryType", figure.get("geometry_type"))
        geometry = parse_geometry(geometry_type, figure.get("geometry"), name)
        object_id = figure.get("objectId", figure.get("object_id"))
        objects.append(SourceObject(str(geometry_type), geometry, object_id, figure_id))
    return _job(api, context, objects, str(context.get("trackId", "auto")), guidance)


def api_job(api: Api, context: dict[str, Any], guidance: Guidance) -> TrackRequest:
    """``/track-api``: anonymous geometries on a platform video."""
    return _job(api, context, input_geometries(context), "auto", guidance)


def files_job(
    files: list[BinaryIO], settings: dict[str, Any]
) -> tuple[TrackRequest, Iterator[Frame]]:
    """``/track-api-files``: anonymous geometries and the frames uploaded with them (source
    first). The frames are decoded as tracking reaches them; the first one now, for the size."""
    objects = input_geometries(settings)
    source = integer(settings, "frameIndex", "frame_index")
    frames = integer(settings, "frames", "framesCount", minimum=1)
    if len(files) != frames + 1:
        raise RequestError(
            400,
            f"{frames} frames to track need {frames + 1} files (source first), got {len(files)}",
        )
    frame_range = FrameRange(source, direction(settings), frames)
    decoded = decode_files(files, frame_range.indexes)
    first = next(decoded)
    height, width = first[1].shape[:2]
    return TrackRequest(frame_range, tuple(objects), height, width), chain([first], decoded)


def input_geometries(container: Mapping[str, Any]) -> list[SourceObject]:
    """``/track-api`` and ``/track-api-files``: ``[{"type", "data"}, ...]``, no identity."""
    geometries = pick(container, "input_geometries", "inputGeometries")
    if not isinstance(geometries, list) or not geometries:
        raise RequestError(400, "'input_geometries' must be a non-empty list")
    objects = []
    for i, item in enumerate(geometries):
        if not isinstance(item, dict):
            raise RequestError(400, f"input_geometries[{i}] must be {{'type', 'data'}}")
        geometry = parse_geometry(item.get("type"), item.get("data"), f"input_geometries[{i}]")
        objects.append(SourceObject(item["type"], geometry))
    return objects


def decode_files(files: list[BinaryIO], indexes: list[int]) -> Iterator[Frame]:
    """Uploaded frames, decoded one at a time as tracking reaches them."""
    for index, file in zip(indexes, files, strict=True):
        try:
            rgb = sly_image.read_bytes(file.read())
        except Exception as error:
            raise RequestError(400, f"file {index - indexes[0]} is not an image") from error
        yield index, np.ascontiguousarray(rgb[..., :3])


def request_key(context: Mapping[str, Any]) -> str:
    """The ``inference_request_uuid`` of ``/stop_tracking``, ``/pop_tracking_results`` and
    ``/clear_tracking_results``."""
    key = context.get("inference_request_uuid")
    if not isinstance(key, str) or not key:
        raise RequestError(400, "'inference_request_uuid' is missing from the context")
    return key


def pop_range(context: Mapping[str, Any]) -> list[int] | None:
    """The ``[first, last]`` frames whose results ``/pop_tracking_results`` pops (None: all)."""
    frame_range = pick(context, "frameRange", "frame_range", "frames", default=None)
    if frame_range is not None and not (
        isinstance(frame_range, list)
        and len(frame_range) == 2
        and all(isinstance(v, int) for v in frame_range)
    ):
        raise RequestError(400, "'frameRange' must be [first, last]")
    return frame_range


def video_info(api: Api, video_id: int) -> Any:
    info = api.video.get_info_by_id(video_id)
    if info is None:
        raise RequestError(404, f"video {video_id} not found")
    return info


def _job(
    api: Api,
    context: dict[str, Any],
    objects: list[SourceObject],
    track_id: str,
    guidance: Guidance,
) -> TrackRequest:
    """The job of a request on a platform video: its range clipped to the video."""
    video_id = integer(context, "videoId", "video_id")
    source = integer(context, "frameIndex", "frame_index")
    frames = integer(context, "frames", "framesCount", "frames_count", minimum=1)
    video = video_info(api, video_id)
    height = video.frame_height or context.get("frameHeight")
    width = video.frame_width or context.get("frameWidth")
    if not isinstance(height, int) or not isinstance(width, int):
        raise RequestError(400, f"the size of video {video_id} is unknown")
    frame_range = FrameRange.clipped(source, direction(context), frames, video.frames_count)
    return TrackRequest(
        frames=frame_range,
        objects=tuple(objects),
        keyframes=_keyframes(api, video, objects, frame_range, guidance),
        height=height,
        width=width,
        video_id=video_id,
        track_id=track_id,
        session_id=direct_session(context),
    )


def _keyframes(
    api: Api, video: Any, objects: list[SourceObject], frames: FrameRange, guidance: Guidance
) -> tuple[Keyframe, ...]:
    """Figures a person made of these objects on other frames (none for anonymous
    geometries, or when ``keyframes`` is off); a failed lookup only costs the guidance."""
    if not guidance.keyframes or not any(o.object_id is not None for o in objects):
        return ()
    try:
        figures = list_figures(api, video.dataset_id, video.id)
    except Exception as error:
        logger.warning("could not list the video's figures, tracking without them: %s", error)
        return ()
    return select(figures, objects, frames, guidance.references)
