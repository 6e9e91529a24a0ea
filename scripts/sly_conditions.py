"""Measure the Supervisely app under platform conditions (issue 15, docs/supervisely.md).

Through the real SDK, real HTTP and the strict emulator (``tests/sly_platform``):

1. Stop: frames uploaded after the notification reply that says Stop, with replies that take
   0 s and 3 s; the tracker is a stand-in that computes a frame in 20 ms (GPU speed).
2. Device sharing (one slot): the first-figure latency of a 3-frame request sent while another
   request waits 6 s for its frames, and of the same request alone; stand-in: 100 ms a frame.
3. Outage: seconds from the first failing frame download (HTTP 503 on every try) to the error
   notification, with the app's default :class:`CallPolicy`.
4. Keyframes: the bundled model on real DAVIS 2016 frames, 40 frames tracked from frame 0, with
   and without the ground truth of frame 20 as a person's figure; IoU against the ground truth
   on frames 21-40.
5. Second reference: 20 frames tracked from the ground truth of frame 20, with and without the
   ground truth of frame 0 as a person's figure (read first, into memory); IoU on 21-40.

    python scripts/sly_conditions.py [--skip-keyframes] [--sequences dog parkour ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.*

logger = logging.getLogger("sly_conditions")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-keyframes", action="store_true", help="no model run (items 1-3)")
    p.add_argument("--skip-outage", action="store_true", help="item 3 takes about 30 s")
    p.add_argument("--sequences", nargs="+", default=["dog", "parkour", "bmx-trees"])
    p.add_argument("--weights", default="xmem-lite0")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)

    from fastapi.testclient import TestClient

    from tests.sly_platform.harness import Fake, shared
    from xmem.integrations.supervisely.platform import CallPolicy

    emu, app = shared(Path(tempfile.mkdtemp(prefix="sly_conditions_")))
    client = TestClient(app.app.get_server())
    app.progress_interval = 0.0
    result: dict[str, Any] = {}

    for latency in (0.0, 3.0):
        emu.reset()
        app.engine = Fake(delay=0.02)
        emu.inject("videos.notify-annotation-tool", delay=latency)
        emu.stop_after = 2
        post(client, "stop", 101, 0, 11, [901])
        wait(lambda: done(emu, "stop"))
        stop = emu.stop_answered()
        assert stop is not None
        after = {
            f["meta"]["frame"]
            for c in emu.calls("figures.bulk.add")
            if c.time > stop
            for f in c.body["figures"]
        }
        result[f"frames_uploaded_after_stop_at_{latency:.0f}s_latency"] = len(after)
        result[f"frames_computed_at_{latency:.0f}s_latency"] = len(app.engine.frames_seen)

    emu.add_video(303, 12, 96, 64)
    from tests.sly_platform.harness import SQUARE, bitmap_json

    emu.add_figure(931, 303, 31, 0, "bitmap", bitmap_json(SQUARE))
    for label, slow in (("alone", False), ("beside_a_6s_download", True)):
        emu.reset()
        app.engine = Fake(delay=0.1)
        if slow:
            emu.inject("videos.bulk.download-frame", delay=6.0, count=1, video=303)
            post(client, "slow", 303, 0, 11, [931])
            time.sleep(0.5)
        sent = time.monotonic()
        post(client, "quick", 101, 5, 3, [901])
        wait(lambda: any(c.body["entityId"] == 101 for c in emu.calls("figures.bulk.add")))
        first = next(c for c in emu.calls("figures.bulk.add") if c.body["entityId"] == 101)
        result[f"first_figure_s_{label}"] = round(first.time - sent, 2)
        wait(lambda s=slow: done(emu, "quick") and (not s or done(emu, "slow")), 60)

    if not args.skip_outage:
        emu.reset()
        app.engine = Fake()
        app.policy = CallPolicy()
        emu.inject("videos.bulk.download-frame", status=503)
        post(client, "outage", 101, 5, 3, [901])
        wait(lambda: bool(emu.notifications("videos:tracking-error")), 120)
        downloads = emu.calls("videos.bulk.download-frame")
        error = emu.calls("videos.notify-annotation-tool")[-1]
        result["outage_to_error_notification_s"] = round(error.time - downloads[0].time, 1)
        result["outage_tries"] = len(downloads)
        result["outage_message"] = error.body["data"]["error"]["message"]

    if not args.skip_keyframes:
        result["keyframes"] = keyframe_gain(emu, app, client, args.sequences, args.weights)
        result["references"] = reference_gain(emu, app, client, args.sequences)
    print(json.dumps(result, indent=1))  # noqa: T201 (the script's output)


def keyframe_gain(emu: Any, app: Any, client: Any, names: list[str], weights: str) -> Any:
    """IoU on frames 21-40 without and with the ground truth of frame 20 as a person's figure."""
    import torch

    import xmem
    from tests.sly_platform import davis
    from tests.sly_platform.harness import bitmap_json
    from xmem.model.weights import from_pretrained

    network = from_pretrained(weights, device="cpu")
    size = int(getattr(network, "default_size", 480))
    app.engine = xmem.Tracker(network, xmem.TrackOptions(size=size)).track
    torch.set_num_threads(2)
    rows = []
    for n, name in enumerate(names):
        seq = davis(name)
        if seq is None:
            raise SystemExit(f"DAVIS 2016 sequence {name} is not there")
        count = min(41, len(seq))
        for keyframe in (False, True):
            video = 600 + 2 * n + keyframe
            emu.add_video(
                video, count, seq.width, seq.height, frame_fn=lambda v, i, s=seq: s.frame(i)
            )
            emu.add_figure(10 * video, video, video, 0, "bitmap", bitmap_json(seq.mask(0)))
            if keyframe:
                emu.add_figure(
                    10 * video + 1, video, video, 20, "bitmap", bitmap_json(seq.mask(20))
                )
            emu.reset()
            start = time.monotonic()
            post(client, f"kf{video}", video, 0, count - 1, [10 * video])
            wait(lambda v=video: done(emu, f"kf{v}"), 600)
            ious = scores(emu, seq, range(21, count))
            rows.append(
                {
                    "sequence": name,
                    "keyframe_at_20": keyframe,
                    "mean_iou_21_40": ious,
                    "seconds": round(time.monotonic() - start, 1),
                }  # fmt: skip
            )
            logger.info("%s", rows[-1])
    gains = [
        b["mean_iou_21_40"] - a["mean_iou_21_40"]
        for a, b in zip(rows[::2], rows[1::2], strict=True)
    ]
    return {
        "model": weights,
        "size": size,
        "runs": rows,
        "mean_gain": round(float(np.mean(gains)), 3),
    }


