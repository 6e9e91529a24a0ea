"""Tracking speed of `xmem gui` against `xmem track` on the same clip and mask.

    python scripts/gui_speed.py [--video examples/sample/video.mp4]
        [--mask examples/sample/masks/00000.png] [--frames N] [--rounds 3] [--browser]
        [-- xmem track options]

Each round runs `xmem track` (its own frames/s line: the tracking loop and PNG writing, after
the model is loaded), then the GUI's Track from the first frame through the HTTP server (frames/s
of the job), and with --browser the same pressed in headless Chromium (the page polls and shows
every frame as it is computed). Rounds alternate so that a busy CPU slows both alike; the
medians are printed, as frames per second (wall clock) and as CPU seconds per frame used by
this process over the same span (all its threads: decoding, network, PNG writers, the server;
not the browser's), which a CPU shared with other work disturbs much less. ``--frames N``
tracks the first N frames only (written losslessly as a PNG folder that both read).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repo root: the tests package is test support, not installed

from tests.gui_harness import serving  # noqa: E402
from xmem.cli.main import build_parser, main  # noqa: E402
from xmem.cli.options import load_tracker, select_device  # noqa: E402
from xmem.gui.jobs import Tracker  # noqa: E402
from xmem.gui.workspace import Workspace  # noqa: E402
from xmem.io.frames import open_frames  # noqa: E402
from xmem.io.masks import read_mask  # noqa: E402


class FpsLog(logging.Handler):
    """Catches `xmem track`'s closing line (frames/s) and the CPU time when it is logged."""

    def __init__(self) -> None:
        super().__init__()
        self.fps: float | None = None
        self.cpu_end: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("wrote ") and "frames/s" in text:
            self.cpu_end = time.process_time()
            self.fps = float(text.split("(")[1].split()[0])


def cli_speed(video: Path, mask: Path, out: Path, options: list[str]) -> tuple[float, float]:
    """frames/s and CPU s/frame of `xmem track`, from its call of Tracker.track to its last
    line."""
    handler = FpsLog()
    started: list[float] = []
    real = Tracker.track

    def timed(*args: object, **kwargs: object) -> object:
        started.append(time.process_time())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    Tracker.track = timed  # type: ignore[assignment,method-assign]
    logging.getLogger("xmem").addHandler(handler)
    logging.getLogger("xmem").setLevel(logging.INFO)
    try:
        code = main(["track", str(video), "--masks", str(mask), "--out", str(out), *options])
    finally:
        logging.getLogger("xmem").removeHandler(handler)
        Tracker.track = real  # type: ignore[method-assign]
    if code:
        raise SystemExit("xmem track failed")
    assert handler.fps is not None and handler.cpu_end is not None
    n = len(list(out.glob("*.png")))
    return handler.fps, (handler.cpu_end - started[0]) / n


def gui_speed(url: str, workspace: Workspace) -> tuple[float, float]:
    cpu = time.process_time()
    with httpx.Client(base_url=url) as client:
        client.post("/api/track", json={"start": 0}).raise_for_status()
        while workspace.job_status().running:
            time.sleep(0.05)
    status = workspace.job_status()
    assert not status.error, status.message
    return status.fps, (time.process_time() - cpu) / status.done


def browser_speed(url: str, workspace: Workspace) -> tuple[float, float]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.wait_for_function("() => window.xmemGui && window.xmemGui.ready")
        page.evaluate("() => { window.xmemGui.job = null; }")
        cpu = time.process_time()
        page.click("#track")
        page.wait_for_function(
            "() => { const s = window.xmemGui; return s.job && !s.job.running && !s.polling; }",
            timeout=600_000,
        )
        cpu = time.process_time() - cpu
        fps = float(page.evaluate("() => window.xmemGui.job.fps"))
        browser.close()
    return fps, cpu / workspace.job_status().done


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=ROOT / "examples/sample/video.mp4")
    parser.add_argument("--mask", type=Path, default=ROOT / "examples/sample/masks/00000.png")
    parser.add_argument("--frames", type=int, default=0, help="the first N frames (0: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also press Track in Chromium")
    parser.add_argument("options", nargs="*", help="inference options for both, after --")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gui_args = build_parser().parse_args(["gui", *args.options])
    device = select_device(gui_args.device)
    tracker = load_tracker(gui_args, device)
    results: dict[str, list[tuple[float, float]]] = {"xmem track": [], "xmem gui (API)": []}
    if args.browser:
        results["xmem gui (browser)"] = []
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if args.frames:
            video = Path(tmp) / "frames"
            video.mkdir()
            with open_frames(args.video) as source:
                for i, rgb in source.read(range(min(args.frames, len(source)))):
                    Image.fromarray(rgb).save(video / f"{source.names[i]}.png")
        workspace = Workspace(tracker)
        workspace.open(video, Path(tmp) / "project")
        given = read_mask(args.mask).ids
        for _ in range(int(given.max()) - 1):  # objects 2.. (the project starts with 1)
            workspace.add_object(None, None)
        workspace.save_annotation(0, given.tobytes())
        with serving(workspace) as url:
            for r in range(args.rounds):
                out = Path(tmp) / f"cli{r}"
                results["xmem track"].append(cli_speed(video, args.mask, out, args.options))
                results["xmem gui (API)"].append(gui_speed(url, workspace))
                if args.browser:
                    results["xmem gui (browser)"].append(browser_speed(url, workspace))
                done = ", ".join(
                    f"{k} {v[-1][0]:.2f} frames/s {v[-1][1]:.3f} CPU s/frame"
                    for k, v in results.items()
                )
                print(f"round {r + 1}: {done}", flush=True)
    fps0 = statistics.median(v[0] for v in results["xmem track"])
    cpu0 = statistics.median(v[1] for v in results["xmem track"])
    print(f"median of {args.rounds} rounds ({torch.get_num_threads()} torch threads):")
    for name, values in results.items():
        fps = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(
            f"  {name:20s} {fps:6.2f} frames/s ({100 * (fps / fps0 - 1):+.1f} %)  "
            f"{cpu:6.3f} CPU s/frame ({100 * (cpu / cpu0 - 1):+.1f} %)"
        )


if __name__ == "__main__":
    run()
