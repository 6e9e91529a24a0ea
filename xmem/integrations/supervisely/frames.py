"""Frames of a tracking request, fetched ahead in chunks by a background thread.

At most ``depth`` decoded frames wait in the queue, so memory does not grow with the length of
the range; the fetch stops as soon as the consumer closes the iterator (e.g. on Stop).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], depth: int) -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead; errors are re-raised
    here. Closing the returned generator stops the thread at its next item."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    closed = threading.Event()

    def offer(item: object) -> bool:
        while not closed.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_END)
        except BaseException as error:  # handed to the consumer, which re-raises it
            offer(error)

    thread = threading.Thread(target=work, name="xmem-frames", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        closed.set()


def chunked(
    fetch: Callable[[list[int]], Iterable[tuple[int, np.ndarray]]],
    indexes: Sequence[int],
    chunk: int,
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB frame) in the order of ``indexes``, fetched ``chunk`` frames per call."""
    for start in range(0, len(indexes), chunk):
        wanted = list(indexes[start : start + chunk])
        got = dict(fetch(wanted))
        missing = [i for i in wanted if i not in got]
        if missing:
            raise RuntimeError(f"the server did not return frames {missing}")
        for index in wanted:
            yield index, got.pop(index)


def video_frames(
    api: Any, video_id: int | None, indexes: Sequence[int], chunk: int = 16
) -> Generator[tuple[int, np.ndarray], None, None]:
    """Frames of a platform video by bulk download (``videos.bulk.download-frame``), prefetched
    one chunk ahead."""

    def fetch(wanted: list[int]) -> Iterable[tuple[int, np.ndarray]]:
        return api.video.frame.download_nps_generator(video_id, wanted)

    return prefetch(chunked(fetch, indexes, chunk), depth=chunk)
