"""The Supervisely app and the platform emulator for the app's tests, shared by the test modules.

The SDK's application is a process-wide singleton, so there is one app per test process: every
module's ``app`` fixture gets the same :class:`XMemTracking`, whose engine the ``client``
fixture resets to an identity :class:`Fake`. No retry setting of the SDK is changed: the app's
own :class:`CallPolicy` bounds its calls.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from supervisely.geometry.bitmap import Bitmap

from xmem.inference.tracker import FrameResult, ObjectMasks
from xmem.integrations.supervisely.app import XMemTracking
from xmem.integrations.supervisely.options import ServeOptions
from xmem.integrations.supervisely.platform import CallPolicy

from .emulator import SuperviselyEmulator

H, W, FRAMES = 64, 96, 12
VIDEO = 101
SQUARE = np.zeros((H, W), bool)
SQUARE[10:30, 20:44] = True
POLYGON = {"points": {"exterior": [[50, 40], [50, 56], [82, 56], [82, 40]], "interior": []}}
ENV = {"SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK": "1", "API_TOKEN": "env-token"}


def bitmap_json(mask: np.ndarray) -> dict[str, Any]:
    return {"bitmap": Bitmap(mask).to_json()["bitmap"]}


# -- fake engines: same signature as xmem.Tracker(network, options).track ------------------


class Fake:
    """Repeats the source masks on every frame (bigger objects first, so small ones stay
    visible), optionally losing objects, adding a speck to object 1, failing or sleeping;
    counts calls and concurrency. The source is the annotation naming the most objects; the
    frames of all annotations are kept in ``annotated``."""

    def __init__(
        self,
        lose: tuple[int, ...] = (),
        fail_at: int | None = None,
        delay: float = 0.0,
        speck: bool = False,
    ) -> None:
        self.lose, self.fail_at, self.delay, self.speck = lose, fail_at, delay, speck
        self.calls: list[ObjectMasks] = []
        self.annotated: list[dict[int, tuple[int, ...]]] = []
        self.frames_seen: list[int] = []
        self.started: list[float] = []  # time.monotonic() when each frame's work began
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(
        self, frames: Iterable[tuple[int, np.ndarray]], annotations: Mapping[int, Any]
    ) -> Iterator[FrameResult]:
        assert all(isinstance(a, ObjectMasks) for a in annotations.values())
        self.annotated.append({f: tuple(a.ids) for f, a in annotations.items()})
        source = max(annotations, key=lambda f: len(annotations[f].ids))
        given = annotations[source]
        self.calls.append(given)
        ids = np.zeros(given.masks.shape[1:], np.uint8)
        order = np.argsort([-m.sum() for m in given.masks])
        for k in order:
            ids[given.masks[k].astype(bool)] = given.ids[k]
        for n, (index, rgb) in enumerate(frames):
            with self._lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            try:
                self.frames_seen.append(index)
                self.started.append(time.monotonic())
                assert rgb.shape == (*ids.shape, 3)
                if self.fail_at is not None and n == self.fail_at:
                    raise RuntimeError("boom in the engine")
                time.sleep(self.delay)
                out = ids.copy()
                if index != source:
                    for label in self.lose:
                        out[out == label] = 0
                    if self.speck:
                        out[-3:-1, -3:-1] = 1  # 4 px of object 1 in the corner
            finally:
                with self._lock:
                    self.active -= 1
            yield FrameResult(index, out, given.ids)


# -- fixtures ------------------------------------------------------------------------------


_SHARED: dict[str, Any] = {}


def shared(tmp: Path) -> tuple[SuperviselyEmulator, XMemTracking]:
    """The process's emulator and app, made on first use."""
    if not _SHARED:
        emu = SuperviselyEmulator().start()
        emu.add_video(VIDEO, FRAMES, W, H)
        emu.add_video(202, 400, 1920, 1080)
        emu.add_figure(901, VIDEO, 11, 5, "bitmap", bitmap_json(SQUARE))
        emu.add_figure(902, VIDEO, 12, 5, "polygon", POLYGON)
        emu.add_figure(
            903, VIDEO, 13, 5, "point", {"points": {"exterior": [[3, 4]], "interior": []}}
        )
        big = np.zeros((1080, 1920), bool)
        big[400:700, 800:1200] = True
        emu.add_figure(904, 202, 14, 0, "bitmap", bitmap_json(big))
        env = {**ENV, "SERVER_ADDRESS": emu.address, "SLY_APP_DATA_DIR": str(tmp)}
        env["SMART_CACHE_CONTAINER_DIR"] = str(tmp / "cache")
        os.environ.update(env)
        app = XMemTracking(Fake(), "cpu", options=ServeOptions(chunk=4), progress_interval=0.0)
        app.serve()
        _SHARED.update(emulator=emu, app=app)
    return _SHARED["emulator"], _SHARED["app"]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> SuperviselyEmulator:
    return shared(tmp_path_factory.getbasetemp() / "sly")[0]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> XMemTracking:
    return shared(tmp_path_factory.getbasetemp() / "sly")[1]


@pytest.fixture
def client(app: XMemTracking, emulator: SuperviselyEmulator) -> Iterator[TestClient]:
    emulator.reset()
    app.engine = Fake()
    app.progress_interval = 0.0
    app.min_part = 0.0
    app.policy = CallPolicy()
    app.use_keyframes = True
    app.references = 0
    with TestClient(app.app.get_server()) as c:
        yield c
    settle(app)


def settle(app: XMemTracking, timeout: float = 300.0) -> None:
    """Stop the requests a test left running and wait for them to end, so that none of them
    reaches the platform during the next test (a loaded machine can outlast a test's wait)."""
    manager = app.inference_requests_manager
    with manager._lock:
        requests = list(manager._inference_requests.values())
    running = [r for r in requests if not r.is_finished()]
    for request in running:
        request.stop()
    wait_until(lambda: all(r.is_finished() for r in running), timeout)


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


def progress(emu: SuperviselyEmulator) -> list[tuple[int, int]]:
    return [
        (n["data"]["progress"]["current"], n["data"]["progress"]["total"])
        for n in emu.notifications("videos:fetch-figures-in-range")
    ]


def monotone(steps: list[tuple[int, int]]) -> bool:
    return all(a[0] <= b[0] for a, b in zip(steps, steps[1:], strict=False))


def finished(emu: SuperviselyEmulator) -> bool:
    p = progress(emu)
    return bool(p) and p[-1][0] == p[-1][1]


def track(
    client: TestClient, emu: SuperviselyEmulator, timeout: float = 20.0, **context: Any
) -> dict[str, Any]:
    body = {
        "context": {
            "trackId": "t1",
            "videoId": VIDEO,
            "frameIndex": 5,
            "frames": 3,
            "direction": "forward",
            "objectIds": [11, 12],
            "figureIds": [901, 902],
            **context,
        },
        "state": {},
        "api_token": "user-token",
    }
    r = client.post("/track", json=body)
    assert r.status_code == 200, r.text
    wait_until(lambda: finished(emu) or bool(emu.notifications("videos:tracking-error")), timeout)
    return r.json()


def placed(emu: SuperviselyEmulator) -> set[tuple[int, int]]:
    return {(f["objectId"], f["meta"]["frame"]) for f in emu.created_figures()}
