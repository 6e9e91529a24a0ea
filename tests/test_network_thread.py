"""One thread loads the model and runs it (xmem/runtime/network_thread.py): the GUI's jobs and
every request of the Supervisely app (issue 24)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tests.nets import tiny_network
from tests.scene import frame, ids
from xmem import Tracker, TrackOptions
from xmem.runtime.network_thread import NetworkThread, advanced_on, on_thread


def test_each_item_is_computed_and_closed_on_the_network_thread() -> None:
    network = NetworkThread()
    seen: list[str] = []

    def numbers() -> Iterator[int]:
        try:
            for i in range(3):
                seen.append(threading.current_thread().name)
                yield i
        finally:
            seen.append("closed on " + threading.current_thread().name)

    items = on_thread(network, numbers)()
    assert next(items) == 0
    items.close()  # stopped early: the generator is closed on the network thread
    assert seen == ["xmem-network", "closed on xmem-network"]
    assert list(on_thread(network, numbers)()) == [0, 1, 2]


def test_an_error_reaches_the_caller() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("bad frame")

    items = advanced_on(NetworkThread(), broken())
    assert next(items) == 1
    with pytest.raises(ValueError, match="bad frame"):
        next(items)


def test_the_supervisely_engine_tracks_on_the_thread_that_loaded_the_model() -> None:
    pytest.importorskip("supervisely")
    from xmem.integrations.supervisely.server import tracking_engine

    network = NetworkThread()
    tracker = network.call(lambda: Tracker(tiny_network(), TrackOptions(size=-1)))
    frames = [(t, frame(t)) for t in range(6)]
    threaded = [r.mask for r in tracking_engine(tracker, network)(frames, {0: ids(0, 1)})]
    plain = [r.mask for r in tracker.track(frames, {0: ids(0, 1)})]
    assert all(np.array_equal(a, b) for a, b in zip(threaded, plain, strict=True))
