"""The Supervisely app against the loopback platform emulator, through the real SDK.

One app per process (the SDK's application is a singleton): the tests swap its engine for
deterministic fakes (identity, lose an object, fail, slow); ``test_sly_serve.py`` runs the real
network end to end through ``xmem serve``.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from typing import Any

import numpy as np
import pytest

sly = pytest.importorskip("supervisely")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from supervisely.geometry.helpers import deserialize_geometry  # noqa: E402

from tests.sly_platform import SuperviselyEmulator, default_frame, harness  # noqa: E402
from tests.sly_platform.harness import (  # noqa: E402
    POLYGON,
    SQUARE,
    VIDEO,
    Fake,
    H,
    W,
    bitmap_json,
    finished,
    monotone,
    placed,
    progress,
    track,
    wait_until,
)
from xmem.integrations.supervisely import session  # noqa: E402
from xmem.integrations.supervisely.geometry import rasterize  # noqa: E402
from xmem.runtime.machine import current_rss_mb  # noqa: E402

app, client, emulator = harness.app, harness.client, harness.emulator  # the shared fixtures

# -- /track (legacy: the app creates the figures) -----------------------------------------


def test_track_forward_two_objects_of_mixed_geometry(
    client: TestClient, emulator: SuperviselyEmulator
) -> None:
    reply = track(client, emulator)
    assert reply["message"] == "Tracking has started." and reply["inference_request_uuid"]
    figures = emulator.created_figures()
    assert placed(emulator) == {(o, f) for o in (11, 12) for f in (6, 7, 8)}
    for f in figures:
        assert f["entityId"] == VIDEO and f["trackId"] == "t1" and f["nnCreated"] is True
        assert f["geometryType"] == {11: "bitmap", 12: "polygon"}[f["objectId"]]
        assert f["meta"]["sourceFigureId"] == {11: 901, 12: 902}[f["objectId"]]
        geometry = deserialize_geometry(f["geometryType"], f["geometry"])
        box = geometry.to_bbox()
        assert 0 <= box.left and box.right < W and 0 <= box.top and box.bottom < H
    bitmap = next(f for f in figures if f["objectId"] == 11)
    decoded = np.zeros((H, W), np.uint8)
    deserialize_geometry("bitmap", bitmap["geometry"]).draw(decoded, 1)
    assert np.array_equal(decoded.astype(bool), SQUARE)  # the identity engine's mask, exactly
    assert {c.api_key for c in emulator.calls()} == {"user-token"}
    steps = progress(emulator)
    assert steps[-1] == (6, 6) and monotone(steps)
    ranges = {tuple(n["data"]["frameRange"]) for n in emulator.notifications()}
    assert ranges == {(5, 8)}


@pytest.mark.parametrize("path", ["/track", "/track-api"])
def test_source_figures_are_rasterised_once_per_request(
    client: TestClient,
    emulator: SuperviselyEmulator,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    drawn: list[str] = []

    def counting(geometry: Any, height: int, width: int) -> np.ndarray:
        drawn.append(geometry.geometry_name())
        return rasterize(geometry, height, width)

    monkeypatch.setattr(session, "rasterize", counting)
    if path == "/track":
        track(client, emulator)
    else:
        assert client.post(path, json=api_body()).status_code == 200
    assert sorted(drawn) == ["bitmap", "polygon"]  # each source figure once, no keyframes


def test_track_backward_writes_before_the_source_frame(
    client: TestClient, emulator: SuperviselyEmulator
) -> None:
    track(client, emulator, direction="backward")
    assert placed(emulator) == {(o, f) for o in (11, 12) for f in (4, 3, 2)}
    assert {tuple(n["data"]["frameRange"]) for n in emulator.notifications()} == {(2, 5)}


def test_frames_are_fetched_in_bulk_chunks_in_tracking_order(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    track(client, emulator, direction="backward", frames=5)
    asked = [c.body["frames"] for c in emulator.calls("videos.bulk.download-frame")]
    assert asked == [[5, 4, 3, 2], [1, 0]]  # chunk=4; the source frame first
    assert not emulator.calls("videos.download-frame")
    assert app.engine.frames_seen == [5, 4, 3, 2, 1, 0]


def test_range_is_clipped_to_the_video(client: TestClient, emulator: SuperviselyEmulator) -> None:
    track(client, emulator, frameIndex=10, frames=5)
    assert placed(emulator) == {(11, 11), (12, 11)}
    assert progress(emulator)[-1] == (2, 2)


def test_objects_come_from_the_figures_not_the_object_ids(
    client: TestClient, emulator: SuperviselyEmulator
) -> None:
    track(client, emulator, objectIds=[12, 11])  # swapped: the figures say otherwise
    assert {f["objectId"] for f in emulator.created_figures() if f["geometryType"] == "bitmap"} == {
        11
    }


def test_overlapping_objects_are_all_tracked(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    inner = np.zeros((H, W), bool)
    inner[15:20, 25:30] = True  # inside figure 901, which is drawn after it
    emulator.add_figure(905, VIDEO, 15, 5, "bitmap", bitmap_json(inner))
    track(client, emulator, figureIds=[905, 901], objectIds=[15, 11])
    (given,) = app.engine.calls
    assert given.masks.shape == (2, H, W) and all(m.any() for m in given.masks)
    assert placed(emulator) == {(o, f) for o in (15, 11) for f in (6, 7, 8)}


def test_a_lost_object_gets_no_figures_and_progress_still_ends(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(lose=(2,))
    track(client, emulator)
    assert placed(emulator) == {(11, f) for f in (6, 7, 8)}
    assert progress(emulator)[-1] == (6, 6)


def test_stop_from_the_notification_reply(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(delay=0.05)
    emulator.stop_after = 3
    started = time.monotonic()
    reply = track(client, emulator, frameIndex=0, frames=11)
    assert time.monotonic() - started < 5
    calls = emulator.calls()
    stop_at = [i for i, c in enumerate(calls) if c.method == "videos.notify-annotation-tool"][2]
    uploads_after = [c for c in calls[stop_at:] if c.method == "figures.bulk.add"]
    assert not uploads_after  # the uploader reads the reply itself: nothing after it
    stop = emulator.stop_answered()
    assert stop is not None
    assert sum(t > stop for t in app.engine.started) <= 2  # Stop within a frame (or two: load)
    steps = progress(emulator)
    assert monotone(steps)
    assert steps[-1][0] == steps[-1][1] < 22
    deadline = time.monotonic() + 10  # the request's thread marks it a moment after progress
    while True:
        state = client.post(
            "/pop_tracking_results",
            json={"context": {"inference_request_uuid": reply["inference_request_uuid"]}},
        ).json()
        if state["stage"] != "Running inference..." or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert state["stage"] == "Cancelled"


def test_error_in_tracking_is_notified(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(fail_at=2)
    track(client, emulator)
    (error,) = emulator.notifications("videos:tracking-error")
    assert error["data"]["trackId"] == "t1"
    assert error["data"]["error"]["message"] == "RuntimeError: boom in the engine"


def test_a_failing_frame_download_is_notified(
    client: TestClient, emulator: SuperviselyEmulator
) -> None:
    emulator.fail = {"videos.bulk.download-frame": 403}
    track(client, emulator)
    (error,) = emulator.notifications("videos:tracking-error")
    assert error["data"]["error"]["message"].startswith("HTTPError")
    assert not emulator.calls("figures.bulk.add") and not progress(emulator)


def test_error_in_direct_mode_is_a_run_action(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(fail_at=1)
    body = {
        "context": {
            "trackId": "t2",
            "videoId": VIDEO,
            "frameIndex": 5,
            "frames": 3,
            "figureIds": [901],
            "useDirectProgressMessages": True,
            "sessionId": "sess-42",
        }
    }
    assert client.post("/track", json=body).status_code == 200
    wait_until(lambda: any(a["payload"].get("type") == "error" for a in emulator.actions()))
    errors = [a for a in emulator.actions() if a["payload"].get("type") == "error"]
    assert errors[0]["sessionId"] == "sess-42"
    assert errors[0]["payload"]["error"]["message"] == "RuntimeError: boom in the engine"


def test_requests_run_concurrently_but_the_device_is_shared(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(delay=0.02)
    for track_id in ("a", "b"):
        body = {
            "context": {
                "trackId": track_id,
                "videoId": VIDEO,
                "frameIndex": 0,
                "frames": 8,
                "figureIds": [901],
            }
        }
        assert client.post("/track", json=body).status_code == 200

    def both_done() -> bool:
        ends = {n["data"]["trackId"]: n["data"]["progress"] for n in emulator.notifications()}
        return all(k in ends and ends[k]["current"] == ends[k]["total"] == 8 for k in "ab")

    wait_until(both_done)
    assert len(app.engine.calls) == 2 and app.engine.max_active == 1
    assert len(emulator.created_figures()) == 16


# -- malformed requests: a clear 4xx and nothing written -----------------------------------


@pytest.mark.parametrize(
    "context, status, words",
    [
        ({"videoId": None}, 400, "videoId"),
        ({"videoId": 999}, 404, "video 999"),
        ({"figureIds": [901, 4242]}, 404, "figure 4242"),
        ({"figureIds": [903]}, 400, "point"),
        ({"frameIndex": 12}, 400, "outside the video"),
        ({"frames": 0}, 400, "frames"),
        ({"direction": "sideways"}, 400, "direction"),
        ({"figureIds": []}, 400, "figureIds"),
    ],
)
def test_malformed_track_requests(
    client: TestClient,
    emulator: SuperviselyEmulator,
    context: dict[str, Any],
    status: int,
    words: str,
) -> None:
    body = {
        "context": {
            "trackId": "t1",
            "videoId": VIDEO,
            "frameIndex": 5,
            "frames": 3,
            "figureIds": [901],
            **context,
        }
    }
    r = client.post("/track", json=body)
    assert r.status_code == status and words in r.json()["message"]
    assert r.json()["success"] is False
    time.sleep(0.1)
    assert not emulator.calls("figures.bulk.add") and not emulator.calls(
        "videos.bulk.download-frame"
    )
    (error,) = emulator.notifications("videos:tracking-error")  # the tool learns why
    assert words in error["data"]["error"]["message"]


@pytest.mark.parametrize("path", ["/track", "/track_async", "/track-api", "/stop_tracking"])
def test_non_json_bodies_are_rejected(client: TestClient, path: str) -> None:
    r = client.post(path, content=b"videoId=101", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    r = client.post(path, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = client.post(path, json=[1, 2])
    assert r.status_code == 400 and "context" in r.json()["message"]


def test_unknown_or_missing_request_ids(client: TestClient) -> None:
    for path in ("/stop_tracking", "/pop_tracking_results", "/clear_tracking_results"):
        assert client.post(path, json={"context": {}}).status_code == 400
        r = client.post(path, json={"context": {"inference_request_uuid": "nope"}})
        assert r.status_code == 404 and "nope" in r.json()["message"]


# -- /track_async + /pop_tracking_results + /stop_tracking + /clear_tracking_results -------


def emu_figure(emu: SuperviselyEmulator, figure_id: int) -> dict[str, Any]:
    import requests

    r = requests.post(f"{emu.address}/public/api/v3/figures.info", json={"id": figure_id})
    r.raise_for_status()
    return r.json()


def track_async(
    client: TestClient, emu: SuperviselyEmulator, figures: tuple[int, ...], **context: Any
) -> Any:
    """POST /track_async from frame 5, 3 frames forward (unless overridden)."""
    full = {"videoId": VIDEO, "frameIndex": 5, "frames": 3, **context}
    full["figures"] = [emu_figure(emu, f) for f in figures]
    return client.post("/track_async", json={"context": full})


def pop_all(client: TestClient, uuid: str) -> tuple[dict[str, Any], list[list[Any]]]:
    got: list[list[Any]] = []
    while True:
        r = client.post("/pop_tracking_results", json={"context": {"inference_request_uuid": uuid}})
        assert r.status_code == 200
        state = r.json()
        got += state["pending_results"]
        if state["finished"]:
            return state, got
        time.sleep(0.02)


def test_track_async_queues_every_frame(client: TestClient, emulator: SuperviselyEmulator) -> None:
    r = track_async(client, emulator, (901, 902), direction="backward", trackId="t3")
    assert r.status_code == 200 and r.json()["message"] == "Inference has started."
    state, results = pop_all(client, r.json()["inference_request_uuid"])
    assert state["stage"] == "Finished" and state["exception"] is None
    assert state["progress"]["current"] == state["progress"]["total"] == 6
    # FigureInfo as a positional array: [id, class_id, ..., object_id (5), ..., frame_index (8),
    # geometry_type (9), geometry (10), ...]
    assert {(f[5], f[8]) for f in results} == {(o, i) for o in (11, 12) for i in (4, 3, 2)}
    assert {f[5]: f[9] for f in results} == {11: "bitmap", 12: "polygon"}
    assert all(f[13]["frame"] == f[8] for f in results)
    assert finished(emulator) and progress(emulator)[-1] == (6, 6)


def test_track_async_direct_progress(client: TestClient, emulator: SuperviselyEmulator) -> None:
    r = track_async(
        client, emulator, (901,), frames=2, useDirectProgressMessages=True, sessionId="sess-7"
    )
    state, results = pop_all(client, r.json()["inference_request_uuid"])
    assert len(results) == 2 and not emulator.notifications()
    last = emulator.actions()[-1]
    assert last["sessionId"] == "sess-7" and last["payload"]["progress"] == {
        "current": 2,
        "total": 2,
    }


def test_stop_and_clear_an_async_request(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(delay=0.1)
    uuid = track_async(client, emulator, (901,), frameIndex=0, frames=11).json()[
        "inference_request_uuid"
    ]
    wait_until(lambda: len(app.engine.frames_seen) >= 3)
    r = client.post("/stop_tracking", json={"context": {"inference_request_uuid": uuid}})
    assert r.json() == {"message": "Inference will be stopped.", "success": True}
    state, _ = pop_all(client, uuid)
    assert state["stopped"] is True and state["stage"] == "Cancelled"
    assert len(app.engine.frames_seen) <= 6
    steps = progress(emulator)
    assert monotone(steps) and steps[-1][0] == steps[-1][1]
    r = client.post("/clear_tracking_results", json={"context": {"inference_request_uuid": uuid}})
    assert r.json()["success"] is True


def test_async_error_is_reported(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(fail_at=1)
    uuid = track_async(client, emulator, (901,), trackId="t9").json()["inference_request_uuid"]
    state, _ = pop_all(client, uuid)
    assert state["stage"] == "Error" and state["exception"]["type"] == "RuntimeError"
    (error,) = emulator.notifications("videos:tracking-error")
    assert error["data"]["trackId"] == "t9"


# -- /track-api and /track-api-files ---------------------------------------------------------


def api_body(**context: Any) -> dict[str, Any]:
    geometries = [
        {"type": "polygon", "data": POLYGON},
        {"type": "bitmap", "data": bitmap_json(SQUARE)},
    ]
    return {
        "context": {
            "videoId": VIDEO,
            "frameIndex": 5,
            "frames": 3,
            "input_geometries": geometries,
            **context,
        }
    }


def test_track_api_rows_follow_the_input_geometries(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(lose=(2,))
    r = client.post("/track-api", json=api_body())
    assert r.status_code == 200
    rows = r.json()
    assert len(rows) == 3
    for row in rows:
        assert row[0]["type"] == "polygon" and row[1] is None  # kept type; lost → null
    assert not emulator.notifications() and not emulator.calls("figures.bulk.add")


def test_track_api_failure_is_an_http_error(client: TestClient, app: Any) -> None:
    app.engine = Fake(fail_at=1)
    r = client.post("/track-api", json=api_body())
    assert r.status_code == 500
    assert r.json()["error"] == "RuntimeError" and "boom" in r.json()["message"]


def test_track_api_rejects_unsupported_geometry(client: TestClient) -> None:
    body = api_body(input_geometries=[{"type": "rectangle", "data": {}}])
    r = client.post("/track-api", json=body)
    assert r.status_code == 400 and "rectangle" in r.json()["message"]


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def test_track_api_files_tracks_all_objects_in_one_pass(client: TestClient, app: Any) -> None:
    files = [
        ("files", (f"{i}.png", png(default_frame(VIDEO, i, W, H)), "image/png")) for i in range(4)
    ]
    settings = {
        "frameIndex": 0,
        "frames": 3,
        "input_geometries": api_body()["context"]["input_geometries"],
    }
    r = client.post("/track-api-files", files=files, data={"settings": json.dumps(settings)})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 3 and [g["type"] for g in rows[0]] == ["polygon", "bitmap"]
    assert len(app.engine.calls) == 1  # one engine pass for both objects


def test_track_api_files_checks_its_inputs(client: TestClient) -> None:
    frame = ("files", ("0.png", png(default_frame(VIDEO, 0, W, H)), "image/png"))
    settings = {
        "frameIndex": 0,
        "frames": 3,
        "input_geometries": [{"type": "polygon", "data": POLYGON}],
    }
    r = client.post("/track-api-files", files=[frame], data={"settings": json.dumps(settings)})
    assert r.status_code == 400 and "4 files" in r.json()["message"]
    r = client.post("/track-api-files", files=[frame], data={"settings": "{oops"})
    assert r.status_code == 400
    bad = ("files", ("1.png", b"not an image", "image/png"))
    settings["frames"] = 1
    r = client.post("/track-api-files", files=[frame, bad], data={"settings": json.dumps(settings)})
    assert r.status_code == 400 and "not an image" in r.json()["message"]


# -- health, info, memory -----------------------------------------------------------------------


def test_the_sdk_does_not_swap_our_progress_bars() -> None:
    """Importing the SDK replaces ``tqdm.tqdm`` process-wide with a class whose ``update``
    needs an argument; the package's bars come from ``tqdm.std`` and stay the original."""
    import tqdm.std

    from xmem.eval import runner
    from xmem.train import trainer

    assert runner.tqdm is tqdm.std.tqdm and trainer.tqdm is tqdm.std.tqdm
    with runner.tqdm(total=2, disable=True) as bar:
        bar.update()


