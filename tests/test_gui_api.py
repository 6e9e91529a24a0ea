"""`xmem gui`'s project folder and HTTP API, without a browser (tests/test_gui_browser.py has
the page). Tracking through the API must give exactly what `xmem track` gives."""

from __future__ import annotations

import errno
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

import xmem.gui.project as project_module  # noqa: E402
from tests.gui_harness import (  # noqa: E402
    Inputs,
    N,
    cli_track,
    get_mask,
    open_clip,
    put_mask,
    read_ids,
    run_job,
    slow_tracking,
    wait_job,
    wait_until,
)
from tests.scene import H, W, ids  # noqa: E402
from xmem.cli import gui as gui_cli  # noqa: E402
from xmem.cli.main import main  # noqa: E402
from xmem.errors import XMemError  # noqa: E402
from xmem.gui.jobs import NetworkThread, Tracker, passes  # noqa: E402
from xmem.gui.project import FORMAT_VERSION, Project  # noqa: E402
from xmem.gui.server import create_app  # noqa: E402
from xmem.gui.workspace import Workspace, default_project_dir, second_reader  # noqa: E402
from xmem.io.masks import write_mask  # noqa: E402
from xmem.model.weights import LITE0_ADAPT_STEPS  # noqa: E402

# -- tracking ------------------------------------------------------------------------------


def test_passes_cover_the_requested_frames() -> None:
    assert passes(3, 10, "forward", None) == [list(range(3, 10))]
    assert passes(3, 10, "backward", None) == [[3, 2, 1, 0]]
    assert passes(3, 10, "both", 2) == [[3, 4, 5], [3, 2, 1]]
    assert passes(0, 10, "backward", None) == []


