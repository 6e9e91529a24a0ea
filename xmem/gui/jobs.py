"""Long work of the GUI (tracking, exporting), one job at a time on the network's thread.

A job reports its progress (frames done, frames per second, the last frame computed) and stops
when asked, after the frame in progress: what was computed is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from xmem.errors import XMemError
from xmem.inference.fill import fill_gap
from xmem.inference.quality import QualityMonitor
from xmem.inference.tracker import FrameResult, Tracker
from xmem.io.source import FrameSource
from xmem.io.writer import BackgroundWriter
from xmem.runtime.network_thread import NetworkThread

from .exporting import export_project
from .project import Project

logger = logging.getLogger(__name__)

DIRECTIONS = ("forward", "backward", "both")

T = TypeVar("T")


@dataclass
class JobStatus:
    """What the page shows of the current (or last) job."""

    kind: str = ""  # "track" or "export"
    running: bool = False
    done: int = 0
    total: int = 0
    fps: float = 0.0
    last_index: int | None = None  # the frame computed last
    message: str = ""  # the result, or why it failed
    error: bool = False
    stopped: bool = False
    done_when_stop_asked: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)  # object id → frames held


class Job:
    """Runs ``work(job)`` on the network's thread; ``work`` calls :meth:`progress` after each
    frame."""

    def __init__(self, kind: str, total: int, work: Callable[[Job], str]) -> None:
        self.status = JobStatus(kind=kind, running=True, total=total)
        self._work = work
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._start = time.perf_counter()
        self._done_before_rate = 0
        self._shown: tuple[int, np.ndarray, np.ndarray] | None = None  # index, RGB, ids
        self._finished = threading.Event()

    def start(self, thread: NetworkThread) -> Job:
        thread.submit(self._run)
        return self

    def stop(self) -> None:
        with self._lock:
            if self.status.running and not self._stop.is_set():
                self.status.done_when_stop_asked = self.status.done
                self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def progress(self, index: int | None, frames: int = 1) -> None:
        now = time.perf_counter()
        with self._lock:
            self.status.done += frames
            if index is not None:
                self.status.last_index = index
            elapsed = now - self._start
            done = self.status.done - self._done_before_rate
            self.status.fps = done / elapsed if elapsed > 0 else 0.0

    def memory(self, frames: dict[int, dict[str, int]]) -> None:
        """What the tracker's memory holds per object (for the page)."""
        with self._lock:
            self.status.memory = {str(k): v for k, v in frames.items()}

    def note(self, message: str) -> None:
        """What the job is doing now, for the page (e.g. adapting, before the first frame)."""
        with self._lock:
            self.status.message = message

    def restart_rate(self) -> None:
        """Count frames per second from now (after an adaptation, which is not tracking)."""
        with self._lock:
            self._start = time.perf_counter()
            self._done_before_rate = self.status.done

    def show(self, index: int, rgb: np.ndarray, ids: np.ndarray) -> None:
        """Keep frame ``index`` (just computed) for the page's preview; no copies."""
        with self._lock:
            self._shown = (index, rgb, ids)

    def snapshot(self) -> JobStatus:
        return self.shown()[0]

    def shown(self) -> tuple[JobStatus, tuple[int, np.ndarray, np.ndarray] | None]:
        """The status and the frame last shown (index, RGB, ids), taken together."""
        with self._lock:
            status = JobStatus(
                **{
                    **self.status.__dict__,
                    "outputs": dict(self.status.outputs),
                    "memory": dict(self.status.memory),
                }
            )
            return status, self._shown

    def _run(self) -> None:
        kind = self.status.kind
        try:
            message = self._work(self)
            error = False
        except XMemError as exc:
            message, error = str(exc), True
        except Exception as exc:  # a bug: keep the traceback on the console
            logger.exception("%s failed", kind)
            message, error = f"{kind} failed: {type(exc).__name__}: {exc}", True
        with self._lock:
            self._shown = None
            self.status.running = False
            self.status.stopped = self._stop.is_set()
            self.status.message = message
            self.status.error = error
        self._finished.set()
        (logger.error if error else logger.info)("%s%s", "error: " if error else "", message)

    def join(self, timeout: float | None = None) -> None:
        self._finished.wait(timeout)


# -- tracking ------------------------------------------------------------------------------


def passes(
    start: int,
    n_frames: int,
    direction: str,
    count: int | None,
    stops: Collection[int] = (),
) -> list[list[int]]:
    """The frame indices of each pass from ``start``: forward and/or backward, ``count`` frames
    each after the start (None: to the end of the video), ending before the first frame of
    ``stops`` on the way (a person's next keyframe, when tracking "to the next keyframe")."""
    if direction not in DIRECTIONS:
        raise XMemError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if not 0 <= start < n_frames:
        raise XMemError(f"frame {start} does not exist (the video has {n_frames})")
    if count is not None and count < 1:
        raise XMemError(f"the number of frames to track must be at least 1, got {count}")
    steps = n_frames if count is None else count
    after = [i for i in stops if i > start]
    before = [i for i in stops if i < start]
    end = min([start + steps + 1, n_frames, *after])
    begin = max([start - steps - 1, -1, *before])
    out = []
    if direction in ("forward", "both"):
        out.append(list(range(start, end)))
    if direction in ("backward", "both"):
        out.append(list(range(start, begin, -1)))
    return [p for p in out if len(p) > 1]


