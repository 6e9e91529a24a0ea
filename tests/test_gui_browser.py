"""`xmem gui` in a real browser: Debian's headless Chromium driven by Playwright for Python (no
browser download). The tests draw with mouse events on the canvas, press the page's buttons and
keys, and check the files the server wrote against `xmem track` on the same input.

The tests of this module run in order on one project: draw and track, correct and track again,
export, reopen; then Stop, bad input and a full disk.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # a headless Chromium per module, seconds per test

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Chromium is not installed at /usr/bin/chromium (apt-get install chromium; .ci/run "
        "installs it)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)
pytest.importorskip("uvicorn")

import torch  # noqa: E402

import xmem.gui.project as project_module  # noqa: E402
from tests.gui_harness import (  # noqa: E402
    Inputs,
    N,
    cli_track,
    make_inputs,
    make_tracker,
    read_ids,
    serving,
    slow_tracking,
)
from tests.scene import box  # noqa: E402
from xmem.cli.main import build_parser  # noqa: E402
from xmem.cli.options import load_tracker  # noqa: E402
from xmem.gui.jobs import Tracker  # noqa: E402
from xmem.gui.project import FORMAT_VERSION  # noqa: E402
from xmem.gui.workspace import Workspace  # noqa: E402
from xmem.io.masks import read_mask, write_mask  # noqa: E402
from xmem.model.weights import BUNDLED_DEFAULT  # noqa: E402

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample"


@dataclass
class Gui:
    inputs: Inputs
    tracker: Tracker
    workspace: Workspace
    url: str
    root: Path  # the project of the first tests
    browser: object
    console: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def gui(tmp_path_factory: pytest.TempPathFactory, browser: object) -> Iterator[Gui]:
    inputs = make_inputs(tmp_path_factory.mktemp("gui_browser"))
    tracker = make_tracker(inputs.weights)
    workspace = Workspace(tracker)
    root = inputs.root / "project"
    workspace.open(inputs.video, root)
    with serving(workspace) as url:
        yield Gui(inputs, tracker, workspace, url, root, browser)


@pytest.fixture
def page(gui: Gui) -> Iterator[object]:
    context = gui.browser.new_context(viewport={"width": 1280, "height": 760})  # type: ignore[attr-defined]
    page = context.new_page()
    gui.console.clear()
    page.on("console", lambda m: gui.console.append(m.text))
    page.goto(gui.url)
    page.wait_for_function("() => window.xmemGui && window.xmemGui.ready")
    yield page
    context.close()


# -- page helpers --------------------------------------------------------------------------


def to_page(page: object, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of the centre of frame pixel (x, y)."""
    b = page.locator("#mask-canvas").bounding_box()  # type: ignore[attr-defined]
    width = page.evaluate("() => window.xmemGui.project.width")  # type: ignore[attr-defined]
    height = page.evaluate("() => window.xmemGui.project.height")  # type: ignore[attr-defined]
    return b["x"] + (x + 0.5) * b["width"] / width, b["y"] + (y + 0.5) * b["height"] / height


def stroke(page: object, points: list[tuple[float, float]]) -> None:
    """A brush stroke through frame pixels ``points``."""
    mouse = page.mouse  # type: ignore[attr-defined]
    mouse.move(*to_page(page, *points[0]))
    mouse.down()
    for x, y in points[1:]:
        mouse.move(*to_page(page, x, y), steps=3)
    mouse.up()
    saved(page)


def saved(page: object) -> None:
    page.wait_for_function("() => window.xmemGui.unsaved.size === 0")  # type: ignore[attr-defined]


def press(page: object, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)  # type: ignore[attr-defined]


def goto(page: object, index: int) -> None:
    page.locator("#slider").fill(str(index))  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"() => window.xmemGui.index === {index} && !window.xmemGui.loading"
    )