def test_track_equals_xmem_track_and_export_has_its_layout(
    client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    project = open_clip(client, inputs, tmp_path / "p")
    assert project["frames"] == N and (project["width"], project["height"]) == (W, H)
    assert [o["id"] for o in project["objects"]] == [1]
    put_mask(client, 0, ids(0, 1))
    status = run_job(client, workspace, "/api/track", {"start": 0})
    assert status["done"] == N and status["fps"] > 0
    expected = cli_track(inputs, inputs.first_mask, tmp_path / "cli")
    for t in range(N):
        mask, human = get_mask(client, t)
        assert human == (t == 0)
        np.testing.assert_array_equal(mask, expected[t] if t else ids(0, 1), err_msg=f"frame {t}")
    state = client.get("/api/state").json()["project"]
    assert state["human"] == [0] and state["tracked"] == [[1, N - 1]]

    out = tmp_path / "export"
    status = run_job(client, workspace, "/api/export", {"out": str(out)})
    assert status["outputs"] == {
        "masks": str(out / "masks"),
        "areas": str(out / "areas.csv"),
        "overlay": str(out / "overlay.mp4"),
        "objects": str(out / "objects.json"),
    }
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{t:05d}.png" for t in range(N)]
    for t in range(1, N):
        np.testing.assert_array_equal(read_ids(out / "masks" / f"{t:05d}.png"), expected[t])
    with av.open(str(out / "overlay.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == N
    rows = (out / "areas.csv").read_text().splitlines()
    assert rows[0] == "frame,name,1:object 1"
    assert rows[1] == f"0,00000,{int((ids(0, 1) == 1).sum())}"
    assert rows[5] == f"4,00004,{int((expected[4] == 1).sum())}"
    assert len(rows) == N + 1


def test_correction_is_given_to_the_tracker_and_never_overwritten(
    client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    run_job(client, workspace, "/api/track", {"start": 0})
    # the correction on frame 6 adds object 2
    assert client.post("/api/objects", json={"name": "green"}).json()["id"] == 2
    correction = ids(6, 1, 2)
    put_mask(client, 6, correction)
    saved = (root / "annotations" / "00006.png").read_bytes()
    stale = (root / "masks" / "00006.png").read_bytes()  # tracked before the correction
    run_job(client, workspace, "/api/track", {"start": 0, "until": "end"})
    assert (root / "annotations" / "00006.png").read_bytes() == saved
    assert (root / "masks" / "00006.png").read_bytes() == stale  # not written again
    masks = tmp_path / "masks"
    masks.mkdir()
    write_mask(masks / "00000.png", ids(0, 1))
    write_mask(masks / "00006.png", correction)
    expected = cli_track(inputs, masks, tmp_path / "cli")
    for t in range(N):
        mask, human = get_mask(client, t)
        assert human == (t in (0, 6))
        want = {0: ids(0, 1), 6: correction}.get(t, expected[t])
        np.testing.assert_array_equal(mask, want, err_msg=f"frame {t}")


def test_track_stops_before_the_next_keyframe_by_default(
    client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    """A re-track after a correction goes only up to the next frame a person drew: the frames
    after it keep what they had (issue 24)."""
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    run_job(client, workspace, "/api/track", {"start": 0})  # no keyframe ahead: to the end
    assert client.get("/api/state").json()["project"]["tracked"] == [[1, N - 1]]
    a, b = 2, N - 2
    put_mask(client, a, ids(a, 1))
    put_mask(client, b, ids(b, 1))
    after = (root / "masks" / f"{N - 1:05d}.png").stat().st_mtime_ns
    status = run_job(client, workspace, "/api/track", {"start": a})
    assert status["total"] == status["done"] == b - a  # frames a … b − 1
    assert (root / "masks" / f"{N - 1:05d}.png").stat().st_mtime_ns == after
    backward = run_job(client, workspace, "/api/track", {"start": b, "direction": "backward"})
    assert backward["total"] == b - a  # frames b … a + 1: stops before keyframe a
    whole = run_job(client, workspace, "/api/track", {"start": a, "until": "end"})
    assert whole["total"] == N - a


def test_backward_from_a_later_frame(
    client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    open_clip(client, inputs, tmp_path / "p")
    last = N - 1
    put_mask(client, last, ids(last, 1))
    run_job(client, workspace, "/api/track", {"start": last, "direction": "backward"})
    masks = tmp_path / "masks"
    masks.mkdir()
    write_mask(masks / f"{last:05d}.png", ids(last, 1))
    expected = cli_track(inputs, masks, tmp_path / "cli", "--reverse")
    for t in range(last):
        np.testing.assert_array_equal(get_mask(client, t)[0], expected[t], err_msg=f"frame {t}")


def test_stop_ends_within_one_frame_and_keeps_what_was_computed(
    client: TestClient,
    workspace: Workspace,
    inputs: Inputs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_tracking(monkeypatch, 0.15)
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    assert client.post("/api/track", json={"start": 0}).status_code == 200
    assert client.post("/api/track", json={"start": 0}).status_code == 409  # one job at a time
    wait_until(lambda: workspace.job_status().done >= 3, "3 frames tracked")
    client.post("/api/stop")
    status = wait_job(workspace)
    assert status["stopped"] and "stopped" in status["message"]
    assert status["done"] - status["done_when_stop_asked"] <= 1
    assert status["done"] < N
    kept = sorted(int(p.stem) for p in (root / "masks").iterdir())
    assert kept == list(range(1, status["done"]))


def test_a_followed_track_is_one_request_per_update(
    client: TestClient,
    workspace: Workspace,
    inputs: Inputs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GET /api/job/preview: the status, and the frame tracked last with its masks drawn."""

    def decoded(content: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(content)) as image:
            return np.asarray(image.convert("RGB")).astype(np.float32)

    open_clip(client, inputs, tmp_path / "p")
    r = client.get("/api/job/preview")
    assert r.status_code == 204 and json.loads(r.headers["X-XMem-Job"])["kind"] == ""
    slow_tracking(monkeypatch, 0.3)  # the job stays on each frame for a while
    put_mask(client, 0, ids(0, 1))
    assert client.post("/api/track", json={"start": 0}).status_code == 200
    wait_until(lambda: workspace.job_status().done >= 3, "3 frames tracked")
    plain = client.get("/api/job/preview?masks=0")
    drawn = client.get("/api/job/preview")
    for r in (plain, drawn):
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        status = json.loads(r.headers["X-XMem-Job"])
        assert status["running"] and status["last_index"] == int(r.headers["X-XMem-Frame"])
    index = int(plain.headers["X-XMem-Frame"])
    frame = decoded(client.get(f"/api/frame/{index}").content)
    assert np.abs(decoded(plain.content) - frame).mean() < 2  # the tracker's own frame
    client.post("/api/stop")
    wait_job(workspace)
    tracked, _ = get_mask(client, index)
    inside = tracked == 1
    assert inside.any()
    change = np.abs(decoded(drawn.content) - frame).mean(axis=2)
    assert change[inside].mean() > 20 > change[~inside].mean()  # the object is coloured
    r = client.get("/api/job/preview")
    assert r.status_code == 204 and not json.loads(r.headers["X-XMem-Job"])["running"]


def test_reopening_the_project_resumes(
    tracker: Tracker, inputs: Inputs, tmp_path: Path, client: TestClient, workspace: Workspace
) -> None:
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    client.post("/api/objects", json={"name": "second", "color": "#00ff00"})
    client.patch("/api/objects/1", json={"name": "red square"})
    put_mask(client, 5, ids(5, 1, 2))
    run_job(client, workspace, "/api/track", {"start": 0, "count": 3})
    workspace.close()

    again = Workspace(tracker)
    with TestClient(create_app(again)) as c2:
        r = c2.post("/api/open", json={"project": str(root)})
        assert r.status_code == 200, r.text
        project = r.json()["project"]
        assert project["source"] == str(inputs.video)
        assert project["objects"] == [
            {"id": 1, "name": "red square", "color": "#800000", "label": "object"},
            {"id": 2, "name": "second", "color": "#00ff00", "label": "object"},
        ]
        assert project["human"] == [0, 5] and project["tracked"] == [[1, 3]]
        np.testing.assert_array_equal(get_mask(c2, 5)[0], ids(5, 1, 2))
    again.close()
    # the annotations carry the objects' colours in their palette
    with open(root / "annotations" / "00005.png", "rb") as f:
        from PIL import Image

        palette = Image.open(f).getpalette()
        assert palette is not None and palette[3:9] == [128, 0, 0, 0, 255, 0]


def test_objects_are_added_edited_and_deleted(
    client: TestClient, inputs: Inputs, tmp_path: Path
) -> None:
    open_clip(client, inputs, tmp_path / "p")
    assert client.post("/api/objects", json={}).json() == {
        "id": 2,
        "name": "object 2",
        "color": "#008000",
        "label": "object",
    }
    put_mask(client, 0, ids(0, 1, 2))
    assert client.patch("/api/objects/2", json={"color": "#ABCDEF"}).json()["color"] == "#abcdef"
    bad = client.patch("/api/objects/2", json={"color": "red"})
    assert bad.status_code == 400 and "#rrggbb" in bad.json()["detail"]
    assert client.delete("/api/objects/2").status_code == 200
    np.testing.assert_array_equal(get_mask(client, 0)[0], ids(0, 1))  # its pixels are gone
    assert client.post("/api/objects", json={}).json()["id"] == 3  # ids are not reused
    r = client.put("/api/annotation/0", content=ids(0, 1, 2).tobytes())
    assert r.status_code == 400 and "no object" in r.json()["detail"]
    r = client.put("/api/annotation/0", content=b"\0" * 10)
    assert r.status_code == 400 and f"{W}×{H}" in r.json()["detail"]
    r = client.post("/api/track", json={"start": 3})
    assert r.status_code == 400 and "has no mask" in r.json()["detail"]
    assert client.get(f"/api/frame/{N}").status_code == 400


def test_frames_are_jpeg_and_masks_are_raw_ids(
    client: TestClient, inputs: Inputs, tmp_path: Path
) -> None:
    open_clip(client, inputs, tmp_path / "p")
    r = client.get("/api/frame/3")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8"
    mask, human = get_mask(client, 3)
    assert not mask.any() and not human
    page = client.get("/")
    assert page.status_code == 200 and "/static/main.js" in page.text
    assert "https://" not in page.text  # no CDN
    assert client.get("/static/main.js").status_code == 200


# -- bad input -----------------------------------------------------------------------------


def test_unreadable_video_and_empty_folder_are_explained(
    client: TestClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with caplog.at_level(logging.ERROR):
        r = client.post("/api/open", json={"source": str(bad)})
    assert r.status_code == 400
    assert "cannot read video" in r.json()["detail"] or "corrupt" in r.json()["detail"]
    assert r.json()["detail"] in caplog.text
    assert client.get("/api/state").json()["error"] == r.json()["detail"]
    assert not default_project_dir(bad).exists()  # nothing written
    empty = tmp_path / "frames"
    empty.mkdir()
    r = client.post("/api/open", json={"source": str(empty)})
    assert r.status_code == 400 and "contains no images" in r.json()["detail"]
    r = client.get("/api/mask/0")
    assert r.status_code == 400 and "contains no images" in r.json()["detail"]


def test_project_from_a_newer_version_is_refused_and_left_unchanged(
    client: TestClient, inputs: Inputs, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    meta = json.loads((root / "project.json").read_text())
    meta["version"] = FORMAT_VERSION + 1
    (root / "project.json").write_text(json.dumps(meta))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    r = client.post("/api/open", json={"project": str(root)})
    assert r.status_code == 400
    assert "newer xmem" in r.json()["detail"] and "upgrade" in r.json()["detail"]
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_full_disk_keeps_the_saved_annotation(
    client: TestClient,
    inputs: Inputs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    saved = (root / "annotations" / "00000.png").read_bytes()
    meta = (root / "project.json").read_bytes()

    def full(path: Path, *args: object) -> None:
        Path(path).write_bytes(b"half a png")  # the write starts, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(project_module, "write_mask", full)
    with caplog.at_level(logging.ERROR):
        r = client.put("/api/annotation/0", content=ids(3, 1).tobytes())
    assert r.status_code == 507
    assert "disk is full" in r.json()["detail"] and "frame 0" in r.json()["detail"]
    assert "disk is full" in caplog.text
    assert (root / "annotations" / "00000.png").read_bytes() == saved
    assert sorted(p.name for p in (root / "annotations").iterdir()) == ["00000.png"]
    monkeypatch.setattr(
        project_module.Path,
        "write_text",
        lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")),
    )
    r = client.post("/api/objects", json={})
    assert r.status_code == 507 and "disk is full" in r.json()["detail"]
    assert (root / "project.json").read_bytes() == meta
    assert [o["id"] for o in client.get("/api/state").json()["project"]["objects"]] == [1]


# -- access --------------------------------------------------------------------------------


def test_token_is_required_when_set(workspace: Workspace) -> None:
    with TestClient(create_app(workspace, token="s3cret-token")) as c:
        r = c.get("/api/state")
        assert r.status_code == 401 and "token" in r.json()["detail"]
        assert c.get("/?token=wrong-token").status_code == 401
        assert c.get("/?token=s3cret-token").status_code == 200
        assert c.get("/api/state").status_code == 200  # the cookie set above
    with TestClient(create_app(workspace, token="s3cret-token")) as c:
        assert c.get("/api/state", headers={"X-XMem-Token": "s3cret-token"}).status_code == 200


def test_non_loopback_hosts_need_a_token() -> None:
    assert gui_cli.access_token("127.0.0.1", None) is None
    assert gui_cli.access_token("localhost", None) is None
    assert gui_cli.access_token("::1", None) is None
    made = gui_cli.access_token("0.0.0.0", None)
    assert made is not None and len(made) >= 16
    assert gui_cli.access_token("0.0.0.0", None) != made
    assert gui_cli.access_token("10.1.2.3", "given-token") == "given-token"
    assert gui_cli.page_url("0.0.0.0", 7860, "abc") == "http://localhost:7860/?token=abc"


def test_cli_starts_the_server_and_reports_bad_input(
    inputs: Inputs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import uvicorn

    served: dict = {}

    def fake_run(app: object, **kw: object) -> None:  # what uvicorn would serve, asked once
        with TestClient(app) as c:  # type: ignore[arg-type]
            r = c.get("/api/state")
            served.update(kw, code=r.status_code, state=r.json())

    monkeypatch.setattr(uvicorn, "run", fake_run)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\0" * 1000)
    args = ["gui", str(bad), "--weights", str(inputs.weights), "--device", "cpu"]
    with caplog.at_level(logging.INFO):
        assert main([*args, "--host", "0.0.0.0", "--port", "7999"]) == 0
    assert served["host"] == "0.0.0.0" and served["port"] == 7999
    assert "cannot read video" in caplog.text or "corrupt" in caplog.text
    assert "http://localhost:7999/?token=" in caplog.text
    assert served["code"] == 401
    with caplog.at_level(logging.INFO):
        assert main([*args, "--host", "127.0.0.1"]) == 0
    assert served["code"] == 200 and "cannot read video" in served["state"]["error"]
    assert served["state"]["project"] is None
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(["gui", str(inputs.video), "--project", str(tmp_path / "p"), *args[2:]]) == 0
    assert "http://localhost:7860/ " in caplog.text
    state = served["state"]  # a new name: mypy narrowed served["state"]["project"] to None
    assert state["project"]["root"] == str(tmp_path / "p")
    assert state["error"] is None
    assert Project.read_meta(tmp_path / "p") is not None


def test_cli_loads_and_runs_the_network_on_one_thread(
    inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model is loaded on the thread that runs every job (one OpenMP pool), not on the
    server's main thread; errors of the load reach the caller."""
    import uvicorn

    threads: dict[str, list[threading.Thread]] = {"load": [], "track": []}
    load, track = gui_cli.load_tracker, Tracker.track

    def recorded_load(*args: Any, **kwargs: Any) -> Tracker:
        threads["load"].append(threading.current_thread())
        return load(*args, **kwargs)

    def recorded_track(*args: Any, **kwargs: Any) -> Iterator[Any]:
        threads["track"].append(threading.current_thread())
        yield from track(*args, **kwargs)

    def press_track_twice(app: Any, **kw: object) -> None:
        with TestClient(app) as c:
            put_mask(c, 0, ids(0, 1))
            for _ in range(2):
                assert c.post("/api/track", json={"start": 0}).status_code == 200
                wait_until(lambda: not c.get("/api/job").json()["running"], "the job to end")

    monkeypatch.setattr(gui_cli, "load_tracker", recorded_load)
    monkeypatch.setattr(Tracker, "track", recorded_track)
    monkeypatch.setattr(uvicorn, "run", press_track_twice)
    args = ["--weights", str(inputs.weights), "--size", "64", "--device", "cpu"]
    assert main(["gui", str(inputs.video), "--project", str(tmp_path / "p"), *args]) == 0
    (loaded,) = threads["load"]
    assert loaded is not threading.main_thread()
    assert threads["track"] == [loaded, loaded]

    def fails() -> None:
        raise XMemError("no such model")

    network = NetworkThread()
    assert network.call(threading.current_thread) is network.call(threading.current_thread)
    with pytest.raises(XMemError, match="no such model"):
        network.call(fails)


def test_second_reader_shares_the_index_and_reads_the_same_frames(inputs: Inputs) -> None:
    from xmem.io.frames import open_frames

    with open_frames(inputs.video) as first:
        twin = second_reader(first)
        assert twin is not first and twin.names == first.names
        a = dict(first.read([0, 1, 2, 7, 4]))
        b = dict(twin.read([7, 4, 0, 1, 2]))  # interleaved with the first reader's cursor
        for i in a:
            np.testing.assert_array_equal(a[i], b[i])
        twin.close()
        np.testing.assert_array_equal(dict(first.read([5]))[5], dict(twin.read([5]))[5])


def test_a_frames_folder_is_a_project_too(
    client: TestClient, workspace: Workspace, tmp_path: Path
) -> None:
    from PIL import Image

    from tests.scene import frame

    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(5):
        Image.fromarray(frame(t)).save(folder / f"img_{t}.png")
    r = client.post("/api/open", json={"source": str(folder)})
    assert r.status_code == 200, r.text
    project = r.json()["project"]
    assert project["root"] == str(tmp_path / "frames.xmem")
    assert project["names"] == [f"img_{t}" for t in range(5)]
    put_mask(client, 2, ids(2, 1))
    run_job(client, workspace, "/api/track", {"start": 2, "direction": "both", "count": 1})
    state = client.get("/api/state").json()["project"]
    assert state["tracked"] == [[1, 1], [3, 3]] and state["human"] == [2]
    assert (tmp_path / "frames.xmem" / "masks" / "img_3.png").exists()


def test_adapt_toggle_tracks_as_xmem_track_adapt_does(
    client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    """Adapt on: the start frame's mask is learnt first, exactly as `xmem track --adapt N`."""
    assert client.get("/api/state").json()["adapt"] == {"on": False, "steps": LITE0_ADAPT_STEPS}
    workspace.adapt_steps = 3  # a short adaptation: the test's cost
    open_clip(client, inputs, tmp_path / "p")
    put_mask(client, 0, ids(0, 1))
    run_job(client, workspace, "/api/track", {"start": 0, "adapt": True})
    assert workspace.tracker_for(True).options.adapt_steps == 3
    assert workspace.tracker_for(False) is workspace.tracker  # Adapt off: the loaded tracker
    masks = tmp_path / "masks"
    masks.mkdir()
    write_mask(masks / "00000.png", ids(0, 1))
    expected = cli_track(inputs, masks, tmp_path / "cli", "--adapt", "3")
    for t in range(N):
        np.testing.assert_array_equal(get_mask(client, t)[0], expected[t], err_msg=f"frame {t}")


def test_an_adapting_job_notes_its_steps() -> None:
    from xmem.gui.jobs import Job

    job = Job("track", 10, lambda job: "done")
    job.note("adapting to frame 4: step 2 / 50")
    assert job.snapshot().message == "adapting to frame 4: step 2 / 50"
    time.sleep(0.2)  # an adaptation: no frames
    job.restart_rate()
    job.progress(4)
    status = job.snapshot()
    # frames/s counts from the end of the adaptation: 1 frame in far less than 0.2 s
    assert status.done == 1 and status.fps > 5
