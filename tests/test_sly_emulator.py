"""The Supervisely API emulator, driven through the real SDK client (``supervisely.Api``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests

supervisely = pytest.importorskip("supervisely")

from tests.sly_platform import SuperviselyEmulator, default_frame  # noqa: E402

VIDEO_ID = 101
FRAMES, WIDTH, HEIGHT = 60, 48, 32
POLYGON = {"points": {"exterior": [[2, 2], [12, 2], [12, 10], [2, 10]], "interior": []}}


@pytest.fixture(scope="module")
def emu() -> Iterator[SuperviselyEmulator]:
    with SuperviselyEmulator() as emulator:
        emulator.add_video(VIDEO_ID, FRAMES, WIDTH, HEIGHT)
        emulator.add_figure(901, VIDEO_ID, 11, 2, "polygon", POLYGON)
        yield emulator


@pytest.fixture
def api(emu: SuperviselyEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("SUPERVISELY_PUBLIC_API_RETRY_SLEEP_SEC", "0")
    monkeypatch.setenv("SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK", "1")
    monkeypatch.delenv("SUPERVISELY_TASK_ID", raising=False)
    emu.reset()
    yield supervisely.Api(emu.address, "user-token", ignore_task_id=True)
    emu.reset()


def test_video_info(api: Any, emu: SuperviselyEmulator) -> None:
    info = api.video.get_info_by_id(VIDEO_ID)
    assert (info.id, info.name) == (VIDEO_ID, "clip.mp4")
    assert (info.frames_count, info.frame_width, info.frame_height) == (FRAMES, WIDTH, HEIGHT)
    assert api.video.get_info_by_id(999) is None
    calls = emu.calls("videos.info")
    assert [c.body["id"] for c in calls] == [VIDEO_ID, 999]
    assert all(c.api_key == "user-token" for c in emu.calls())


def test_figure_info(api: Any, emu: SuperviselyEmulator) -> None:
    fig = api.video.figure.get_info_by_id(901)
    assert (fig.id, fig.object_id, fig.class_id, fig.entity_id) == (901, 11, 7, VIDEO_ID)
    assert fig.geometry_type == "polygon" and fig.geometry == POLYGON
    assert fig.meta == {"frame": 2} and fig.area == "80"
    assert api.video.figure.get_info_by_id(12345) is None
    mask = np.zeros((20, 30), dtype=bool)
    mask[4:9, 3:13] = True
    bitmap = emu.add_figure(902, VIDEO_ID, 12, 2, "bitmap", supervisely.Bitmap(mask).to_json())
    assert bitmap["area"] == "50" and bitmap["entityId"] == VIDEO_ID
    assert api.video.figure.get_info_by_id(902).geometry == bitmap["geometry"]


def test_bulk_frames_cross_sdk_batch(api: Any, emu: SuperviselyEmulator) -> None:
    wanted = list(range(3, 58))  # 55 frames: the SDK asks for 50, then 5
    got = list(api.video.frame.download_nps_generator(VIDEO_ID, wanted))
    assert [idx for idx, _ in got] == wanted
    for idx, frame in got:
        np.testing.assert_array_equal(frame, default_frame(VIDEO_ID, idx, WIDTH, HEIGHT))
    assert [c.body["frames"] for c in emu.calls("videos.bulk.download-frame")] == [
        wanted[:50],
        wanted[50:],
    ]


def test_single_frame_and_errors(api: Any, emu: SuperviselyEmulator) -> None:
    frame = api.video.frame.download_np(VIDEO_ID, 7)
    np.testing.assert_array_equal(frame, default_frame(VIDEO_ID, 7, WIDTH, HEIGHT))
    with pytest.raises(requests.HTTPError):
        api.video.frame.download_np(VIDEO_ID, FRAMES)
    with pytest.raises(requests.HTTPError):
        list(api.video.frame.download_nps_generator(VIDEO_ID, [0, FRAMES + 3]))
    with pytest.raises(requests.HTTPError):
        api.post("videos.download", {"id": VIDEO_ID})
    with pytest.raises(requests.HTTPError):
        api.post("no.such.method", {})
    # Each error is a single (non-retried) 4xx call.
    assert len(emu.calls("videos.download-frame")) == 2
    assert len(emu.calls("videos.bulk.download-frame")) == 1


def test_create_bulk(api: Any, emu: SuperviselyEmulator) -> None:
    figures = [
        {"objectId": 11, "geometryType": "polygon", "geometry": POLYGON, "meta": {"frame": f}}
        for f in (3, 4, 5)
    ]
    ids = api.video.figure.create_bulk(figures, entity_id=VIDEO_ID)
    assert len(ids) == 3 and ids == list(range(ids[0], ids[0] + 3)) and ids[0] >= 5000
    created = emu.created_figures()
    assert [f["id"] for f in created] == ids
    assert all(f["entityId"] == VIDEO_ID and f["objectId"] == 11 for f in created)
    assert [f["meta"]["frame"] for f in created] == [3, 4, 5]


def test_notify_stop_after(api: Any, emu: SuperviselyEmulator) -> None:
    emu.stop_after = 3
    answers = [api.video.notify_progress("t1", VIDEO_ID, 5, 8, i, 4) for i in range(1, 5)]
    assert answers == [False, False, True, True]
    api.video.notify_tracking_error("t1", "RuntimeError", "boom")
    notes = emu.notifications("videos:fetch-figures-in-range")
    assert [n["data"]["progress"]["current"] for n in notes] == [1, 2, 3, 4]
    assert notes[0]["data"]["frameRange"] == [5, 8]
    errors = emu.notifications("videos:tracking-error")
    assert len(errors) == 1 and errors[0]["data"]["trackId"] == "t1"
    assert len(emu.notifications()) == 5
    api.post("annotation-tool.run-action", {"sessionId": "s", "action": "a", "payload": {}})
    assert emu.actions() == [{"sessionId": "s", "action": "a", "payload": {}}]


def test_fail_delay_and_reset(api: Any, emu: SuperviselyEmulator) -> None:
    emu.fail["videos.info"] = 403
    with pytest.raises(requests.HTTPError) as err:
        api.post("videos.info", {"id": VIDEO_ID})
    response = err.value.response
    assert response is not None and response.status_code == 403
    assert "error" in response.json()
    emu.fail.clear()
    emu.delay["videos.info"] = 0.3
    start = time.monotonic()
    assert api.video.get_info_by_id(VIDEO_ID) is not None
    assert time.monotonic() - start >= 0.3
    assert len(emu.calls("videos.info")) == 2  # the failed call was logged too
    emu.stop_after = 1
    emu.reset()
    assert emu.calls() == [] and emu.created_figures() == []
    assert (emu.stop_after, emu.delay, emu.fail) == (None, {}, {})
    assert api.video.notify_progress("t1", VIDEO_ID, 0, 1, 1, 1) is False
    assert api.video.get_info_by_id(VIDEO_ID) is not None  # videos are kept


def test_http_surface(emu: SuperviselyEmulator) -> None:
    with requests.Session() as session:  # keep-alive: several requests on one connection
        assert session.get(emu.address + "/").status_code == 404
        assert session.post(emu.address + "/public/api/v2/videos.info", json={}).status_code == 404
        resp = session.post(emu.address + "/public/api/v3/instance.version", json={})
        assert resp.json() == {"version": "6.99.0"}
        resp = session.post(emu.address + "/public/api/v3/videos.info", data=b"{nope")
        assert resp.status_code == 400
    assert emu.calls("videos.info")[-1].body is None


def test_jpeg_and_custom_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISELY_PUBLIC_API_RETRY_SLEEP_SEC", "0")
    monkeypatch.setenv("SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK", "1")
    solid = np.full((16, 24, 3), (200, 40, 90), dtype=np.uint8)
    with SuperviselyEmulator(frame_format="jpeg") as emulator:
        emulator.add_video(5, 4, 24, 16, frame_fn=lambda vid, i: solid)
        api = supervisely.Api(emulator.address, "k", ignore_task_id=True)
        frames = dict(api.video.frame.download_nps_generator(5, [0, 3]))
        assert sorted(frames) == [0, 3]
        assert np.abs(frames[3].astype(int) - solid).max() <= 4
    emulator.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = emulator.address


def test_default_frame() -> None:
    a = default_frame(1, 0, 64, 48)
    assert a.shape == (48, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, default_frame(1, 0, 64, 48))
    assert not np.array_equal(a, default_frame(2, 0, 64, 48))  # background depends on the video
    side, top = 12, 16
    assert (a[top : top + side, :side] == 255).all() and a.max(initial=0) == 255
    assert int(a[:top].max()) < 255  # background stays below the square's value
    b = default_frame(1, 60, 64, 48)  # wraps around the right border
    assert (b[top : top + side, 60:] == 255).all()
    assert (b[top : top + side, : side - 4] == 255).all()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        default_frame(3, 5, 1920, 1080)
        best = min(best, time.perf_counter() - start)
    assert best < 0.05