def click_and_wait_job(page: object, button: str, timeout: float = 120_000) -> dict:
    page.evaluate("() => { window.xmemGui.job = null; }")  # type: ignore[attr-defined]
    page.click(button)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => { const s = window.xmemGui; return s.job && !s.job.running && !s.polling; }",
        timeout=timeout,
    )
    return page.evaluate("() => window.xmemGui.job")  # type: ignore[attr-defined,no-any-return]


def page_ids(page: object) -> np.ndarray:
    values = page.evaluate("() => Array.from(window.xmemGui.ids)")  # type: ignore[attr-defined]
    height = page.evaluate("() => window.xmemGui.project.height")  # type: ignore[attr-defined]
    return np.array(values, dtype=np.uint8).reshape(height, -1)


def banner(page: object) -> str:
    page.wait_for_selector("#banner:not([hidden])")  # type: ignore[attr-defined]
    return str(page.inner_text("#banner-text"))  # type: ignore[attr-defined]


def square_strokes(t: int, obj: int) -> list[list[tuple[float, float]]]:
    """Horizontal strokes over object ``obj``'s square on frame ``t`` (brush size 4)."""
    y, x = box(t, obj)
    return [[(x + 2, y + dy), (x + 13, y + dy)] for dy in range(2, 15, 3)]


def project_masks(root: Path) -> dict[int, np.ndarray]:
    return {int(p.stem): read_ids(p) for p in sorted((root / "masks").glob("*.png"))}


# -- the flow on one project ---------------------------------------------------------------


def test_draw_and_track_equals_xmem_track(page: object, gui: Gui, tmp_path: Path) -> None:
    assert page.inner_text("#frame-label").startswith(f"0 / {N - 1}")  # type: ignore[attr-defined]
    page.locator("#brush-size").fill("4")  # type: ignore[attr-defined]
    for points in square_strokes(0, 1):
        stroke(page, points)
    drawn = read_mask(gui.root / "annotations" / "00000.png").ids
    y, x = box(0, 1)
    assert drawn[y + 3 : y + 13, x + 3 : x + 13].all() and drawn.sum() > 150
    np.testing.assert_array_equal(page_ids(page), drawn)
    job = click_and_wait_job(page, "#track")
    assert not job["error"] and job["done"] == N and f"tracked {N} frames" in job["message"]
    assert "frames/s" in page.inner_text("#job-label")  # type: ignore[attr-defined]
    expected = cli_track(gui.inputs, gui.root / "annotations" / "00000.png", tmp_path / "cli")
    masks = project_masks(gui.root)
    assert sorted(masks) == list(range(1, N))
    for t in range(1, N):
        np.testing.assert_array_equal(masks[t], expected[t], err_msg=f"frame {t}")
    # the page shows what was written
    goto(page, 7)
    np.testing.assert_array_equal(page_ids(page), expected[7])
    assert not [m for m in gui.console if m.startswith("xmem gui:")]


