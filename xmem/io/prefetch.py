"""Iterate in a background thread, a bounded number of items ahead.

Used to decode frames while the network runs (``xmem.track``) and to download frames while
the Supervisely app tracks. At most ``depth`` items wait, so memory does not grow with the
length of the video; closing the consumer stops the producer at its next item.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()


def prefetch(
    items: Iterable[T], depth: int, join: bool = False, name: str = "xmem-prefetch"
) -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead; its errors are
    re-raised here.

    Closing the returned generator stops the thread at its next item. With ``join``, closing
    also waits for the thread to be done with ``items`` (e.g. before the video it decodes is
    closed); without it, a thread blocked on a slow item (a download) is left to finish alone.
    """
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
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer(item):
                    return
            offer(_END)
        except BaseException as error:  # handed to the consumer, which re-raises it
            offer(error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # a generator's cleanup runs in the thread that iterated it

    thread = threading.Thread(target=work, name=name, daemon=True)
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
        if join:
            thread.join()
