"""Measure the Supervisely app against the loopback emulator (docs/supervisely.md).

1. Overhead: the same frames tracked by the bare engine (``xmem.track`` on frames in memory)
   and through the app's ``/track`` (bulk download, PNG decoding, tracing, figure upload,
   progress), in one process; the difference per frame is the app's overhead.
2. Memory: peak RSS of the process while the app tracks a long range (``--frames``) at the
   video's size, sampled every 10 ms.

    python scripts/sly_bench.py --model xmem-compact --frames 100 --width 854 --height 480
    python scripts/sly_bench.py --model xmem-compact --frames 1000 --width 1920 --height 1080 \
        --skip-bare
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("sly_bench")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="xmem-compact", help="architecture (random weights)")
    p.add_argument("--frames", type=int, default=100, help="frames tracked after the source")
    p.add_argument("--width", type=int, default=854)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--size", type=int, default=480, help="processing size (shorter side)")
    p.add_argument("--skip-bare", action="store_true", help="only the app (memory run)")
    p.add_argument(
        "--main-thread",
        action="store_true",
        help="as before issue 24: the model loaded on the main thread and run on the request's "
        "(default: loaded and run on one network thread, as `xmem serve` does)",
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = tempfile.mkdtemp(prefix="sly_bench_")
    os.environ.update(
        SLY_APP_DATA_DIR=data,
        SMART_CACHE_CONTAINER_DIR=f"{data}/cache",
        SUPERVISELY_PUBLIC_API_RETRY_SLEEP_SEC="0",
        SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK="1",
        API_TOKEN="bench",
    )
    from supervisely.geometry.bitmap import Bitmap

    import xmem
    from xmem.integrations.supervisely.app import XMemTracking
    from xmem.integrations.supervisely.server import tracking_engine
    from xmem.model.network import random_network
    from xmem.runtime.machine import current_rss_mb, machine_facts
    from xmem.runtime.network_thread import NetworkThread

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root
    from tests.sly_platform import SuperviselyEmulator, default_frame  # test support, not installed

    w, h, n = args.width, args.height, args.frames + 1
    side = min(w, h) // 4
    mask = np.zeros((h, w), bool)
    mask[h // 3 - 4 : h // 3 + side + 4, 0 : side + 4] = True  # the emulator's moving square
    thread = None if args.main_thread else NetworkThread()

    def load() -> xmem.Tracker:
        return xmem.Tracker(random_network(args.model), xmem.TrackOptions(size=args.size))

    tracker = load() if thread is None else thread.call(load)
    engine = tracking_engine(tracker, thread)
    result: dict[str, object] = {"machine": machine_facts(torch.device("cpu")), "args": vars(args)}

    if not args.skip_bare:
        frames = [(i, default_frame(1, i, w, h)) for i in range(n)]
        given = {0: xmem.ObjectMasks((1,), mask[None])}
        list(engine(frames[:3], given))  # warm-up
        start = time.perf_counter()
        for _ in engine(frames, given):
            pass
        bare = (time.perf_counter() - start) / n
        result["bare_engine_s_per_frame"] = round(bare, 4)
        del frames
        logger.info("bare engine: %.1f ms/frame", bare * 1000)

    with SuperviselyEmulator() as emu:
        os.environ["SERVER_ADDRESS"] = emu.address
        emu.add_video(1, n, w, h)
        emu.add_figure(10, 1, 20, 0, "bitmap", {"bitmap": Bitmap(mask).to_json()["bitmap"]})
        app = XMemTracking(engine, "cpu")
        app.serve()
        from fastapi.testclient import TestClient

        client = TestClient(app.app.get_server())
        before = current_rss_mb() or 0.0
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak.append(current_rss_mb() or 0.0)
                time.sleep(0.01)

        threading.Thread(target=sample, daemon=True).start()
        body = {
            "context": {"trackId": "bench", "videoId": 1, "frameIndex": 0,
                        "frames": args.frames, "figureIds": [10]},
        }  # fmt: skip
        start = time.perf_counter()
        client.post("/track", json=body).raise_for_status()
        while True:
            notes = emu.notifications("videos:fetch-figures-in-range")
            if notes and notes[-1]["data"]["progress"]["current"] == args.frames:
                break
            if emu.notifications("videos:tracking-error"):
                raise SystemExit(f"tracking failed: {emu.notifications('videos:tracking-error')}")
            time.sleep(0.05)
        through_app = (time.perf_counter() - start) / n
        done.set()
        result.update(
            app_s_per_frame=round(through_app, 4),
            rss_before_mb=round(before, 1),
            rss_peak_mb=round(max(peak), 1),
            figures=len(emu.created_figures()),
            bulk_downloads=len(emu.calls("videos.bulk.download-frame")),
            notifications=len(emu.notifications()),
        )
        if "bare_engine_s_per_frame" in result:
            overhead = through_app - float(result["bare_engine_s_per_frame"])  # type: ignore[arg-type]
            result["overhead_ms_per_frame"] = round(overhead * 1000, 1)
        logger.info("%s", json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
