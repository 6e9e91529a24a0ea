"""Tracking speed of `xmem gui` against `xmem track` on the same clip and mask.

    python scripts/gui_speed.py [--video examples/sample/video.mp4]
        [--mask examples/sample/masks/00000.png] [--rounds 3] [--browser]

Each round runs `xmem track` (its own frames/s line: the tracking loop and PNG writing, after
the model is loaded), then the GUI's Track from the first frame through the HTTP server (frames/s
of the job), and with --browser the same pressed in headless Chromium (the page polls and shows
every frame as it is computed). Rounds alternate so that a busy CPU slows both alike; the
medians are printed.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from gui_harness import serving  # noqa: E402

from xmem.cli.main import build_parser, main  # noqa: E402
from xmem.cli.track import (  # noqa: E402
    inference_config,
    load_inference_network,
    select_device,
    speed_options,
)
from xmem.gui.jobs import Tracker  # noqa: E402
from xmem.gui.workspace import Workspace  # noqa: E402
from xmem.io.masks import read_mask  # noqa: E402


class FpsLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.fps: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("wrote ") and "frames/s" in text:
            self.fps = float(text.split("(")[1].split()[0])


def cli_fps(video: Path, mask: Path, out: Path, options: list[str]) -> float:
    handler = FpsLog()
    logging.getLogger("xmem").addHandler(handler)
    try:
        code = main(["track", str(video), "--masks", str(mask), "--out", str(out), *options])
    finally:
        logging.getLogger("xmem").removeHandler(handler)
    if code:
        raise SystemExit("xmem track failed")
    assert handler.fps is not None
    return handler.fps


def gui_fps(url: str, workspace: Workspace) -> float:
    with httpx.Client(base_url=url) as client:
        client.post("/api/track", json={"start": 0}).raise_for_status()
        while workspace.job_status().running:
            time.sleep(0.01)
    status = workspace.job_status()
    assert not status.error, status.message
    return status.fps


def browser_fps(url: str) -> float:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.wait_for_function("() => window.xmemGui && window.xmemGui.ready")
        page.evaluate("() => { window.xmemGui.job = null; }")
        page.click("#track")
        page.wait_for_function(
            "() => { const s = window.xmemGui; return s.job && !s.job.running && !s.polling; }",
            timeout=600_000,
        )
        fps = float(page.evaluate("() => window.xmemGui.job.fps"))
        browser.close()
    return fps


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=ROOT / "examples/sample/video.mp4")
    parser.add_argument("--mask", type=Path, default=ROOT / "examples/sample/masks/00000.png")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also press Track in Chromium")
    parser.add_argument("options", nargs="*", help="inference options for both, after --")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gui_args = build_parser().parse_args(["gui", *args.options])
    device = select_device(gui_args.device)
    tracker = Tracker(
        load_inference_network(gui_args, device),
        inference_config(gui_args),
        size=gui_args.size,
        precision=gui_args.precision,
        speed=speed_options(gui_args),
    )
    results: dict[str, list[float]] = {"xmem track": [], "xmem gui (API)": []}
    if args.browser:
        results["xmem gui (browser)"] = []
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(tracker)
        workspace.open(args.video, Path(tmp) / "project")
        workspace.save_annotation(0, read_mask(args.mask).ids.tobytes())
        ids = set(read_mask(args.mask).ids.ravel().tolist()) - {0, 1}
        for _ in sorted(ids):
            workspace.add_object(None, None)
        with serving(workspace) as url:
            for r in range(args.rounds):
                results["xmem track"].append(
                    cli_fps(args.video, args.mask, Path(tmp) / f"cli{r}", args.options)
                )
                results["xmem gui (API)"].append(gui_fps(url, workspace))
                if args.browser:
                    results["xmem gui (browser)"].append(browser_fps(url))
                done = ", ".join(f"{k} {v[-1]:.2f}" for k, v in results.items())
                print(f"round {r + 1}: {done}")
    base = statistics.median(results["xmem track"])
    print(f"frames/s, median of {args.rounds} rounds ({torch.get_num_threads()} threads):")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:20s} {median:6.2f}  ({100 * (median / base - 1):+.1f} % vs xmem track)")


if __name__ == "__main__":
    run()
