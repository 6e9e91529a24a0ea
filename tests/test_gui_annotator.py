"""The GUI's annotator features through its HTTP API (issue 24): drift marks, gap filling,
pins and memory, classes, import and the export formats. The page: tests/test_gui_browser.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("pycocotools")

from fastapi.testclient import TestClient  # noqa: E402

from tests.gui_harness import (  # noqa: E402
    Inputs,
    N,
    get_mask,
    open_clip,
    put_mask,
    run_job,
)
from tests.scene import ids  # noqa: E402
from xmem.cli.main import main  # noqa: E402
from xmem.gui.jobs import Tracker  # noqa: E402
from xmem.gui.workspace import Workspace  # noqa: E402
from xmem.inference.fill import fill_gap  # noqa: E402
from xmem.io.frames import open_frames  # noqa: E402
from xmem.io.masks import write_mask  # noqa: E402


def test_tracking_records_drift_scores_soft_masks_and_memory(
    client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    status = run_job(client, workspace, "/api/track", {"start": 0})
    assert status["memory"]["1"]["working"] >= 1 and status["memory"]["1"]["pinned"] == 0
    quality = client.get("/api/quality").json()
    assert quality["threshold"] == 0.5
    assert sorted(map(int, quality["frames"])) == list(range(1, N))  # not the drawn frame 0
    for entry in quality["frames"].values():
        assert 0 <= entry["score"] <= 1
        assert set(entry["objects"]["1"]) >= {"confidence", "uncertain", "iou_prev", "area"}
    suspects = [int(f) for f, e in quality["frames"].items() if e["score"] >= 0.5]
    assert quality["suspects"] == sorted(suspects)
    assert client.get("/api/state").json()["project"]["suspects"] == quality["suspects"]
    soft = sorted(p.name for p in (root / "soft").iterdir())
    assert soft == [f"{t:05d}.png" for t in range(1, N)]
    assert json.loads((root / "quality.json").read_text()).keys() == quality["frames"].keys()


def test_fill_between_keyframes_equals_fill_gap(
    client: TestClient, workspace: Workspace, tracker: Tracker, inputs: Inputs, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    a, b = 1, N - 2
    put_mask(client, a, ids(a, 1))
    put_mask(client, b, ids(b, 1))
    bad = client.post("/api/fill", json={"frame": 0})
    assert bad.status_code == 400 and "between two frames a person drew" in bad.json()["detail"]
    status = run_job(client, workspace, "/api/fill", {"frame": 3})
    assert status["message"] == f"filled the {b - a - 1} frames between keyframes {a} and {b}"
    with open_frames(inputs.video) as source:
        expected = {
            f.result.index: f.result.mask
            for f in fill_gap(tracker, source, a, b, ids(a, 1), ids(b, 1))
        }
    for t in range(N):
        mask, human = get_mask(client, t)
        if a < t < b:
            np.testing.assert_array_equal(mask, expected[t], err_msg=f"frame {t}")
        assert human == (t in (a, b))
    assert client.get("/api/state").json()["project"]["tracked"] == [[a + 1, b - 1]]


def test_pins_are_kept_capped_and_reach_the_memory(
    client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    open_clip(client, inputs, tmp_path / "p")
    put_mask(client, 0, ids(0, 1))
    state = client.get("/api/state").json()["project"]
    cap = state["max_pinned"]
    assert cap == 4 and state["pinned"] == []
    for t in range(1, cap + 1):
        assert client.put(f"/api/pin/{t}").status_code == 200
    over = client.put(f"/api/pin/{cap + 1}")
    assert over.status_code == 400 and "at most 4 frames can be pinned" in over.json()["detail"]
    assert client.delete(f"/api/pin/{cap}").status_code == 200
    assert client.get("/api/state").json()["project"]["pinned"] == list(range(1, cap))
    status = run_job(client, workspace, "/api/track", {"start": 0})
    assert status["memory"]["1"]["pinned"] == cap - 1


def test_import_a_folder_and_a_coco_file_with_classes(
    client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    folder = tmp_path / "pngs"
    folder.mkdir()
    for t in (0, 3):
        write_mask(folder / f"{t:05d}.png", ids(t, 1, 2))
    open_clip(client, inputs, tmp_path / "p")
    r = client.post("/api/import", json={"path": str(folder), "keyframes": True})
    assert r.status_code == 200, r.text
    project = r.json()["project"]
    assert r.json()["imported"] == 2 and project["human"] == [0, 3]
    assert [o["id"] for o in project["objects"]] == [1, 2]  # object 2 was added
    np.testing.assert_array_equal(get_mask(client, 3)[0], ids(3, 1, 2))
    # classes reach the COCO export, which a new project imports again
    client.patch("/api/objects/1", json={"label": "square"})
    client.patch("/api/objects/2", json={"name": "green one", "label": "box"})
    out = tmp_path / "coco"
    status = run_job(client, workspace, "/api/export", {"out": str(out), "format": "coco"})
    assert status["outputs"]["annotations"] == str(out / "annotations.json")
    document = json.loads((out / "annotations.json").read_text())
    assert [c["name"] for c in document["categories"]] == ["square", "box"]
    open_clip(client, inputs, tmp_path / "q")
    r = client.post("/api/import", json={"path": str(out / "annotations.json")})
    assert r.status_code == 200, r.text
    project = r.json()["project"]
    assert project["human"] == [] and project["tracked"] == [[0, 0], [3, 3]]  # as tracked
    assert [(o["id"], o["name"], o["label"]) for o in project["objects"]] == [
        (1, "object 1", "object"),
        (2, "green one", "box"),
    ]
    np.testing.assert_array_equal(get_mask(client, 3)[0], ids(3, 1, 2))
    bad = client.post("/api/import", json={"path": str(tmp_path / "nothing.txt")})
    assert bad.status_code == 400 and "neither a folder" in bad.json()["detail"]


@pytest.mark.parametrize("fmt", ["yolo", "cvat", "cvat-mask", "alpha"])
def test_every_format_exports_through_the_api(
    fmt: str, client: TestClient, workspace: Workspace, inputs: Inputs, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    run_job(client, workspace, "/api/track", {"start": 0})
    status = run_job(client, workspace, "/api/export", {"format": fmt})
    folder = root / "export" / fmt
    assert status["message"] == f"exported {N} frames as {fmt} to {folder}"
    assert all(Path(p).exists() for p in status["outputs"].values())
    assert (folder / "objects.json").exists()
    bad = client.post("/api/export", json={"format": "pascal"})
    assert bad.status_code == 400 and "unknown export format" in bad.json()["detail"]


def test_xmem_export_writes_a_project_in_each_format(
    client: TestClient,
    workspace: Workspace,
    inputs: Inputs,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "p"
    open_clip(client, inputs, root)
    put_mask(client, 0, ids(0, 1))
    run_job(client, workspace, "/api/track", {"start": 0})
    workspace.close()
    assert main(["export", str(root), "--format", "coco", "--out", str(tmp_path / "c")]) == 0
    assert len(json.loads((tmp_path / "c" / "annotations.json").read_text())["images"]) == N
    assert main(["export", str(root), "--no-overlay"]) == 0
    assert len(list((root / "export" / "masks").iterdir())) == N
    assert not (root / "export" / "overlay.mp4").exists()
    caplog.clear()
    assert main(["export", str(tmp_path)]) == 2
    assert "is not an xmem project" in caplog.text
