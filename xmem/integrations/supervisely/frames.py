"""Frames of a tracking request, downloaded ahead in chunks by a background thread.

The feed is the package's one read-ahead queue (:class:`xmem.io.prefetch.Prefetch`): at most
``depth`` decoded frames wait, so memory does not grow with the length of the range; it tells
whether the next frame is there (``ready``), so the tracking loop can wait for the platform
*without* holding the device, and its iterator gives up waiting as soon as the request is
stopped. The download stops when the feed is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from xmem.io.prefetch import Prefetch

logger = logging.getLogger(__name__)

Frame = tuple[int, np.ndarray]
FrameFeed = Prefetch[Frame]


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
        frames: Iterable[Frame] = api.video.frame.download_nps_generator(video_id, wanted)
        return frames

    return Prefetch(chunked(fetch, indexes, chunk), chunk, stopped=stopped, name="xmem-frames")


def local_frames(frames: Iterable[Frame]) -> FrameFeed:
    """Frames already in hand (e.g. uploaded with the request), through the same interface."""
    return Prefetch(frames, 2, name="xmem-frames")
