"""The one bounded read-ahead queue: items produced by a background thread, a few ahead.

Used wherever work waits on input: ``Tracker.track`` decodes and resizes frames ahead of the
network (``overlap_io``), and the Supervisely app downloads a request's frames ahead of the
tracker. At most ``depth`` items wait, so memory does not grow with the length of the video;
closing the queue stops the producer at its next item.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_END = object()
POLL = 0.02  # seconds between checks of ``stopped`` while the consumer waits


def _never() -> bool:
    return False


class Prefetch(Generic[T]):
    """``items`` iterated by a background thread, at most ``depth`` ahead of the consumer.

    Iterate it once; an error raised by ``items`` is raised there. :meth:`close` stops the
    thread at its next item: with ``join`` it also waits for the thread to be done with
    ``items`` (e.g. before the video it decodes is closed); without it, a thread blocked on a
    slow item (a download) is left to finish alone. ``stopped`` ends the iteration early,
    without waiting for the item in flight (a request stopped by its user).
    """

    def __init__(
        self,
        items: Iterable[T],
        depth: int,
        *,
        join: bool = False,
        stopped: Callable[[], bool] = _never,
        name: str = "xmem-prefetch",
    ) -> None:
        self._buffer: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._closed = threading.Event()
        self._join = join
        self._stopped = stopped
        self._exhausted = False  # the consumer has seen the end (or the error)
        self.taken = 0  # items handed to the consumer so far
        self._thread = threading.Thread(target=self._work, args=(items,), name=name, daemon=True)
        self._thread.start()

    def ready(self) -> bool:
        """True when the consumer would not wait: an item (or the end, or an error) is there."""
        return self._exhausted or self._closed.is_set() or not self._buffer.empty()

    def wait(self, enough: Callable[[], bool]) -> None:
        """Block until :meth:`ready`, ``enough()`` (the consumer holds what it needs) or
        ``stopped()``."""
        while not (self.ready() or enough() or self._stopped()):
            self._closed.wait(POLL)

    def __iter__(self) -> Iterator[T]:
        try:
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
        finally:
            if self._exhausted:
                self.close()

    def close(self) -> None:
        """Stop the producer at its next item (and with ``join``, wait until it stopped)."""
        self._closed.set()
        if self._join and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _offer(self, item: object) -> bool:
        while not self._closed.is_set():
            try:
                self._buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, items: Iterable[T]) -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not self._offer(item):
                    return
            self._offer(_END)
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._offer(error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # a generator's cleanup runs in the thread that iterated it
