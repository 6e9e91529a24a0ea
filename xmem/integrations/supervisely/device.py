"""Turns on the device: requests take slots first come, first served, one frame at a time."""

from __future__ import annotations

import collections
import threading
from types import TracebackType


class DeviceSlots:
    """At most ``n`` holders at once, granted in the order they asked (a FIFO semaphore).

    ``threading.Semaphore`` lets a thread that releases and at once re-acquires jump the
    queue, so one busy request could keep the device from a waiting one; here a request that
    comes back for its next frame queues behind the others.
    """

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self._free = n
        self._lock = threading.Lock()
        self._waiting: collections.deque[threading.Event] = collections.deque()

    def acquire(self) -> None:
        with self._lock:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # release() hands its slot straight to us

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            elif self._free < self.n:
                self._free += 1
            else:
                raise ValueError("released more often than acquired")

    def __enter__(self) -> DeviceSlots:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
