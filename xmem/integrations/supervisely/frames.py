"""Frames of a tracking request, downloaded ahead in chunks by a background thread.

At most ``depth`` decoded frames wait, so memory does not grow with the length of the range.
:class:`FrameFeed` tells whether the next frame is there (:meth:`FrameFeed.ready`), so the
tracking loop can wait for the platform *without* holding the device, and its iterator gives
up waiting as soon as the request is stopped. The download stops when the feed is closed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

Frame = tuple[int, np.ndarray]
_END = object()
POLL = 0.02  # seconds between Stop checks while waiting for a frame


def chunked(
    fetch: Callable[[list[int]], Iterable[Frame]],
    indexes: Sequence[int],
    chunk: int,
) -> Iterator[Frame]:
    """(index, RGB frame) in the order of ``indexes``, fetched ``chunk`` frames per call."""
    for start in range(0, len(indexes), chunk):
        wanted = list(indexes[start : start + chunk])
        got = dict(fetch(wanted))
        missing = [i for i in wanted if i not in got]
        if missing:
            raise RuntimeError(f"the server did not return frames {missing}")
        for index in wanted:
            yield index, got.pop(index)


def close_iterator(iterator: object) -> None:
    """Close a generator (anything with ``close()``) now, so its cleanup runs in this thread
    and at once; other iterators are left alone."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


class FrameFeed:
    """Frames from ``source`` (iterated by a background thread), at most ``depth`` ahead.

    Iterate it once (the engine does); an error of the source is raised there. ``stopped``
    ends the iteration early, without waiting for the download in flight.
    """

    def __init__(
        self,
        source: Iterable[Frame],
        depth: int,
        stopped: Callable[[], bool] = lambda: False,
        name: str = "xmem-frames",
    ) -> None:
        self._buffer: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._closed = threading.Event()
        self._stopped = stopped
        self.taken = 0  # frames handed to the consumer so far
        self._exhausted = False  # the consumer has seen the end (or the error)
        self._thread = threading.Thread(target=self._work, args=(source,), name=name, daemon=True)
        self._thread.start()

    def ready(self) -> bool:
        """True when the consumer would not wait: a frame (or the end, or an error) is there."""
        return self._exhausted or self._closed.is_set() or not self._buffer.empty()

    def wait(self, enough: Callable[[], bool]) -> None:
        """Block until :meth:`ready`, ``enough()`` (the consumer holds what it needs) or Stop."""
        while not (self.ready() or enough() or self._stopped()):
            threading.Event().wait(POLL)

    def __iter__(self) -> Iterator[Frame]:
        while True:
            try:
                item = self._buffer.get(timeout=POLL)
            except queue.Empty:
                if self._stopped() or self._closed.is_set():
                    return
                continue
            if item is _END:
                self._exhausted = True
                return
            if isinstance(item, BaseException):
                self._exhausted = True
                raise item
            self.taken += 1
            yield item

    def close(self) -> None:
        """Stop the download at its next frame (a call in flight finishes on its own)."""
        self._closed.set()

    def _offer(self, item: object) -> bool:
        while not self._closed.is_set():
            try:
                self._buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, source: Iterable[Frame]) -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                if not self._offer(item):
                    return
            self._offer(_END)
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._offer(error)
        finally:
            close_iterator(iterator)


def video_frames(
    api: Any,
    video_id: int | None,
    indexes: Sequence[int],
    chunk: int = 16,
    stopped: Callable[[], bool] = lambda: False,
) -> FrameFeed:
    """Frames of a platform video by bulk download (``videos.bulk.download-frame``), fetched
    one chunk ahead."""

    def fetch(wanted: list[int]) -> Iterable[Frame]:
        return api.video.frame.download_nps_generator(video_id, wanted)

    return FrameFeed(chunked(fetch, indexes, chunk), depth=chunk, stopped=stopped)


def local_frames(frames: Iterable[Frame]) -> FrameFeed:
    """Frames already in hand (e.g. uploaded with the request), through the same interface."""
    return FrameFeed(frames, depth=2)