def test_health_and_session_info(client: TestClient) -> None:
    assert client.get("/is_ready").status_code == 200
    info = client.post("/get_session_info", json={}).json()
    assert info["tracking_algorithms"] == ["xmem"] and info["device"] == "cpu"


def rss_mb() -> float:
    mb = current_rss_mb()
    assert mb is not None, "no RSS reading on this platform"
    return mb


@pytest.mark.slow
def test_long_1080p_range_keeps_memory_bounded(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    """100 frames at 1920×1080 are 620 MB of RGB: the app must hold only a few of them, also
    when tracking is slower than the download (frames must not pile up ahead)."""
    frames = 100
    app.engine = Fake(delay=0.08)
    peak = [rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.append(rss_mb())
            time.sleep(0.01)

    before = rss_mb()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    body = {
        "context": {
            "trackId": "long",
            "videoId": 202,
            "frameIndex": 0,
            "frames": frames,
            "figureIds": [904],
        }
    }
    assert client.post("/track", json=body).status_code == 200
    wait_until(lambda: finished(emulator), timeout=600)  # generous: a loaded machine
    done.set()
    sampler.join()
    assert len(emulator.created_figures()) == frames
    growth = max(peak) - before
    assert growth < 250, f"RSS grew by {growth:.0f} MB"


def test_an_adapting_engine_notes_its_steps_and_tracks(
    client: TestClient,
    emulator: SuperviselyEmulator,
    app: Any,
    tiny_net: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`xmem serve --adapt N`: each request adapts to its frame first, with notes in the log."""
    from xmem import Tracker, TrackOptions
    from xmem.integrations.supervisely.server import tracking_engine

    app.engine = tracking_engine(Tracker(tiny_net, TrackOptions(size=-1, adapt_steps=2)))
    caplog.set_level(logging.INFO, logger="xmem.integrations.supervisely.server")
    track(client, emulator, timeout=120)
    notes = [r.getMessage() for r in caplog.records if "adapting" in r.getMessage()]
    assert notes == [
        "adapting to the request's frame: step 1 / 2",
        "adapting to the request's frame: step 2 / 2",
    ]
    assert progress(emulator)[-1] == (6, 6)
    plain = Tracker(tiny_net, TrackOptions(size=-1))
    assert tracking_engine(plain) == plain.track  # no adaptation: the tracker's own engine


# -- the recipe of docs/architecture.md: a new endpoint ------------------------------------


def test_a_new_endpoint_is_a_handler_and_one_table_entry(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler method on XMemTracking and one entry in ``endpoints()``: the route and the
    check of bodies follow (here on a fresh server, as the SDK's is made once)."""
    from fastapi import FastAPI, Request

    from xmem.integrations.supervisely.app import XMemTracking
    from xmem.integrations.supervisely.routes import register

    def frames_of(self: XMemTracking, api: Any, state: dict, context: dict) -> dict[str, Any]:
        return {"frames": context.get("frames", 0), "device": self.device}

    table = XMemTracking.endpoints
    monkeypatch.setattr(XMemTracking, "frames_of", frames_of, raising=False)
    monkeypatch.setattr(
        XMemTracking, "endpoints", lambda self: {**table(self), "frames_of": self.frames_of}
    )
    server = FastAPI()
    # the SDK makes each request's Api from its token; this handler does not call the platform
    register(server, app.endpoints(), lambda request: None, app.track_api_files)

    @server.middleware("http")
    async def sdk_state(request: Request, call_next: Any) -> Any:
        """What the SDK's server adds before any route (supervisely/app/fastapi/subapp.py):
        the JSON body's context and state on ``request.state``."""
        if "application/json" in request.headers.get("Content-Type", ""):
            content = await request.json()
            if isinstance(content, dict):
                request.state.context = content.get("context")
                request.state.state = content.get("state")
        return await call_next(request)

    with TestClient(server) as c:
        r = c.post("/frames_of", json={"context": {"frames": 7}, "state": {}})
        assert r.status_code == 200 and r.json() == {"frames": 7, "device": "cpu"}
        r = c.post("/frames_of", content=b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 400 and "JSON" in r.json()["message"]
        assert c.post("/frames_of", json=[1]).status_code == 400  # no context: before the handler
