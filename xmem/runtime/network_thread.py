"""One thread that runs the network, and generators advanced on it.

Used by ``xmem gui`` (its jobs) and ``xmem serve`` (each request's frames): whatever thread a
request or job arrives on, every PyTorch call runs on the thread that loaded the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")


class _Done:
    """The end of an iterator (``next(it, _DONE)``), told apart from every item by its type."""


_DONE = _Done()


class NetworkThread:
    """The one thread that runs the network: it loads the model (:meth:`call`) and every job.

    PyTorch's CPU thread pool (OpenMP) belongs to the thread that calls it. Had the model been
    loaded on the main thread and run on a job thread, two pools would live side by side: more
    OpenMP threads than cores, and then libgomp stops spinning between parallel regions, so each
    of the many small convolutions waits for threads to wake up. On 2 cores that made tracking
    in the GUI 24 % slower than ``xmem track`` (docs/gui.md, "Speed"). ``xmem gui`` and
    ``xmem serve`` both load their model on one and track on it.
    """

    def __init__(self) -> None:
        self._tasks: SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="xmem-network", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            task, future = self._tasks.get()
            try:
                future.set_result(task())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

    def submit(self, task: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._tasks.put((task, future))
        return future

    def call(self, task: Callable[[], T]) -> T:
        """Run ``task`` on the network's thread and return its result (or raise its error)."""
        return self.submit(task).result()


def advanced_on(network: NetworkThread, iterator: Iterator[T]) -> Generator[T, None, None]:
    """``iterator``'s items, each computed on ``network``'s thread (and closed there)."""
    try:
        while True:
            item: T | _Done = network.call(lambda: next(iterator, _DONE))
            if isinstance(item, _Done):
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            network.call(close)


def on_thread(
    network: NetworkThread, engine: Callable[..., Iterator[T]]
) -> Callable[..., Generator[T, None, None]]:
    """``engine`` (a generator function, e.g. ``Tracker.track``) whose generators advance on
    ``network``'s thread."""

    def run(*args: Any, **kwargs: Any) -> Generator[T, None, None]:
        return advanced_on(network, engine(*args, **kwargs))

    return run
