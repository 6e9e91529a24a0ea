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
from xmem.io.overlay import OverlayWriter, check_overlay_path, render_overlay
from xmem.io.source import FrameSource
from xmem.io.writer import BackgroundWriter

logger = logging.getLogger(__name__)


EPILOG = """\
test-time adaptation (--adapt N):
  Before tracking, a copy of the network is fine-tuned for N steps on pseudo-clips made
  from the first annotated frame: the frame warped, cropped and flipped, its objects moved
  over an in-painted background, look-alike copies of them pasted in as background and
  smoke drawn over them. The decoder and the value encoder's heads learn this video's
  objects against this video's background, which keeps masks off look-alikes (a
  reflection, a crowd). Nothing is written to the weights file. Default: the model's own
  (xmem-lite0: 25 steps, 10–15 s on 2 CPU cores before the first frame; the official
  weights: 0, not measured with adaptation). --adapt 0 tracks exactly as without
  adaptation.

test-time flip (--flip, --no-flip):
  Every frame is segmented as it is and as its mirror image, by two engines with their own
  memories; both remember the mean of the two views, which is the result. Twice the compute
  per frame. Default: the model's own (xmem-lite0: on, DAVIS 2016 dev J&F 81.7 -> 82.5 at
  9-10 instead of 17-21 frames/s on 2 CPU cores; the official weights: off)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "track",
        help="segment objects through a video from masks on some frames",
        description="Segment the objects given by masks on some frames through a video.",
        epilog=EPILOG,
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
    """The tracker's results, or with ``--fill`` the filled video's; forward results carry
    their frames for a streamed overlay (:func:`_streams_overlay`)."""
    return_prob = args.report is not None
    if args.fill:
        return fill_track(tracker, source, annotations, return_prob, on_adapt)
    return tracker.track(
        source,
        annotations,
        reverse=args.reverse,
        return_prob=return_prob,
        return_frames=_streams_overlay(args),
        on_adapt=on_adapt,
    )


def _streams_overlay(args: argparse.Namespace) -> bool:
    """Whether the overlay is encoded while tracking, from the frames the tracker decoded:
    when results come in display order (forward, no ``--fill``); otherwise it is rendered
    from the written masks afterwards."""
    return args.overlay is not None and not args.reverse and not args.fill


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
        # Every output is staged (checked writable before any work) and appears only when
        # everything succeeded: a failure while writing the overlay leaves no masks either.
        with contextlib.ExitStack() as outputs:
            overlay = _staged_file(outputs, args.overlay)
            staged = outputs.enter_context(StagedDirectory(args.out))
            report = _staged_file(outputs, args.report)
            tracker = load_tracker(args, device, options)
            streamed = None
            if overlay is not None and _streams_overlay(args):
                fps = source.fps or 24.0
                streamed = OverlayWriter(
                    overlay, source.width, source.height, fps, palette, name=args.overlay
                )
                outputs.enter_context(streamed)  # closed (trailer written) before the commit
            rows, seconds = _track_into(
                tracker, source, annotations, args, staged, palette, streamed
            )
            if report is not None:
                _write_report(report, rows, source.names)
            if overlay is not None and streamed is None:
                masks = [staged.path / f"{name}.png" for name in source.names]
                render_overlay(
                    source, masks, overlay, fps=source.fps, palette=palette, progress=True
                )
        adapted = tracker.last_adapt.seconds if tracker.last_adapt is not None else 0.0
        logger.info(
            "wrote %d masks to %s (%.2f frames/s on %s%s)",
            len(source),
            args.out,
            len(source) / max(seconds, 1e-9),
            device,
            f", after {adapted:.1f} s of adaptation" if adapted else "",
        )
        for path, what in ((args.overlay, "overlay video"), (args.report, "drift report")):
            if path is not None:
                logger.info("wrote %s %s", what, path)
    return 0


def _staged_file(outputs: contextlib.ExitStack, path: Path | None) -> Path | None:
    """A staged (all-or-nothing) file for the output ``path``, if one is asked for."""
    return outputs.enter_context(atomic_output_file(path)) if path is not None else None


def _track_into(
    tracker: Tracker,
    source: FrameSource,
    annotations: dict[int, np.ndarray],
    args: argparse.Namespace,
    staged: StagedDirectory,
    palette: list[int] | None,
    overlay: OverlayWriter | None,
) -> tuple[list[ObjectQuality], float]:
    """Track, writing each mask (and the overlay's frame, when streamed) as it comes; returns
    the drift rows (with ``--report``) and the seconds spent tracking, adaptation excluded."""
    adapting = tqdm(
        total=tracker.adapt_steps,
        unit="step",
        desc="adapting",
        disable=tracker.adapt_steps == 0 or None,  # None: off when not a terminal
        leave=False,
        dynamic_ncols=True,
    )
    results = _results(tracker, source, annotations, args, lambda done, steps: adapting.update(1))
    start = time.perf_counter()
    bar = tqdm(results, total=len(source), unit="frame", desc="tracking", dynamic_ncols=True)
    monitor, rows = QualityMonitor(), []
    # PNGs are encoded by writer threads while the next frames are tracked
    with BackgroundWriter(enabled=tracker.options.speed.overlap_io) as writer:
        for result in bar:
            path = staged.path / f"{source.names[result.index]}.png"
            writer.submit(write_mask, path, result.mask, palette)
            if overlay is not None and result.frame is not None:
                overlay.add(result.index, result.frame, result.mask)
            if args.report is not None:
                rows.extend(monitor.update(result))
    adapting.close()
    adapted = tracker.last_adapt.seconds if tracker.last_adapt is not None else 0.0
    return rows, time.perf_counter() - start - adapted


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