def test_correction_then_track_again(page: object, gui: Gui, tmp_path: Path) -> None:
    goto(page, 0)
    press(page, *["ArrowRight"] * 6)
    page.wait_for_function("() => window.xmemGui.index === 6 && !window.xmemGui.loading")  # type: ignore[attr-defined]
    before = page_ids(page)
    press(page, "n")  # a second object, selected
    page.wait_for_function("() => window.xmemGui.selected === 2")  # type: ignore[attr-defined]
    assert page.locator("#objects li").count() == 2  # type: ignore[attr-defined]
    # polygon around the green square, closed with Enter
    press(page, "p")
    y, x = box(6, 2)
    for px, py in [(x, y), (x + 15, y), (x + 15, y + 15), (x, y + 15)]:
        page.mouse.click(*to_page(page, px, py))  # type: ignore[attr-defined]
    press(page, "Enter")
    saved(page)
    polygon = page_ids(page)
    assert (polygon[y + 1 : y + 15, x + 1 : x + 15] == 2).all()
    # an eraser hole, filled back with F; undo and redo
    press(page, "e")
    page.locator("#brush-size").fill("3")  # type: ignore[attr-defined]
    stroke(page, [(x + 7, y + 7), (x + 8, y + 7)])
    assert (page_ids(page)[y + 6 : y + 9, x + 6 : x + 10] == 0).any()
    press(page, "f")
    saved(page)
    np.testing.assert_array_equal(page_ids(page), polygon)
    press(page, "Control+z")
    assert (page_ids(page)[y + 6 : y + 9, x + 6 : x + 10] == 0).any()
    press(page, "Control+y")
    saved(page)
    np.testing.assert_array_equal(page_ids(page), polygon)
    assert not np.array_equal(polygon, before)
    correction = read_mask(gui.root / "annotations" / "00006.png").ids
    np.testing.assert_array_equal(correction, polygon)
    saved_bytes = (gui.root / "annotations" / "00006.png").read_bytes()
    assert page.is_visible("#human-label")  # type: ignore[attr-defined]

    goto(page, 0)
    page.select_option("#until", "end")  # type: ignore[attr-defined]
    job = click_and_wait_job(page, "#track")
    assert not job["error"] and job["total"] == N
    assert (gui.root / "annotations" / "00006.png").read_bytes() == saved_bytes
    assert page.evaluate("() => [...window.xmemGui.human].sort()") == [0, 6]  # type: ignore[attr-defined]
    given = tmp_path / "given"
    given.mkdir()
    shutil.copy(gui.root / "annotations" / "00000.png", given / "00000.png")
    shutil.copy(gui.root / "annotations" / "00006.png", given / "00006.png")
    expected = cli_track(gui.inputs, given, tmp_path / "cli")
    for t in range(1, N):
        if t == 6:
            continue
        np.testing.assert_array_equal(
            gui.workspace.require().mask(t)[0], expected[t], err_msg=f"frame {t}"
        )
    goto(page, 6)
    np.testing.assert_array_equal(page_ids(page), correction)


