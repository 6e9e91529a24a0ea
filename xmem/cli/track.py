"""``xmem track INPUT --masks M --out DIR``: segment objects through a video."""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tqdm.std import tqdm

from xmem.cli.options import add_inference_options, load_tracker, select_device, track_options
from xmem.errors import XMemError
from xmem.inference.fill import fill_track
from xmem.inference.quality import SUSPECT, ObjectQuality, QualityMonitor, write_report
from xmem.inference.tracker import FrameResult, Tracker
from xmem.io.frames import open_frames
from xmem.io.masks import Mask, find_annotations, read_mask, write_mask
from xmem.io.output import StagedDirectory, atomic_output_file
from xmem.io.overlay import check_overlay_path, render_overlay
from xmem.io.source import FrameSource
from xmem.io.writer import BackgroundWriter

logger = logging.getLogger(__name__)


ADAPT_HELP = """\
test-time adaptation (--adapt N):
  Before tracking, a copy of the network is fine-tuned for N steps on pseudo-clips made
  from the first annotated frame: the frame warped, cropped and flipped, its objects moved
  over an in-painted background, look-alike copies of them pasted in as background and
  smoke drawn over them. The decoder and the value encoder's heads learn this video's
  objects against this video's background, which keeps masks off look-alikes (a
  reflection, a crowd). Nothing is written to the weights file. Default: the model's own
  (xmem-lite0: 25 steps, 10–15 s on 2 CPU cores before the first frame; the official
  weights: 0, not measured with adaptation). --adapt 0 tracks exactly as before adaptation
  existed."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "track",
        help="segment objects through a video from masks on some frames",
        description="Segment the objects given by masks on some frames through a video.",
        epilog=ADAPT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "input", type=Path, help="folder of frames (jpg/png) or video file (mp4/mov/avi/mkv)"
    )
    p.add_argument(
        "--masks",
        "-m",
        type=Path,
        required=True,
        help="one PNG (for the first frame, or the frame named like it) "
        "or a folder of PNGs named like the frames",
    )
    p.add_argument(
        "--out", "-o", type=Path, required=True, help="output folder: one palette PNG per frame"
    )
    p.add_argument(
        "--overlay", type=Path, default=None, help="also write an overlay video (e.g. out.mp4)"
    )
    p.add_argument(
        "--reverse",
        action="store_true",
        help="propagate backward, from the last frame to the first",
    )
    p.add_argument(
        "--fill",
        action="store_true",
        help="with a --masks folder of several annotated frames: fill each gap between two of "
        "them from both (tracked forward from the first and backward from the second, merged "
        "by nearness); the annotated frames come out exactly as given",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="FILE.csv",
        help="also write per frame and object the tracker's confidence, the share of uncertain "
        "pixels, the area change, the IoU with the previous frame and a drift score; frames "
        "scoring >= 0.5 are marked suspect (docs/gui.md, 'Drift marks')",
    )
    add_inference_options(p)
    p.set_defaults(run=run)


def load_annotations(
    source: FrameSource, masks: Path, reverse: bool
) -> tuple[dict[int, np.ndarray], list[int] | None]:
    """Read and check every annotation before any work starts."""
    paths = find_annotations(masks, source.names, default_index=len(source) - 1 if reverse else 0)
    annotations: dict[int, np.ndarray] = {}
    palette = None
    for index in sorted(paths, reverse=reverse):
        mask: Mask = read_mask(paths[index])
        h, w = mask.ids.shape
        if (h, w) != (source.height, source.width):
            raise XMemError(
                f"mask '{paths[index]}' is {w}×{h} "
                f"but the frames are {source.width}×{source.height}"
            )
        if not mask.ids.any():
            if not annotations:
                raise XMemError(f"mask '{paths[index]}' has no object (it is all background)")
            logger.warning("mask '%s' has no object; ignored", paths[index])
            continue
        palette = palette or mask.palette
        annotations[index] = mask.ids
    return annotations, palette


def _results(
    tracker: Tracker,
    source: FrameSource,
    annotations: dict[int, np.ndarray],
    args: argparse.Namespace,
    on_adapt: Callable[[int, int], None],
) -> Iterator[FrameResult]:
    """The tracker's results, or with ``--fill`` the filled video's."""
    return_prob = args.report is not None
    if args.fill:
        return fill_track(tracker, source, annotations, return_prob, on_adapt)
    return tracker.track(
        source, annotations, reverse=args.reverse, return_prob=return_prob, on_adapt=on_adapt
    )


def _check_fill(args: argparse.Namespace, annotations: dict[int, np.ndarray]) -> None:
    if not args.fill:
        return
    if args.reverse:
        raise XMemError("--fill tracks both ways by itself: leave out --reverse")
    if len(annotations) < 2:
        raise XMemError(
            f"--fill needs a --masks folder with at least two annotated frames; "
            f"'{args.masks}' gives {len(annotations)}"
        )


def run(args: argparse.Namespace) -> int:
    options = track_options(args)
    if args.overlay is not None:
        check_overlay_path(args.overlay)  # before the work, not after it
    device = select_device(args.device)
    with open_frames(args.input) as source:
        annotations, palette = load_annotations(source, args.masks, args.reverse)
        _check_fill(args, annotations)
        # Both outputs are staged (checked writable before any work) and appear only when
        # everything succeeded: a failure while writing the overlay leaves no masks either.
        with contextlib.ExitStack() as outputs:
            overlay = (
                outputs.enter_context(atomic_output_file(args.overlay))
                if args.overlay is not None
                else None
            )
            staged = outputs.enter_context(StagedDirectory(args.out))
            report = (
                outputs.enter_context(atomic_output_file(args.report))
                if args.report is not None
                else None
            )
            tracker = load_tracker(args, device, options)
            adapting = tqdm(
                total=tracker.adapt_steps,
                unit="step",
                desc="adapting",
                disable=tracker.adapt_steps == 0 or None,  # None: off when not a terminal
                leave=False,
                dynamic_ncols=True,
            )
            results = _results(
                tracker, source, annotations, args, lambda step, steps: adapting.update(1)
            )
            start = time.perf_counter()
            bar = tqdm(
                results, total=len(source), unit="frame", desc="tracking", dynamic_ncols=True
            )
            monitor, rows = QualityMonitor(), []
            # PNGs are encoded by writer threads while the next frames are tracked
            with BackgroundWriter(enabled=options.speed.overlap_io) as writer:
                for result in bar:
                    path = staged.path / f"{source.names[result.index]}.png"
                    writer.submit(write_mask, path, result.mask, palette)
                    if report is not None:
                        rows.extend(monitor.update(result))
            adapting.close()
            if report is not None:
                _write_report(report, rows, source.names)
            adapted = tracker.last_adapt.seconds if tracker.last_adapt is not None else 0.0
            elapsed = time.perf_counter() - start - adapted
            if overlay is not None:
                masks = [staged.path / f"{name}.png" for name in source.names]
                render_overlay(
                    source, masks, overlay, fps=source.fps, palette=palette, progress=True
                )
        logger.info(
            "wrote %d masks to %s (%.2f frames/s on %s%s)",
            len(source),
            args.out,
            len(source) / max(elapsed, 1e-9),
            device,
            f", after {adapted:.1f} s of adaptation" if adapted else "",
        )
        if args.overlay is not None:
            logger.info("wrote overlay video %s", args.overlay)
        if args.report is not None:
            logger.info("wrote drift report %s", args.report)
    return 0


def _write_report(path: Path, rows: list[ObjectQuality], names: list[str]) -> None:
    rows.sort(key=lambda r: (r.frame, r.object_id))
    with open(path, "w", encoding="utf-8", newline="") as out:
        write_report(rows, names, out)
    suspects = sorted({r.frame for r in rows if r.suspect})
    listed = ", ".join(names[i] for i in suspects[:10]) + (", …" if len(suspects) > 10 else "")
    logger.info(
        "%d suspect frames (drift score >= %.1f)%s",
        len(suspects),
        SUSPECT,
        f": {listed}" if suspects else "",
    )