def _keep_results(
    job: Job,
    results: Iterator[FrameResult],
    tracker: Tracker,
    project: Project,
    skip: Collection[int],
) -> int:
    """Save each result (mask, probabilities and drift figures) but those of frames ``skip``
    (a person's), and show it; stops early when the job is asked to. Returns the number of
    frames seen."""
    palette = project.palette()
    monitor, rows, seen = QualityMonitor(), [], 0
    try:
        with BackgroundWriter(enabled=tracker.options.speed.overlap_io) as writer:
            for result in results:
                figures = monitor.update(result) if result.prob is not None else []
                if result.index not in skip:
                    soft = None
                    if result.prob is not None and result.object_ids:
                        soft = (result.object_ids, result.prob[1:].numpy())  # quantised there
                    writer.submit(project.save_tracked, result.index, result.mask, palette, soft)
                    rows.extend(figures)
                seen += 1
                if result.frame is not None:
                    job.show(result.index, result.frame, result.mask)
                if tracker.current is not None:
                    job.memory(tracker.current.memory_frames())
                job.progress(result.index)
                if job.stopping:
                    break
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # stops the decoding thread now
        project.save_quality(rows)
    return seen


def _adapting(job: Job, first: int) -> Callable[[int, int], None]:
    def note(step: int, steps: int) -> None:
        job.note(f"adapting to frame {first}: step {step} / {steps}")
        if step == steps:
            job.restart_rate()

    return note


def track_frames(
    job: Job,
    tracker: Tracker,
    project: Project,
    source: FrameSource,
    frame_passes: list[list[int]],
    start_mask: np.ndarray,
) -> str:
    """Track each pass; a person's frames on the way are given to the tracker and kept."""
    computed = 0
    for indices in frame_passes:
        human = set(project.human)
        annotations: dict[int, np.ndarray] = {indices[0]: start_mask}
        for index in indices[1:]:
            if index in human:
                ids = project.annotation(index)
                if ids is not None and ids.any():
                    annotations[index] = ids
        results = tracker.track(
            source,
            annotations,
            indices=indices,
            return_prob=True,
            return_frames=True,
            on_adapt=_adapting(job, indices[0]),
            pinned=set(project.pinned),
        )
        skip = {indices[0], *human}
        computed += _keep_results(job, results, tracker, project, skip)
        if job.stopping:
            return f"stopped: {computed} frames tracked, kept"
    return f"tracked {computed} frames"


def keyframes_around(project: Project, index: int) -> tuple[int, int]:
    """The person's keyframes ``a <= index < b`` with none between them."""
    project.check_index(index)
    before = [i for i in project.human if i <= index]
    after = [i for i in project.human if i > index]
    if not before or not after:
        raise XMemError(
            f"frame {index} is not between two frames a person drew: draw on a frame before "
            "and one after it (or use Track)"
        )
    return max(before), min(after)


def fill_frames(
    job: Job, tracker: Tracker, project: Project, source: FrameSource, a: int, b: int
) -> str:
    """Fill the frames between keyframes ``a`` and ``b`` from both (:func:`fill_gap`)."""
    first, last = project.annotation(a), project.annotation(b)
    if first is None or last is None or not first.any() or not last.any():
        raise XMemError(f"frames {a} and {b} must both have a drawn mask to fill between them")
    job.note(f"filling frames {a + 1}–{b - 1}: tracking backward from {b}, then forward from {a}")
    filled = (
        f.result
        for f in fill_gap(tracker, source, a, b, first, last, True, _adapting(job, a), True)
    )
    seen = _keep_results(job, filled, tracker, project, {a, b})
    if job.stopping:
        return f"stopped: {max(0, seen - 1)} frames filled, kept"
    return f"filled the {b - a - 1} frames between keyframes {a} and {b}"


# -- export ------------------------------------------------------------------------------


def export(job: Job, project: Project, out: Path, fmt: str = "davis") -> str:
    """Export every frame's mask in format ``fmt`` (:mod:`.exporting`) into ``out``."""
    n = len(project.names)
    job.status.outputs.update(export_project(project, fmt, out, lambda index: job.progress(index)))
    if fmt == "davis":
        job.progress(None, n)  # the overlay counts as the second half
        return f"exported {n} masks, overlay video and areas to {out}"
    return f"exported {n} frames as {fmt} to {out}"
