"""The Supervisely app under real platform conditions (issue 15), through the real SDK and real
HTTP against the strict emulator: a slow platform and Stop, a slow download beside another
request, outages and stalls, honest session info, specks, and figures drawn by a person.

Retries are never turned off: the app's own :class:`CallPolicy` bounds them, and the tests make
them fast with short pauses and emulator delays.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

pytest.importorskip("supervisely")

from fastapi.testclient import TestClient  # noqa: E402
from supervisely.geometry.helpers import deserialize_geometry  # noqa: E402

from tests.sly_platform import SuperviselyEmulator, davis, harness  # noqa: E402
from tests.sly_platform.harness import (  # noqa: E402
    POLYGON,
    SQUARE,
    VIDEO,
    Fake,
    H,
    W,
    bitmap_json,
    monotone,
    placed,
    progress,
    track,
    wait_until,
)
from xmem.integrations.supervisely.platform import CallPolicy  # noqa: E402

app, client, emulator = harness.app, harness.client, harness.emulator  # the shared fixtures
FAST_RETRIES = CallPolicy(backoff=0.05, max_pause=0.2, budget=5.0)  # 6 tries, ≈ 0.6 s


def frames_uploaded_after(emu: SuperviselyEmulator, moment: float) -> int:
    """Frames (distinct) that got figures in ``figures.bulk.add`` calls received after
    ``moment``."""
    frames = set()
    for call in emu.calls("figures.bulk.add"):
        if call.time > moment:
            frames |= {f["meta"]["frame"] for f in call.body["figures"]}
    return len(frames)


def request_state(client: TestClient, uuid: str) -> dict[str, Any]:
    body = {"context": {"inference_request_uuid": uuid}}
    r = client.post("/pop_tracking_results", json=body)
    assert r.status_code == 200, r.text
    return r.json()


# -- 1. Stop -------------------------------------------------------------------------------


@pytest.mark.parametrize("latency", [0.0, 1.0])
def test_nothing_is_uploaded_after_stop_whatever_the_latency(
    client: TestClient, emulator: SuperviselyEmulator, app: Any, latency: float
) -> None:
    """The tracker is much faster than the platform's replies, so frames queue up behind the
    uploader; the reply that says Stop must leave them all unsent."""
    app.engine = Fake(delay=0.01)
    emulator.inject("videos.notify-annotation-tool", delay=latency)
    emulator.stop_after = 2
    reply = track(client, emulator, frameIndex=0, frames=11)
    stop = emulator.stop_answered()
    assert stop is not None
    assert frames_uploaded_after(emulator, stop) == 0
    assert sum(t > stop for t in app.engine.started) <= 2  # tracking stops within a frame
    steps = progress(emulator)
    assert monotone(steps) and steps[-1][0] == steps[-1][1] < 22  # ends at the work done
    wait_until(lambda: request_state(client, reply["inference_request_uuid"])["finished"])
    assert request_state(client, reply["inference_request_uuid"])["stage"] == "Cancelled"


# -- 3. outages: bounded, clear, and Stop still works ---------------------------------------


def test_an_outage_reaches_the_annotator_as_a_clear_error(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.policy = FAST_RETRIES
    emulator.inject("videos.bulk.download-frame", status=503)
    track(client, emulator)
    (error,) = emulator.notifications("videos:tracking-error")
    message = error["data"]["error"]["message"]
    assert message.startswith("Tracking interrupted: Could not download the video frames")
    assert "HTTP 503 (6 tries" in message and "http" not in message.split("HTTP 503")[0]
    downloads = emulator.calls("videos.bulk.download-frame")
    assert len(downloads) == 6  # the policy's attempts, not the SDK's 10
    error_call = emulator.calls("videos.notify-annotation-tool")[-1]
    assert error_call.time - downloads[0].time < 3.0
    assert not emulator.calls("figures.bulk.add")


def test_failures_from_the_nth_call_are_retried_and_tracking_completes(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.policy = FAST_RETRIES
    emulator.inject("figures.bulk.add", status=502, first=2, count=2)
    emulator.inject("videos.bulk.download-frame", status=500, first=1, count=1, video=VIDEO)
    track(client, emulator)
    assert placed(emulator) == {(o, f) for o in (11, 12) for f in (6, 7, 8)}
    assert not emulator.notifications("videos:tracking-error")
    assert [c.status for c in emulator.calls("videos.bulk.download-frame")] == [500, 200]


def test_an_outage_before_tracking_starts_is_a_503_with_the_same_words(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.policy = FAST_RETRIES
    emulator.inject("figures.info", status=504)
    body = {"context": {"trackId": "t-info", "videoId": VIDEO, "frameIndex": 5, "frames": 3,
                        "figureIds": [901]}}  # fmt: skip
    r = client.post("/track", json=body)
    assert r.status_code == 503 and r.json()["error"] == "Tracking interrupted"
    assert r.json()["message"].startswith("Could not read the figure to track")
    (error,) = emulator.notifications("videos:tracking-error")  # the tool learns it too
    assert "HTTP 504 (6 tries" in error["data"]["error"]["message"]
    emulator.reset()
    emulator.inject("videos.bulk.download-frame", status=503)
    r = client.post("/track-api", json={"context": {**body["context"], "input_geometries": [
        {"type": "polygon", "data": POLYGON}]}})  # fmt: skip
    assert r.status_code == 503 and "download the video frames" in r.json()["message"]


def test_a_stalled_server_times_out(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.policy = CallPolicy(read_timeout=0.3, attempts=2, backoff=0.05)
    emulator.inject("videos.bulk.download-frame", delay=5.0)
    started = time.monotonic()
    track(client, emulator)
    assert time.monotonic() - started < 3.0
    (error,) = emulator.notifications("videos:tracking-error")
    assert "did not answer in time (2 tries" in error["data"]["error"]["message"]


def test_stop_is_honoured_while_calls_are_retried(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.policy = CallPolicy(backoff=1.0, budget=60.0)
    emulator.inject("videos.bulk.download-frame", status=503)
    body = {"context": {"trackId": "t-out", "videoId": VIDEO, "frameIndex": 5, "frames": 3,
                        "figureIds": [901]}}  # fmt: skip
    uuid = client.post("/track", json=body).json()["inference_request_uuid"]
    wait_until(lambda: len(emulator.calls("videos.bulk.download-frame")) >= 2)
    stopped_at = time.monotonic()
    client.post("/stop_tracking", json={"context": {"inference_request_uuid": uuid}})
    wait_until(lambda: request_state(client, uuid)["finished"], timeout=5)
    assert time.monotonic() - stopped_at < 1.0
    assert request_state(client, uuid)["stage"] == "Cancelled"
    assert not emulator.notifications("videos:tracking-error")


# -- 2. the device is held around computation only -----------------------------------------


def test_a_slow_download_does_not_hold_the_device(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    """One device slot: a request whose frames take 2 s to come must not delay another."""
    emulator.add_video(303, 12, W, H)
    emulator.add_figure(931, 303, 31, 0, "bitmap", bitmap_json(SQUARE))
    emulator.inject("videos.bulk.download-frame", delay=2.0, count=1, video=303)
    app.engine = Fake(delay=0.02)
    slow = {"context": {"trackId": "slow", "videoId": 303, "frameIndex": 0, "frames": 11,
                        "figureIds": [931]}}  # fmt: skip
    quick = {"context": {"trackId": "quick", "videoId": VIDEO, "frameIndex": 5, "frames": 3,
                         "figureIds": [901]}}  # fmt: skip
    assert client.post("/track", json=slow).status_code == 200
    time.sleep(0.3)  # the slow request is waiting for its frames
    sent = time.monotonic()
    assert client.post("/track", json=quick).status_code == 200
    wait_until(lambda: any(c.body["entityId"] == VIDEO for c in emulator.calls("figures.bulk.add")))
    first = next(c for c in emulator.calls("figures.bulk.add") if c.body["entityId"] == VIDEO)
    assert first.time - sent < 1.0  # alone it needs ≈ 0.2 s here; the slow download is 2 s
    wait_until(lambda: len(emulator.created_figures()) == 14, timeout=30)
    assert app.engine.max_active == 1


def test_concurrent_requests_take_turns_frame_by_frame(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.engine = Fake(delay=0.05)
    for track_id, figure in (("a", 901), ("b", 902)):
        body = {"context": {"trackId": track_id, "videoId": VIDEO, "frameIndex": 0,
                            "frames": 11, "figureIds": [figure]}}  # fmt: skip
        assert client.post("/track", json=body).status_code == 200
    wait_until(lambda: len(emulator.created_figures()) == 22, timeout=30)
    order = [f["objectId"] for f in emulator.created_figures()]
    # with a first-come-first-served slot, neither request runs all its frames alone
    assert order.index(12) < order.index(11) + 11 and order.index(11) < order.index(12) + 11
    switches = sum(a != b for a, b in zip(order, order[1:], strict=False))
    assert switches >= 4


# -- 4. session info -----------------------------------------------------------------------


def test_session_info_names_model_weights_device_and_precision(client: TestClient) -> None:
    info = client.post("/get_session_info", json={}).json()
    assert {"model", "weights", "device", "precision", "min_part"} <= set(info)
    assert info["device"] == "cpu" and info["precision"] == "fp32"


# -- 5. specks -----------------------------------------------------------------------------


@pytest.mark.parametrize("min_part, pieces", [(0.05, 1), (0.0, 2)])
def test_specks_are_dropped_from_polygons_and_bitmaps(
    client: TestClient, emulator: SuperviselyEmulator, app: Any, min_part: float, pieces: int
) -> None:
    app.engine = Fake(speck=True)
    app.min_part = min_part
    track(client, emulator, figureIds=[902], objectIds=[12])  # polygon, label 1
    per_frame = [f["meta"]["frame"] for f in emulator.created_figures()]
    assert sorted(per_frame) == sorted([6, 7, 8] * pieces)
    emulator.reset()
    app.engine = Fake(speck=True)
    track(client, emulator, figureIds=[901], objectIds=[11])  # bitmap, label 1
    expected = SQUARE.copy()
    if not min_part:
        expected[-3:-1, -3:-1] = True
    for figure in emulator.created_figures():
        decoded = np.zeros((H, W), np.uint8)
        deserialize_geometry("bitmap", figure["geometry"]).draw(decoded, 1)
        assert np.array_equal(decoded.astype(bool), expected)


# -- 6. figures drawn by a person --------------------------------------------------------


def test_person_figures_guide_tracking_and_are_never_overwritten(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    emulator.add_video(404, 12, W, H)
    emulator.add_figure(941, 404, 41, 5, "bitmap", bitmap_json(SQUARE))
    emulator.add_figure(942, 404, 42, 5, "polygon", POLYGON)
    shifted = np.roll(SQUARE, 3, axis=1)
    emulator.add_figure(943, 404, 41, 7, "bitmap", bitmap_json(shifted))  # drawn by a person
    emulator.add_figure(944, 404, 41, 3, "bitmap", bitmap_json(shifted), nn_created=True)
    emulator.add_figure(  # made by a model: neither guidance nor protected
        945, 404, 41, 8, "bitmap", bitmap_json(shifted), nn_created=True, nn_updated=True
    )
    emulator.add_figure(946, 404, 42, 11, "polygon", POLYGON)  # beyond the range: ignored
    app.references = 2
    track(client, emulator, videoId=404, figureIds=[941, 942], objectIds=[41, 42])
    (annotated,) = app.engine.annotated
    assert annotated == {3: (1,), 7: (1,), 5: (1, 2)}  # corrected at 3, manual at 7, source
    assert app.engine.frames_seen == [3, 5, 6, 7, 8]  # the earlier reference is read first
    assert placed(emulator) == {(41, 6), (41, 8), (42, 6), (42, 7), (42, 8)}  # none on (41, 7)
    assert progress(emulator)[-1] == (6, 6)
    assert all(f["nnCreated"] and f["nnUpdated"] for f in emulator.created_figures())
    emulator.reset()
    app.engine = Fake()
    app.references = 0  # the default: no earlier frame is read
    track(client, emulator, videoId=404, figureIds=[941, 942], objectIds=[41, 42])
    assert app.engine.annotated == [{7: (1,), 5: (1, 2)}]
    assert app.engine.frames_seen == [5, 6, 7, 8]


def test_person_figures_can_be_ignored(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    app.use_keyframes = False
    emulator.add_video(405, 12, W, H)
    emulator.add_figure(951, 405, 51, 5, "bitmap", bitmap_json(SQUARE))
    emulator.add_figure(952, 405, 51, 7, "bitmap", bitmap_json(SQUARE))
    track(client, emulator, videoId=405, figureIds=[951], objectIds=[51])
    assert app.engine.annotated == [{5: (1,)}] and not emulator.calls("figures.list")
    assert placed(emulator) == {(51, 6), (51, 7), (51, 8)}


# -- 7. the emulator is as strict as the platform -----------------------------------------


def test_figures_outside_the_video_or_of_unknown_objects_are_rejected(
    emulator: SuperviselyEmulator,
) -> None:
    import requests

    emulator.reset()
    url = f"{emulator.address}/public/api/v3/figures.bulk.add"
    figure: dict[str, Any] = {
        "objectId": 11,
        "geometryType": "polygon",
        "geometry": POLYGON,
        "meta": {"frame": 3},
    }
    bad = [
        {**figure, "meta": {"frame": 12}},
        {**figure, "objectId": 999},
        {**figure, "geometryType": None},
    ]
    for wrong in bad:
        r = requests.post(url, json={"entityId": VIDEO, "figures": [figure, wrong]}, timeout=5)
        assert r.status_code == 400
    r = requests.post(url, json={"entityId": 999, "figures": [figure]}, timeout=5)
    assert r.status_code == 404
    assert not emulator.created_figures()


# -- real frames: DAVIS 2016 through the app -----------------------------------------------

BLACKSWAN = davis("blackswan")


@pytest.mark.skipif(BLACKSWAN is None, reason="DAVIS 2016 is not at XMEM_DAVIS2016")
def test_real_frames_through_the_app_score_iou_against_ground_truth(
    client: TestClient, emulator: SuperviselyEmulator, app: Any
) -> None:
    """The bundled model tracks a DAVIS sequence served by the emulator; a person's figure on
    frame 5 (the ground truth) joins memory, and the app writes no figure over it."""
    import xmem
    from xmem.model.weights import BUNDLED_DEFAULT, from_pretrained

    seq = BLACKSWAN
    assert seq is not None
    network = from_pretrained(BUNDLED_DEFAULT, device="cpu")
    app.engine = xmem.Tracker(network, xmem.TrackOptions(size=240)).track
    emulator.add_video(700, 9, seq.width, seq.height, frame_fn=lambda v, i: seq.frame(i))
    emulator.add_figure(7000, 700, 70, 0, "bitmap", bitmap_json(seq.mask(0)))
    emulator.add_figure(7001, 700, 70, 5, "bitmap", bitmap_json(seq.mask(5)))
    track(client, emulator, 300, videoId=700, frameIndex=0, frames=8, figureIds=[7000],
          objectIds=[70])  # fmt: skip
    masks = {i: np.zeros((seq.height, seq.width), np.uint8) for i in range(1, 9)}
    for figure in emulator.created_figures():
        assert figure["objectId"] == 70
        deserialize_geometry("bitmap", figure["geometry"]).draw(masks[figure["meta"]["frame"]], 1)
    assert not masks[5].any()  # the person's figure stays alone on frame 5
    ious = []
    for i in (1, 2, 3, 4, 6, 7, 8):
        truth = seq.mask(i)
        ious.append(np.logical_and(masks[i], truth).sum() / np.logical_or(masks[i], truth).sum())
    # a figure on the wrong frame or misplaced scores below 0.5; the bundled xmem-lite0 scores
    # 0.80-0.87 on these frames, mean 0.85 (the reflection in the water is its weak spot)
    assert min(ious) > 0.75 and np.mean(ious) > 0.8, [round(float(v), 3) for v in ious]
