"""Tracking speed of `xmem gui` against `xmem track` on the same clip and mask.

    python scripts/gui_speed.py [--video examples/sample/video.mp4]
        [--mask examples/sample/masks/00000.png] [--frames N] [--rounds 5] [--browser]
        [-- xmem track options]

Both run as users run them, each time in a fresh process: `xmem track` (its closing line gives
the frames/s of its tracking loop, after the model is loaded), and an `xmem gui` server whose
Track is pressed from the first frame through the HTTP API (frames/s of the job; its status is
asked every 500 ms over one kept-alive connection, as the page does) and, with
--browser, in headless Chromium on the same machine (the page follows the track, showing a
frame every 500 ms). Rounds alternate so that a CPU whose speed drifts slows all alike, and the
headline is the median over rounds of each round's ratio to `xmem track`. Also printed: CPU
seconds per frame of the GUI server and of the browser's processes. ``--frames N`` tracks the
first N frames only (written losslessly as a PNG folder that both read).
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repo root, for xmem in a checkout without an install

from xmem.io.frames import open_frames  # noqa: E402
from xmem.io.masks import read_mask  # noqa: E402

XMEM = [sys.executable, "-m", "xmem"]
CHROMIUM = "/usr/bin/chromium"
FOLLOW_S = 0.5  # how often the page asks while it follows a track (FOLLOW_MS of jobs.js)
FINISHED = "() => { const s = window.xmemGui; return s.job && !s.job.running && !s.polling; }"


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass  # ended meanwhile
    return total


def cli_speed(video: Path, mask: Path, out: Path, options: list[str]) -> float:
    """frames/s of `xmem track`'s tracking loop, from its closing line."""
    cmd = [*XMEM, "track", str(video), "--masks", str(mask), "--out", str(out), *options]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    found = re.search(r"\(([\d.]+) frames/s", done.stderr)
    if done.returncode or found is None:
        raise SystemExit(f"xmem track failed:\n{done.stderr[-2000:]}")
    return float(found.group(1))


@contextmanager
def gui_server(
    video: Path, mask: Path, project: Path, options: list[str]
) -> Iterator[tuple[str, psutil.Process]]:
    """`xmem gui VIDEO` in its own process, with the mask given on frame 0; yields its URL and
    process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [*XMEM, "gui", str(video), "--project", str(project), "--port", str(port), *options]
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/api/state").raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("xmem gui did not start") from None
                time.sleep(0.2)
        given = read_mask(mask).ids
        for _ in range(int(given.max()) - 1):  # objects 2.. (a project starts with 1)
            httpx.post(f"{url}/api/objects", json={}).raise_for_status()
        httpx.put(f"{url}/api/annotation/0", content=given.tobytes()).raise_for_status()
        yield url, psutil.Process(server.pid)
    finally:
        server.terminate()
        server.wait(30)


def api_speed(url: str, server: psutil.Process) -> tuple[float, float]:
    """frames/s of a Track pressed through the API, and the server's CPU s/frame."""
    cpu = cpu_seconds([server])
    # one kept-alive client, asking as often as the page does: a new client per request
    # (httpx.get) costs ~50 ms of CPU on this side, which the 2 cores' tracker then lacks
    with httpx.Client(base_url=url) as client:
        client.post("/api/track", json={"start": 0}).raise_for_status()
        while (job := client.get("/api/job").json())["running"]:
            time.sleep(FOLLOW_S)
    assert not job["error"], job["message"]
    return job["fps"], (cpu_seconds([server]) - cpu) / job["done"]


def browser_speed(url: str, server: psutil.Process) -> tuple[float, float, float]:
    """frames/s of a Track pressed in headless Chromium, and CPU s/frame of the server and of
    the browser's processes."""
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    me = psutil.Process()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.wait_for_function("() => window.xmemGui && window.xmemGui.ready")
        page.evaluate("() => { window.xmemGui.job = null; }")
        page.wait_for_timeout(500)  # the page settles, as it does before a person presses Track
        browser_processes = [c for c in me.children(recursive=True) if c.pid != server.pid]
        cpu = cpu_seconds([server]), cpu_seconds(browser_processes)
        page.click("#track")
        # checked once a second: Playwright's default, every animation frame, makes headless
        # Chromium render 60 frames/s, a cost of the measurement and not of the page (the
        # job's own frames/s does not depend on when the end is seen)
        page.wait_for_function(FINISHED, timeout=600_000, polling=1000)
        server_cpu = cpu_seconds([server]) - cpu[0]
        browser_cpu = cpu_seconds(browser_processes) - cpu[1]
        job = page.evaluate("() => window.xmemGui.job")
        browser.close()
    return job["fps"], server_cpu / job["done"], browser_cpu / job["done"]


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=ROOT / "examples/sample/video.mp4")
    parser.add_argument("--mask", type=Path, default=ROOT / "examples/sample/masks/00000.png")
    parser.add_argument("--frames", type=int, default=0, help="the first N frames (0: all)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--browser", action="store_true", help="also press Track in Chromium")
    parser.add_argument("options", nargs="*", help="inference options for both, after --")
    args = parser.parse_args()
    fps: dict[str, list[float]] = {"xmem track": [], "xmem gui (API)": []}
    cpu: dict[str, list[float]] = {"server (API)": []}
    if args.browser:
        fps["xmem gui (browser)"] = []
        cpu |= {"server (browser)": [], "browser": []}
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video.resolve()
        if args.frames:
            video = Path(tmp) / "frames"
            video.mkdir()
            with open_frames(args.video) as source:
                for i, rgb in source.read(range(min(args.frames, len(source)))):
                    Image.fromarray(rgb).save(video / f"{source.names[i]}.png")
        mask = args.mask.resolve()
        for r in range(args.rounds):
            fps["xmem track"].append(cli_speed(video, mask, Path(tmp) / f"cli{r}", args.options))
            # a fresh server for each track, as `xmem track` is a fresh process each time
            with gui_server(video, mask, Path(tmp) / f"api{r}", args.options) as (url, server):
                speed, server_cpu = api_speed(url, server)
            fps["xmem gui (API)"].append(speed)
            cpu["server (API)"].append(server_cpu)
            if args.browser:
                with gui_server(video, mask, Path(tmp) / f"page{r}", args.options) as (url, server):
                    speed, server_cpu, browser_cpu = browser_speed(url, server)
                fps["xmem gui (browser)"].append(speed)
                cpu["server (browser)"].append(server_cpu)
                cpu["browser"].append(browser_cpu)
            done = ", ".join(f"{k} {v[-1]:.2f}" for k, v in fps.items())
            print(f"round {r + 1} (frames/s): {done}", flush=True)
    base = fps["xmem track"]
    print(f"median of {args.rounds} rounds:")
    for name, values in fps.items():
        ratio = statistics.median(v / b - 1 for v, b in zip(values, base, strict=True))
        print(
            f"  {name:20s} {statistics.median(values):6.2f} frames/s  "
            f"{100 * ratio:+6.1f} % (median of the rounds' ratios)"
        )
    for name, values in cpu.items():
        print(f"  CPU of the {name:17s} {statistics.median(values):6.3f} s/frame")


if __name__ == "__main__":
    run()
