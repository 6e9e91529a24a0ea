"""Frames of a tracking request, fetched ahead in chunks by a background thread.

At most ``depth`` decoded frames wait in the queue, so memory does not grow with the length of
the range; the fetch stops as soon as the consumer closes the iterator (e.g. on Stop).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from xmem.io.prefetch import prefetch


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
