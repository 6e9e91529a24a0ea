"""Handing tracked frames to the platform while tracking goes on, with honest progress.

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
from collections.abc import Callable

from xmem.integrations.supervisely.session import FrameFigures

logger = logging.getLogger(__name__)

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


def figure_count(frames: list[FrameFigures]) -> int:
    return sum(len(pieces) for f in frames for pieces in f.geometries)


def describe(error: BaseException) -> tuple[str, str]:
    """(name, message) of an error, as tracking-error notifications carry it: the type's name,
    or its ``title`` when it has one for people."""
    return getattr(error, "title", type(error).__name__), str(error) or repr(error)