def reference_gain(emu: Any, app: Any, client: Any, names: list[str]) -> Any:
    """IoU on frames 21-40 tracked from the ground truth of frame 20, without and with the
    ground truth of frame 0 as a person's figure (read first, as a second reference)."""
    from tests.sly_platform import davis
    from tests.sly_platform.harness import bitmap_json

    app.references = 2  # the run without a figure on frame 0 has none to read

    rows = []
    for n, name in enumerate(names):
        seq = davis(name)
        assert seq is not None
        count = min(41, len(seq))
        for reference in (False, True):
            video = 700 + 2 * n + reference
            emu.add_video(
                video, count, seq.width, seq.height, frame_fn=lambda v, i, s=seq: s.frame(i)
            )
            emu.add_figure(10 * video, video, video, 20, "bitmap", bitmap_json(seq.mask(20)))
            if reference:
                emu.add_figure(10 * video + 1, video, video, 0, "bitmap", bitmap_json(seq.mask(0)))
            emu.reset()
            post(client, f"ref{video}", video, 20, count - 21, [10 * video])
            wait(lambda v=video: done(emu, f"ref{v}"), 600)
            ious = scores(emu, seq, range(21, count))
            rows.append({"sequence": name, "reference_at_0": reference, "mean_iou_21_40": ious})
            logger.info("%s", rows[-1])
    gains = [
        b["mean_iou_21_40"] - a["mean_iou_21_40"]
        for a, b in zip(rows[::2], rows[1::2], strict=True)
    ]
    return {"runs": rows, "mean_gain": round(float(np.mean(gains)), 3)}


def scores(emu: Any, seq: Any, frames: range) -> float:
    from supervisely.geometry.helpers import deserialize_geometry

    masks = {i: np.zeros((seq.height, seq.width), np.uint8) for i in frames}
    for figure in emu.created_figures():
        if figure["meta"]["frame"] in masks:
            deserialize_geometry(figure["geometryType"], figure["geometry"]).draw(
                masks[figure["meta"]["frame"]], 1
            )
    ious = []
    for i, mask in masks.items():
        truth = seq.mask(i)
        union = np.logical_or(mask, truth).sum()
        ious.append(np.logical_and(mask, truth).sum() / union if union else 1.0)
    return round(float(np.mean(ious)), 3)


def post(
    client: Any, track_id: str, video: int, frame: int, frames: int, figures: list[int]
) -> None:
    body = {"context": {"trackId": track_id, "videoId": video, "frameIndex": frame,
                        "frames": frames, "figureIds": figures}}  # fmt: skip
    client.post("/track", json=body).raise_for_status()


def done(emu: Any, track_id: str) -> bool:
    ends = [
        n["data"]["progress"]
        for n in emu.notifications("videos:fetch-figures-in-range")
        if n["data"]["trackId"] == track_id
    ]
    failed = [
        n for n in emu.notifications("videos:tracking-error") if n["data"]["trackId"] == track_id
    ]
    if failed:
        raise SystemExit(f"tracking {track_id} failed: {failed}")
    return bool(ends) and ends[-1]["current"] == ends[-1]["total"]


def wait(check: Any, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        time.sleep(0.02)


if __name__ == "__main__":
    main()