def test_export(page: object, gui: Gui, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    page.fill("#export-out", str(out))  # type: ignore[attr-defined]
    job = click_and_wait_job(page, "#export")
    assert not job["error"], job["message"]
    assert str(out / "overlay.mp4") in page.inner_text("#export-label")  # type: ignore[attr-defined]
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{t:05d}.png" for t in range(N)]
    project = gui.workspace.require()
    for t in range(N):
        np.testing.assert_array_equal(read_ids(out / "masks" / f"{t:05d}.png"), project.mask(t)[0])
    with av.open(str(out / "overlay.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == N
    rows = (out / "areas.csv").read_text().splitlines()
    assert rows[0] == "frame,name,1:object 1,2:object 2" and len(rows) == N + 1


def test_reopening_the_project_from_the_page(page: object, gui: Gui) -> None:
    human = sorted(gui.workspace.require().human)
    # the page may already show frame 0, loaded: marked loading, only the reopened project's
    # own load of frame 0 ends the wait (else goto(6) raced the reopen's goto(0): flaky)
    page.evaluate("() => { window.xmemGui.loading = true; }")  # type: ignore[attr-defined]
    page.fill("#open-project", str(gui.root))  # type: ignore[attr-defined]
    page.click("#open-button")  # type: ignore[attr-defined]
    page.wait_for_function("() => window.xmemGui.index === 0 && !window.xmemGui.loading")  # type: ignore[attr-defined]
    assert page.evaluate("() => [...window.xmemGui.human].sort()") == human  # type: ignore[attr-defined]
    assert page.locator("#objects li").count() == 2  # type: ignore[attr-defined]
    goto(page, 6)
    np.testing.assert_array_equal(
        page_ids(page), read_mask(gui.root / "annotations" / "00006.png").ids
    )


def test_full_disk_keeps_the_saved_annotation(
    page: object, gui: Gui, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = gui.root / "annotations" / "00000.png"
    before = path.read_bytes()

    def full(target: Path, *args: object) -> None:
        Path(target).write_bytes(b"half a png")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(project_module, "write_mask", full)
    press(page, "b")
    page.mouse.move(*to_page(page, 40, 50))  # type: ignore[attr-defined]
    page.mouse.down()  # type: ignore[attr-defined]
    page.mouse.move(*to_page(page, 60, 50), steps=3)  # type: ignore[attr-defined]
    page.mouse.up()  # type: ignore[attr-defined]
    message = banner(page)
    assert "disk is full" in message and "frame 0" in message and "unsaved" in message
    assert any("disk is full" in m for m in gui.console)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["00000.png", "00006.png"]
    drawn = page_ids(page)
    assert page.evaluate("() => window.xmemGui.unsaved.has(0)")  # type: ignore[attr-defined]
    monkeypatch.setattr(project_module, "write_mask", write_mask)
    press(page, "Control+z", "Control+y")  # the next change saves it
    saved(page)
    np.testing.assert_array_equal(read_mask(path).ids, drawn)
    write_mask(path, read_ids_bytes(before))  # the flow's annotation back


def read_ids_bytes(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img).copy()


def test_bad_input_is_shown_on_the_page(page: object, gui: Gui, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video" * 100)
    page.fill("#open-source", str(broken))  # type: ignore[attr-defined]
    page.click("#open-button")  # type: ignore[attr-defined]
    assert "cannot read video" in banner(page)
    assert any("cannot read video" in m for m in gui.console)
    empty = tmp_path / "frames"
    empty.mkdir()
    page.click("#banner-close")  # type: ignore[attr-defined]
    page.fill("#open-source", str(empty))  # type: ignore[attr-defined]
    page.click("#open-button")  # type: ignore[attr-defined]
    assert "contains no images" in banner(page)
    newer = tmp_path / "newer"
    shutil.copytree(gui.root, newer)
    meta = json.loads((newer / "project.json").read_text())
    meta["version"] = FORMAT_VERSION + 1
    (newer / "project.json").write_text(json.dumps(meta))
    page.click("#banner-close")  # type: ignore[attr-defined]
    page.fill("#open-source", "")  # type: ignore[attr-defined]
    page.fill("#open-project", str(newer))  # type: ignore[attr-defined]
    page.click("#open-button")  # type: ignore[attr-defined]
    assert "newer xmem" in banner(page)
    # the open project is still there, untouched
    assert page.evaluate("() => window.xmemGui.project.root") == str(gui.root)  # type: ignore[attr-defined]


def test_stop_ends_within_one_frame(
    page: object, gui: Gui, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_tracking(monkeypatch, 1.0)  # slow enough that Stop lands mid-run on a loaded machine
    root = tmp_path / "stop"
    page.fill("#open-source", str(gui.inputs.video))  # type: ignore[attr-defined]
    page.fill("#open-project", str(root))  # type: ignore[attr-defined]
    page.click("#open-button")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"() => window.xmemGui.project.root === {json.dumps(str(root))} && !window.xmemGui.loading"
    )
    page.locator("#brush-size").fill("4")  # type: ignore[attr-defined]
    for points in square_strokes(0, 1):
        stroke(page, points)
    page.evaluate("() => { window.xmemGui.job = null; }")  # type: ignore[attr-defined]
    page.click("#track")  # type: ignore[attr-defined]
    page.wait_for_function("() => window.xmemGui.job && window.xmemGui.job.done >= 2")  # type: ignore[attr-defined]
    # the viewer follows: it shows the frame tracked last, its masks drawn in by the server
    page.wait_for_function("() => window.xmemGui.index >= 1 && window.xmemGui.ids === null")  # type: ignore[attr-defined]
    shown = page.evaluate("() => window.xmemGui.index")  # type: ignore[attr-defined]
    assert page.input_value("#slider") == str(shown)  # type: ignore[attr-defined]
    page.click("#stop")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => { const s = window.xmemGui; return s.job && !s.job.running && !s.polling; }"
    )
    status = gui.workspace.job_status()
    assert status.stopped and status.done < N
    assert status.done_when_stop_asked is not None
    assert status.done - status.done_when_stop_asked <= 1
    assert "stopped" in page.inner_text("#job-label")  # type: ignore[attr-defined]
    kept = sorted(int(p.stem) for p in (root / "masks").iterdir())
    assert kept == list(range(1, status.done))
    assert not page.is_enabled("#stop") and page.is_enabled("#track")  # type: ignore[attr-defined]
    page.wait_for_function("() => window.xmemGui.ids !== null")  # type: ignore[attr-defined]


def test_screenshot_of_the_sample_clip(
    gui: Gui, browser: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's picture: the sample clip with the bundled model, two objects, tracked from
    the first frame to the end, the drift strip under the timeline. Written to
    $XMEM_GUI_SCREENSHOT when set (docs/gui.png), with the timeline and its strip cropped
    beside it (gui-timeline.png)."""
    args = build_parser().parse_args(["gui", "--weights", BUNDLED_DEFAULT, "--device", "cpu"])
    tracker = load_tracker(args, torch.device("cpu"))  # type: ignore[arg-type]
    workspace = Workspace(tracker)
    root = tmp_path / "sample.xmem"
    workspace.open(SAMPLE / "video.mp4", root)
    workspace.edit_object(1, "ellipse", None, "ellipse")
    workspace.add_object("box", None, "box")
    given = read_mask(SAMPLE / "masks" / "00000.png").ids
    workspace.save_annotation(0, given.tobytes())
    context = browser.new_context(viewport={"width": 1280, "height": 760})  # type: ignore[attr-defined]
    page = context.new_page()
    with serving(workspace) as url:
        page.goto(url)
        page.wait_for_function("() => window.xmemGui && window.xmemGui.ready")
        assert page.is_checked("#adapt")  # the bundled model adapts by default
        job = click_and_wait_job(page, "#track")
        assert not job["error"] and job["done"] == 60
        page.wait_for_function("() => window.xmemReview.scores.size === 59")
        goto(page, 30)
        assert page_ids(page).any()
        shot, strip = tmp_path / "gui.png", tmp_path / "gui-timeline.png"
        page.screenshot(path=str(shot))
        top = page.locator("#timeline").bounding_box()
        bottom = page.locator("#review").bounding_box()
        clip = {"x": top["x"], "y": top["y"] - 2, "width": top["width"],
                "height": bottom["y"] + bottom["height"] - top["y"] + 4}  # fmt: skip
        page.screenshot(path=str(strip), clip=clip)
    context.close()
    assert shot.stat().st_size > 10_000 and strip.stat().st_size > 1_000
    target = os.environ.get("XMEM_GUI_SCREENSHOT")
    if target:
        shutil.copy(shot, target)
        shutil.copy(strip, Path(target).with_name("gui-timeline.png"))


# -- reviewing and annotator features (issue 24), each on its own project -------------------


def open_project(page: object, gui: Gui, root: Path, drawn: dict[int, np.ndarray]) -> None:
    """Open a new project for the clip on the server, with ``drawn`` frames, and reload."""
    gui.workspace.open(gui.inputs.video, root)
    for index, ids in drawn.items():
        gui.workspace.save_annotation(index, ids.tobytes())
    page.reload()  # type: ignore[attr-defined]
    page.wait_for_function("() => window.xmemGui && window.xmemGui.ready")  # type: ignore[attr-defined]


def drift_strip_pixels(page: object) -> int:
    """Non-transparent pixels of the drift strip under the timeline."""
    return int(
        page.evaluate(  # type: ignore[attr-defined]
            """() => { const c = document.getElementById("drift");
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }"""
        )
    )


def test_drift_marks_suspect_keys_pins_and_memory(page: object, gui: Gui, tmp_path: Path) -> None:
    from tests.scene import ids

    open_project(page, gui, tmp_path / "review", {0: ids(0, 1)})
    marker_only = drift_strip_pixels(page)  # the frame shown, no bars
    job = click_and_wait_job(page, "#track")
    assert not job["error"] and job["memory"]["1"]["working"] >= 1
    page.wait_for_function(f"() => window.xmemReview.scores.size === {N - 1}")  # type: ignore[attr-defined]
    assert drift_strip_pixels(page) > marker_only + N
    memory = page.inner_text("#memory-label")  # type: ignore[attr-defined]
    assert memory.startswith("memory — object 1: ") and "in working memory" in memory
    # two frames the tracker doubts: S and Shift+S go between them
    project = gui.workspace.project
    assert project is not None
    project.quality = {
        t: {"score": 0.9 if t in (2, 5) else 0.1, "objects": {}} for t in range(1, N)
    }
    page.evaluate("() => window.loadQuality()")  # type: ignore[attr-defined]
    assert page.inner_text("#suspect-label").startswith("2 suspect frames")  # type: ignore[attr-defined]
    for key, index in (("s", 2), ("s", 5), ("s", 2), ("Shift+S", 5)):
        press(page, key)
        page.wait_for_function(f"() => window.xmemGui.index === {index} && !window.xmemGui.loading")  # type: ignore[attr-defined]
    assert "this frame 0.90" in page.inner_text("#suspect-label")  # type: ignore[attr-defined]
    press(page, "k")
    page.wait_for_function("() => window.xmemGui.project.pinned.includes(5)")  # type: ignore[attr-defined]
    assert page.inner_text("#pin") == "Unpin frame" and project.pinned == {5}  # type: ignore[attr-defined]
    goto(page, 2)
    job = click_and_wait_job(page, "#track")  # from frame 2: frame 5 is kept in memory
    assert job["memory"]["1"]["pinned"] == 1
    assert "(1 pinned)" in page.inner_text("#memory-label")  # type: ignore[attr-defined]


def test_fill_classes_export_menu_and_import(page: object, gui: Gui, tmp_path: Path) -> None:
    from tests.scene import ids

    root = tmp_path / "fill"
    open_project(page, gui, root, {1: ids(1, 1), N - 2: ids(N - 2, 1)})
    goto(page, 3)
    job = click_and_wait_job(page, "#fill")
    assert not job["error"] and job["kind"] == "fill", job["message"]
    assert sorted(project_masks(root)) == list(range(2, N - 2))
    # the class of object 1, then the COCO export carries it
    page.locator("#objects li .label").first.fill("square")  # type: ignore[attr-defined]
    page.locator("#objects li .label").first.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_function("() => window.xmemGui.project.objects[0].label === 'square'")  # type: ignore[attr-defined]
    page.select_option("#export-format", "coco")  # type: ignore[attr-defined]
    job = click_and_wait_job(page, "#export")
    coco = json.loads((root / "export" / "coco" / "annotations.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["square"]
    page.select_option("#export-format", "davis")  # type: ignore[attr-defined]
    click_and_wait_job(page, "#export")
    # a new project takes the exported masks as drawn frames
    open_project(page, gui, tmp_path / "imported", {})
    page.fill("#import-path", str(root / "export" / "masks"))  # type: ignore[attr-defined]
    page.check("#import-keyframes")  # type: ignore[attr-defined]
    page.click("#import")  # type: ignore[attr-defined]
    page.wait_for_function(f"() => window.xmemGui.human.size === {N}")  # type: ignore[attr-defined]
    assert "imported the masks of 8 frames" in banner(page)
    np.testing.assert_array_equal(page_ids(page), read_ids(root / "export" / "masks" / "00000.png"))
