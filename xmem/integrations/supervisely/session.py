"""One tracking request: the source objects, and the stream of tracked frames' geometries.

The request's objects are given to the engine as per-object masks (:class:`xmem.ObjectMasks`),
so overlapping figures all keep their own object; results are traced back into each object's
own geometry type, without specks. Figures a person drew or corrected (:class:`Keyframe`) are
given to the engine on their frames, and no tracked figure is made there. The device is held
only while a frame is computed: waiting for the platform happens outside the slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from supervisely.geometry.geometry import Geometry

from xmem import FrameResult, ObjectMasks
from xmem.inference.tracker import READ_AHEAD
from xmem.integrations.supervisely.device import DeviceSlots
from xmem.integrations.supervisely.fields import FrameRange, RequestError
from xmem.integrations.supervisely.frames import FrameFeed, close_iterator
from xmem.integrations.supervisely.geometry import rasterize, trace

logger = logging.getLogger(__name__)

# Tracker(network).track, maybe partly applied: (frames, {frame: annotation}) -> results
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
class Keyframe:
    """A person's figure of one of the job's objects on another frame (see ``keyframes``)."""

    frame: int
    position: int  # index of the object in ``TrackRequest.objects``
    geometry: Geometry
    figure_id: int | None = None


@dataclass(frozen=True)
class TrackRequest:
    """A checked request: what to track, on which frames, at which frame size.

    Making one rasterises the source objects (:attr:`masks`, the only time they are drawn);
    an object with no pixel in the frame is a :class:`RequestError` (400).
    """

    frames: FrameRange
    objects: tuple[SourceObject, ...]
    height: int
    width: int
    video_id: int | None = None
    track_id: str = "auto"
    session_id: str | None = None  # direct progress messages to this annotation-tool session
    keyframes: tuple[Keyframe, ...] = field(default=())
    # N×H×W bool masks of the objects, in order, drawn from their geometries when made
    masks: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", self._source_masks())

    @property
    def references(self) -> list[int]:
        """Frames of keyframes outside the tracked range (before the source in processing
        order), nearest to the source last: they are read first, as extra memory."""
        tracked = set(self.frames.indexes)
        extra = {k.frame for k in self.keyframes if k.frame not in tracked}
        return sorted(extra, key=lambda f: -abs(f - self.frames.source))

    @property
    def feed(self) -> list[int]:
        """Every frame to read, in processing order: references, then source and range."""
        return self.references + self.frames.indexes

    def keyframe_masks(self) -> dict[int, ObjectMasks]:
        """Frame → the keyframes' masks there, labelled like :func:`track_job`'s objects."""
        by_frame: dict[int, dict[int, np.ndarray]] = {}
        for k in self.keyframes:
            mask = rasterize(k.geometry, self.height, self.width)
            if not mask.any():
                continue
            masks = by_frame.setdefault(k.frame, {})
            masks[k.position + 1] = masks.get(k.position + 1, False) | mask
        return {
            frame: ObjectMasks(tuple(masks), np.stack(list(masks.values())))
            for frame, masks in by_frame.items()
        }

    def _source_masks(self) -> np.ndarray:
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
    job: TrackRequest,
    frames: FrameFeed,
    engine: Engine,
    device: DeviceSlots,
    stopped: Callable[[], bool],
    min_part: float = 0.0,
) -> Iterator[FrameFigures]:
    """Track the job's objects through ``frames`` (``job.feed``, in processing order),
    yielding each tracked frame as soon as it is computed. ``stopped`` is checked before
    every frame; the device slot is taken only once the engine has the frame it needs.
    Objects with a keyframe on a frame get no geometry there (the person's figure stays)."""
    labels = tuple(range(1, len(job.objects) + 1))  # engine ids: positions, whatever the ids
    keyframes = job.keyframe_masks()
    kept = {frame: set(given.ids) for frame, given in keyframes.items()}
    annotations: dict[int, np.ndarray | ObjectMasks] = dict(keyframes)
    annotations[job.frames.source] = ObjectMasks(labels, job.masks)
    tracked = set(job.frames.indexes[1:])
    results = engine(frames, annotations)
    computed = [0]  # results the engine gave

    def engine_has_frames() -> bool:
        return frames.taken >= computed[0] + READ_AHEAD

    try:
        while not stopped():
            frames.wait(engine_has_frames)
            if stopped():
                return
            with device:
                result = next(results, None)
            if result is None:
                return
            computed[0] += 1
            if result.index not in tracked:
                continue  # the source frame, or a reference before it
            per_object: list[list[Geometry]] = []
            for label, obj in zip(labels, job.objects, strict=True):
                if label in kept.get(result.index, ()):
                    per_object.append([])  # a person's figure is there
                    continue
                pieces = trace(result.mask == label, obj.geometry_type, min_part)
                if not pieces:
                    logger.info("object %s is not visible on frame %d", obj.object_id, result.index)
                per_object.append(pieces)
            yield FrameFigures(result.index, per_object)
    finally:
        frames.close()  # the engine's reader must not wait for a download that is not needed
        close_iterator(results)
