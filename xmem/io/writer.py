"""Output files written by background threads while the next frames are computed."""

from __future__ import annotations

import collections
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any


class BackgroundWriter:
    """Runs write jobs (e.g. PNG encoding) on ``workers`` threads, at most ``depth`` queued.

    ``submit`` blocks while ``depth`` jobs wait, so memory stays bounded when writing is slower
    than computing. A failed job's error is raised by a later ``submit`` or by ``close``. With
    ``enabled=False`` jobs run in line, in the caller's thread. Use as a context manager: on
    leaving normally every job is finished; on an error, jobs not yet started are dropped.
    """

    def __init__(self, workers: int = 2, depth: int = 8, enabled: bool = True) -> None:
        self.depth = max(1, depth)
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xmem-writer")
            if enabled
            else None
        )
        self._pending: collections.deque[Future[Any]] = collections.deque()

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        if self._pool is None:
            job(*args)
            return
        while self._pending and (len(self._pending) >= self.depth or self._pending[0].done()):
            self._pending.popleft().result()  # raises a failed job's error
        self._pending.append(self._pool.submit(job, *args))

    def close(self) -> None:
        """Finish every job (raising the first error)."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._shutdown(cancel=True)

    def _shutdown(self, cancel: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
        self._pending.clear()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._shutdown(cancel=True)
