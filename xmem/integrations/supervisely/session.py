"""One tracking request: the source objects, and the stream of tracked frames' geometries.

The request's objects are given to the engine as per-object masks (:class:`xmem.ObjectMasks`),
so overlapping figures all keep their own object; results are traced back into each object's
own geometry type. Device work is bounded by a semaphore shared by all requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from supervisely.geometry.geometry import Geometry

from xmem import FrameResult, ObjectMasks
from xmem.integrations.supervisely.geometry import rasterize, trace
from xmem.integrations.supervisely.protocol import FrameRange, RequestError

logger = logging.getLogger(__name__)

# functools.partial(xmem.track, network, ...): (frames, {frame: annotation}) -> results
Engine = Callable[
    [Iterable[tuple[int, np.ndarray]], Mapping[int, np.ndarray | ObjectMasks]],
    Iterator[FrameResult],
]


@dataclass(frozen=True)
class SourceObject:
    """An object to track: its geometry on the source frame and, when known, its identity."""

    geometry_type: str  # "bitmap" | "polygon": results are given back in this type
    geometry: Geometry
    object_id: int | None = None
    figure_id: int | None = None


@dataclass(frozen=True)
class Job:
    """A checked request: what to track, on which frames, at which frame size."""

    frames: FrameRange
    objects: tuple[SourceObject, ...]
    height: int
    width: int
    video_id: int | None = None
    track_id: str = "auto"
    session_id: str | None = None  # direct progress messages to this annotation-tool session

    def source_masks(self) -> np.ndarray:
        """N×H×W bool masks of the objects; an object with no pixel in the frame is a 400."""
        masks = np.stack([rasterize(o.geometry, self.height, self.width) for o in self.objects])
        for i, mask in enumerate(masks):
            if not mask.any():
                o = self.objects[i]
                name = f"figure {o.figure_id}" if o.figure_id is not None else f"geometry {i}"
                raise RequestError(
                    400, f"{name} has no pixel inside the {self.width}×{self.height} frame"
                )
        return masks


@dataclass(frozen=True)
class FrameFigures:
    """A tracked frame: for each object of the job, in order, its geometries (empty: lost)."""

    index: int
    geometries: list[list[Geometry]]


def track_job(
    job: Job,
    frames: Iterable[tuple[int, np.ndarray]],
    engine: Engine,
    device: threading.Semaphore,
    stopped: Callable[[], bool],
) -> Iterator[FrameFigures]:
    """Track the job's objects through ``frames`` (source first, in processing order), yielding
    each tracked frame as soon as it is computed. ``stopped`` is checked before every frame."""
    masks = job.source_masks()
    labels = tuple(range(1, len(job.objects) + 1))  # engine ids: positions, whatever the ids
    results = engine(frames, {job.frames.source: ObjectMasks(labels, masks)})
    del masks
    try:
        while not stopped():
            with device:
                result = next(results, None)
            if result is None:
                return
            if result.index == job.frames.source:
                continue
            per_object = []
            for label, obj in zip(labels, job.objects, strict=True):
                pieces = trace(result.mask == label, obj.geometry_type)
                if not pieces:
                    logger.info("object %s is not visible on frame %d", obj.object_id, result.index)
                per_object.append(pieces)
            yield FrameFigures(result.index, per_object)
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
