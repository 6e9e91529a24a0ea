"""Handing tracked frames to the platform while tracking goes on, with honest progress.

The payloads are built here too: figures to create (:func:`figure_jsons`), results to queue
(:func:`figure_infos`) and rows to answer (:func:`api_row`), and the annotation tool's progress
and error notifications (:func:`progress_sender`, :func:`notify_error`).

:class:`Publisher` runs the uploads (or queueing) in a background thread behind a bounded queue:
tracking never waits for the network unless the network falls several frames behind, and memory
stays bounded. Stop is checked before every batch, so once a Stop is seen (a notification's
reply, ``/stop_tracking``) nothing that waits in the queue is published. :class:`Progress`
counts frames × objects, only moves forward, is sent at most every ``interval`` seconds, and
always ends at its total (or, on Stop, at what was done).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from supervisely.api.api import Api
from supervisely.api.entity_annotation.figure_api import FigureInfo
from supervisely.geometry.geometry import Geometry

from xmem.integrations.supervisely.platform import CallPolicy, PlatformApi
from xmem.integrations.supervisely.session import FrameFigures, SourceObject, TrackRequest

logger = logging.getLogger(__name__)

ERROR_POLICY = CallPolicy(attempts=3, backoff=0.5, budget=10.0)  # reporting a failure

Send = Callable[[int, int], bool]  # (current, total) -> the user asked to stop


class Progress:
    """Progress of one request in units of object-frames.

    ``send`` delivers a notification and returns True when the reply says the user pressed
    Stop; ``done`` mirrors the count into the SDK's request object.
    """

    def __init__(
        self, total: int, send: Send | None, done: Callable[[int], None], interval: float = 0.0
    ) -> None:
        self.total = total
        self.current = 0
        self._send = send
        self._done = done
        self._interval = interval
        self._last_time = 0.0
        self._last_sent: tuple[int, int] | None = None
        self.stop_requested = threading.Event()
        self._lock = threading.Lock()

    def advance(self, n: int) -> None:
        with self._lock:
            self.current = min(self.total, self.current + n)
            self._done(n)
            due = time.monotonic() - self._last_time >= self._interval
            if due or self.current == self.total:
                self._notify(self.current, self.total)

    def finish(self) -> None:
        """The request is complete: the last notification says current == total."""
        with self._lock:
            self._done(self.total - self.current)
            self.current = self.total
            self._notify(self.total, self.total)

    def cancel(self) -> None:
        """Stopped: close the progress bar at the work done (never a step back)."""
        with self._lock:
            self._notify(self.current, self.current)

    def _notify(self, current: int, total: int) -> None:
        self._last_time = time.monotonic()
        if self._send is None or self._last_sent == (current, total):
            return
        self._last_sent = (current, total)
        if self._send(current, total):
            logger.info("the annotation tool asked to stop tracking")
            self.stop_requested.set()


class Publisher:
    """Calls ``publish`` with batches of tracked frames in a background thread.

    ``put`` blocks while ``depth`` frames wait (back-pressure) and re-raises the worker's error;
    ``close(drain=False)`` drops what is still queued. ``stopped`` is asked before every batch:
    once it is true, nothing more is published (only a batch already being sent completes).
    """

    def __init__(
        self,
        publish: Callable[[list[FrameFigures]], None],
        depth: int = 8,
        batch: int = 8,
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self._publish = publish
        self._stopped = stopped
        self.dropped = 0  # frames left unpublished because of a Stop
        self._queue: queue.Queue[FrameFigures | None] = queue.Queue(maxsize=depth)
        self._batch = batch
        self._drop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="xmem-publish", daemon=True)
        self._thread.start()

    def put(self, frame: FrameFigures) -> None:
        while True:
            self._raise()
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self, drain: bool = True) -> None:
        """Stop the worker: after the queued frames (``drain``) or after the batch in flight."""
        if not drain:
            self._drop.set()
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()
        if drain:
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                if self._drop.is_set():
                    self.dropped += 1
                    continue
                items = [first]
                end = False
                while len(items) < self._batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        end = True
                        break
                    items.append(item)
                if self._drop.is_set() or self._stopped():
                    self.dropped += len(items)
                    self._drop.set()  # drain until the end marker, publishing nothing
                else:
                    self._publish(items)
                if end:
                    return
        except BaseException as error:  # re-raised in the tracking thread
            self.error = error
            self._drop.set()
            while True:  # unblock a producer waiting on a full queue
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break


def describe(error: BaseException) -> tuple[str, str]:
    """(name, message) of an error, as tracking-error notifications carry it: the type's name,
    or its ``title`` when it has one for people."""
    return getattr(error, "title", type(error).__name__), str(error) or repr(error)


# -- notifications to the annotation tool --------------------------------------------------


def progress_sender(api: Api, job: TrackRequest) -> Send:
    """Progress notifications: ``annotation-tool.run-action`` in direct mode (no Stop
    channel there), else ``videos.notify-annotation-tool`` (its reply carries Stop)."""
    a, b = job.frames.span

    def direct(current: int, total: int) -> bool:
        api.vid_ann_tool.set_direct_tracking_progress(
            job.session_id, job.video_id, job.track_id, [a, b], current, total
        )
        return False

    def notify(current: int, total: int) -> bool:
        return bool(api.video.notify_progress(job.track_id, job.video_id, a, b, current, total))

    return direct if job.session_id is not None else notify


def notify_error(
    api: Api, track_id: str, video_id: Any, session_id: str | None, error: BaseException
) -> None:
    """A tracking-error notification (direct-mode action when a session is given); a failure
    to deliver it is only logged."""
    name, message = describe(error)
    api = PlatformApi.around(api, ERROR_POLICY)  # never wait long to report
    try:
        if session_id is not None:
            api.vid_ann_tool.set_direct_tracking_error(
                session_id, video_id, track_id, f"{name}: {message}"
            )
        else:
            api.video.notify_tracking_error(track_id, name, message)
    except Exception:
        logger.exception("could not report the tracking error to the annotation tool")


# -- payloads ------------------------------------------------------------------------------


def pieces(
    job: TrackRequest, frames: list[FrameFigures]
) -> Iterator[tuple[int, SourceObject, Geometry]]:
    """(frame index, object, geometry) for every geometry of the frames, objects in job order."""
    for frame in frames:
        for obj, geometries in zip(job.objects, frame.geometries, strict=True):
            for geometry in geometries:
                yield frame.index, obj, geometry


def figure_jsons(job: TrackRequest, frames: list[FrameFigures]) -> list[dict[str, Any]]:
    """Legacy mode: the figures to create on the video (``figures.bulk.add``)."""
    return [
        {
            "objectId": obj.object_id,
            "geometryType": geometry.geometry_name(),
            "geometry": geometry.to_json(),
            "meta": {"frame": index, "sourceFigureId": obj.figure_id},
            "trackId": job.track_id,
            "nnCreated": True,
            "nnUpdated": True,
        }
        for index, obj, geometry in pieces(job, frames)
    ]


def figure_infos(job: TrackRequest, frames: list[FrameFigures]) -> list[FigureInfo]:
    """Async mode: the results to queue for ``/pop_tracking_results``."""
    return [
        FigureInfo(
            id=uuid.uuid4().hex,
            class_id=None,
            updated_at=None,
            created_at=None,
            entity_id=job.video_id,
            object_id=obj.object_id,
            project_id=None,
            dataset_id=None,
            frame_index=index,
            geometry_type=geometry.geometry_name(),
            geometry=geometry.to_json(),
            geometry_meta=None,
            tags=[],
            meta={"frame": index, "sourceFigureId": obj.figure_id},
            area=None,
        )
        for index, obj, geometry in pieces(job, frames)
    ]


def api_row(frame: FrameFigures, one_per_object: bool) -> list[dict[str, Any] | None]:
    """Synchronous modes: a tracked frame's ``{type, data}`` geometries in input order.
    ``/track-api`` (``one_per_object``): one slot per input geometry, its bitmap or largest
    polygon, null when lost; ``/track-api-files``: every piece."""
    if one_per_object:
        return [_item(max(p, key=lambda g: g.area)) if p else None for p in frame.geometries]
    return [_item(g) for geometries in frame.geometries for g in geometries]


def _item(geometry: Geometry) -> dict[str, Any]:
    return {"type": geometry.geometry_name(), "data": geometry.to_json()}
