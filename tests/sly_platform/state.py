"""The emulated platform's state: videos, figures, objects, app sessions, the call log and the
injected faults, with the methods tests use to seed and inspect it."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .faults import Fault
from .figures import geometry_area
from .frames import default_frame
from .http import HttpError

FrameFn = Callable[[int, int], npt.NDArray[np.uint8]]

NOTIFY_METHOD = "videos.notify-annotation-tool"
ACTION_METHOD = "annotation-tool.run-action"
FIRST_CREATED_ID = 5000
TIMESTAMP = "2024-01-01T00:00:00.000Z"


@dataclass
class Call:
    """One API call received by the emulator."""

    method: str  # e.g. "videos.info"
    body: Any  # parsed JSON request body (dict), or None
    api_key: str | None  # the x-api-key header
    time: float  # time.monotonic() when received
    status: int | None = None  # the answer's HTTP status, once answered
    answered: float | None = None  # time.monotonic() when the answer was ready


@dataclass(frozen=True)
class Video:
    info: dict[str, Any]
    frames_count: int
    width: int
    height: int
    frame_fn: FrameFn


class PlatformState:
    """What the platform holds (videos, figures, objects, sessions), the call log and the
    injected faults: seeding and inspection. :class:`SuperviselyEmulator` serves it."""

    def __init__(self) -> None:
        #: When n, the n-th and later "videos:fetch-figures-in-range" notifications (1-based,
        #: counted since the last reset) answer {"stopped": true}.
        self.stop_after: int | None = None
        #: method -> seconds to sleep before answering (after the call is logged).
        self.delay: dict[str, float] = {}
        #: method -> HTTP status to answer with (after the call is logged).
        self.fail: dict[str, int] = {}
        #: figures per page of ``figures.list``
        self.page_size = 50
        self._faults: list[Fault] = []
        self._tasks: set[int] = set()
        self._objects: dict[int, set[int]] = {}  # video -> object ids
        self._stop_answered: float | None = None
        self._lock = threading.Lock()
        self._videos: dict[int, Video] = {}
        self._figures: dict[int, dict[str, Any]] = {}
        self._calls: list[Call] = []
        self._created: list[dict[str, Any]] = []
        self._next_figure_id = FIRST_CREATED_ID
        self._fetch_notifications = 0

    # ------------------------------------------------------------------ seeding

    def add_video(
        self,
        video_id: int,
        frames_count: int,
        width: int,
        height: int,
        name: str = "clip.mp4",
        frame_fn: FrameFn | None = None,
    ) -> dict[str, Any]:
        """Register (or replace) a video; returns its ``videos.info`` JSON.

        ``frame_fn(video_id, frame_index)`` must return an RGB ``uint8`` array of shape
        ``(height, width, 3)``; it is called on every frame request (from worker threads). The
        default is :func:`default_frame`.
        """
        if frames_count <= 0 or width <= 0 or height <= 0:
            raise ValueError("frames_count, width and height must be positive")
        if frame_fn is None:

            def frame_fn(vid: int, index: int) -> npt.NDArray[np.uint8]:
                return default_frame(vid, index, width, height)

        info: dict[str, Any] = {
            "id": video_id,
            "name": name,
            "fileMeta": {
                "framesCount": frames_count,
                "width": width,
                "height": height,
                "size": "1000",
            },
            "datasetId": 1,
            "projectId": 1,
            "teamId": 1,
            "workspaceId": 1,
            "framesCount": frames_count,
        }
        video = Video(info, frames_count, width, height, frame_fn)
        with self._lock:
            self._videos[video_id] = video
        return copy.deepcopy(info)

    def add_figure(
        self,
        figure_id: int,
        video_id: int,
        object_id: int,
        frame: int,
        geometry_type: str,
        geometry: dict[str, Any],
        class_id: int = 7,
        nn_created: bool = False,
        nn_updated: bool = False,
    ) -> dict[str, Any]:
        """Register (or replace) a figure on a registered video; returns its full JSON.

        The JSON is what ``figures.info`` answers and what ``/track_async`` takes in
        ``context.figures``. ``nn_created``/``nn_updated``: the labelling status (both false:
        drawn by a person; created true, updated false: a model's figure a person corrected).
        """
        with self._lock:
            video = self._videos.get(video_id)
        if video is None:
            raise ValueError(f"video {video_id} is not registered: call add_video() first")
        if not 0 <= frame < video.frames_count:
            raise ValueError(f"frame {frame} is outside [0, {video.frames_count})")
        fig: dict[str, Any] = {
            "id": figure_id,
            "objectId": object_id,
            "classId": class_id,
            "entityId": video_id,
            "projectId": video.info["projectId"],
            "datasetId": video.info["datasetId"],
            "geometryType": geometry_type,
            "geometry": copy.deepcopy(geometry),
            "geometryMeta": {},
            "meta": {"frame": frame},
            "tags": [],
            "area": geometry_area(geometry_type, geometry),
            "priority": None,
            "nnCreated": nn_created,
            "nnUpdated": nn_updated,
            "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP,
        }
        with self._lock:
            self._figures[figure_id] = fig
            self._objects.setdefault(video_id, set()).add(object_id)
        return copy.deepcopy(fig)

    def add_object(self, video_id: int, object_id: int) -> None:
        """Register an object of a video (``figures.bulk.add`` accepts only known objects)."""
        with self._lock:
            self._objects.setdefault(video_id, set()).add(object_id)

    def add_task(self, task_id: int) -> None:
        """Register an app session (``tasks.info``, ``tasks.data.get``; production start)."""
        with self._lock:
            self._tasks.add(task_id)

    def inject(
        self,
        method: str,
        status: int | None = None,
        delay: float = 0.0,
        first: int = 1,
        count: int | None = None,
        video: int | None = None,
    ) -> Fault:
        """Answer ``status`` (None: the real answer) after ``delay`` s to the calls of
        ``method`` numbered ``first`` … (``count`` of them, None: all), only those about
        ``video`` when given. Cleared by :meth:`reset`."""
        fault = Fault(method, status, delay, first, count, video)
        with self._lock:
            self._faults.append(fault)
        return fault

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[Call]:
        """A copy of the call log, in arrival order, optionally only calls of ``method``."""
        with self._lock:
            log = list(self._calls)
        return log if method is None else [c for c in log if c.method == method]

    def notifications(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Bodies of ``videos.notify-annotation-tool`` calls, optionally only of ``type_``."""
        bodies = [c.body for c in self.calls(NOTIFY_METHOD) if isinstance(c.body, dict)]
        return bodies if type_ is None else [b for b in bodies if b.get("type") == type_]

    def actions(self) -> list[dict[str, Any]]:
        """Bodies of ``annotation-tool.run-action`` calls."""
        return [c.body for c in self.calls(ACTION_METHOD) if isinstance(c.body, dict)]

    def stop_answered(self) -> float | None:
        """When (``time.monotonic()``) the first ``stopped: true`` reply was sent."""
        return self._stop_answered

    def created_figures(self) -> list[dict[str, Any]]:
        """Every figure received by ``figures.bulk.add``, in order, with ``id`` and ``entityId``."""
        with self._lock:
            return [dict(f) for f in self._created]

    def reset(self) -> None:
        """Clear the call log, created figures, ``stop_after``, ``delay`` and ``fail``.

        Registered videos and figures are kept; ids given to created figures keep counting up.
        """
        with self._lock:
            self._calls.clear()
            self._created.clear()
            self._fetch_notifications = 0
            self.stop_after = None
            self.delay.clear()
            self.fail.clear()
            self._faults.clear()
            self._stop_answered = None

    def _video(self, video_id: int) -> Video:
        with self._lock:
            video = self._videos.get(video_id)
        if video is None:
            raise HttpError(404, f"video {video_id} not found", {"id": video_id})
        return video
