"""The state behind the GUI's server: the open project, its frames and the running job."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from xmem.errors import BusyError, XMemError
from xmem.inference.quality import SUSPECT
from xmem.inference.tracker import Tracker
from xmem.io.frames import ImageFolderSource, open_frames
from xmem.io.overlay import blend, palette_colours
from xmem.io.source import FrameSource
from xmem.io.video import VideoSource
from xmem.memory.manager import max_pinned
from xmem.model.weights import LITE0_ADAPT_STEPS
from xmem.runtime.network_thread import NetworkThread

from .exporting import check_format, default_export_dir
from .importing import import_masks
from .jobs import (
    Job,
    JobStatus,
    export,
    fill_frames,
    keyframes_around,
    passes,
    track_frames,
)
from .project import FORMAT_VERSION, Project
from .quality import suspects

UNTIL = ("keyframe", "end")

# the Adapt toggle's steps when the loaded tracker does not adapt (`--adapt 0`, or a model
# with no default steps): xmem-lite0's default
DEFAULT_ADAPT_STEPS = LITE0_ADAPT_STEPS

logger = logging.getLogger(__name__)

JPEG_QUALITY = 90
PREVIEW_ALPHA = 140 / 255  # the page's own mask opacity


def runs(indices: Iterable[int]) -> list[list[int]]:
    """Sorted indices as inclusive ``[first, last]`` runs: ``[0, 1, 2, 5] -> [[0, 2], [5, 5]]``."""
    out: list[list[int]] = []
    for i in sorted(indices):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def second_reader(source: FrameSource) -> FrameSource:
    """Another reader of the same frames, for the jobs' thread (a video is not thread-safe).

    A video is indexed once, when opened (every frame decoded to find its timestamps); the
    second reader shares that index instead of decoding the whole video again, with its own
    decoder, opened on first use.
    """
    if isinstance(source, VideoSource):
        return source.twin()
    if isinstance(source, ImageFolderSource):
        return source  # stateless: each read opens its files
    return open_frames(getattr(source, "path"))  # noqa: B009


def default_project_dir(source: str | Path) -> Path:
    """``video.mp4`` -> ``video.xmem`` beside it; ``frames/`` -> ``frames.xmem``."""
    path = Path(os.path.abspath(source))
    return path.parent / f"{path.name if path.is_dir() else path.stem}.xmem"


class Workspace:
    """One open project (or none, with the reason), its frames and one job at a time.

    Methods raise :class:`XMemError` with a message for the page; the server turns it into a
    4xx/5xx JSON reply.
    """

    def __init__(self, tracker: Tracker, thread: NetworkThread | None = None) -> None:
        """``thread``: the thread that loaded ``tracker``, which then runs the jobs (default:
        a new one); see :class:`NetworkThread` for why it matters for speed."""
        self.tracker = tracker
        # Adapt (test-time adaptation) on or off per track; N steps from `xmem gui --adapt N`
        self.adapt_steps = tracker.adapt_steps or DEFAULT_ADAPT_STEPS
        self._trackers: dict[bool, Tracker] = {tracker.adapt_steps > 0: tracker}
        self.network_thread = thread if thread is not None else NetworkThread()
        self.project: Project | None = None
        self.error: str | None = None  # why the last open failed
        self.job: Job | None = None
        self._job_source: FrameSource | None = None  # frames for jobs (the viewer has its own)
        self._lock = threading.RLock()  # the project, its objects and the job
        self._frames = threading.Lock()  # the viewer's frame source (not thread-safe)

    # -- opening -------------------------------------------------------------------------

    def open(self, source: str | Path | None, project: str | Path | None) -> Project:
        """Open (or create) a project; on failure the message is kept for the page."""
        with self._lock:
            if self.busy:
                raise BusyError("wait for the running job to finish (or stop it) first")
            if source is None and project is None:
                raise XMemError("give a video, a frames folder or a project folder")
            root = Path(project) if project else default_project_dir(Path(str(source)))
            try:
                opened = Project.open(root, source)
                job_source = second_reader(opened.source)
            except XMemError as exc:
                self.error = str(exc)
                logger.error("error: %s", exc)
                raise
            self.close()
            self.project, self._job_source, self.error = opened, job_source, None
            return opened

    def close(self) -> None:
        with self._lock:
            if self.job is not None:
                self.job.stop()
                self.job.join()
            with self._frames:  # not while a frame is being read
                if self.project is not None:
                    self.project.close()
                if self._job_source is not None:
                    self._job_source.close()
            self.project, self._job_source, self.job = None, None, None

    def require(self) -> Project:
        if self.project is None:
            raise XMemError(self.error or "no project is open: open a video or a project first")
        return self.project

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.status.running

    # -- state for the page --------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            project = self.project
            return {
                "version": FORMAT_VERSION,
                "error": self.error,
                "job": self.job_status().__dict__,
                "adapt": {"on": self.tracker.adapt_steps > 0, "steps": self.adapt_steps},
                "project": None
                if project is None
                else {
                    "root": str(project.root),
                    "source": str(project.source_path),
                    "frames": len(project.names),
                    "names": project.names,
                    "width": project.source.width,
                    "height": project.source.height,
                    "fps": project.source.fps,
                    "objects": [o.__dict__ for o in project.objects],
                    "human": sorted(project.human),
                    "tracked": runs(project.tracked),
                    "pinned": sorted(project.pinned),
                    "max_pinned": self.max_pinned,
                    "suspects": suspects(project.quality, project.human),
                },
            }

    def job_status(self) -> JobStatus:
        return self.job.snapshot() if self.job is not None else JobStatus()

    # -- frames and masks ----------------------------------------------------------------

    def frame_jpeg(self, index: int) -> bytes:
        with self._frames:  # also keeps the project from being closed meanwhile
            project = self.require()
            project.check_index(index)
            _, rgb = next(iter(project.source.read([index])))
        return _jpeg(rgb)

    def preview(self, masks: bool = True) -> tuple[JobStatus, int | None, bytes | None]:
        """The job's status, and the frame it computed last as JPEG with its masks drawn in
        (unless ``masks`` is False): all the page needs, in one request, to follow a track.
        The frame is the one the tracker decoded, so the server decodes nothing more."""
        job = self.job
        if job is None:
            return JobStatus(), None, None
        status, shown = job.shown()
        if shown is None:
            return status, None, None
        index, rgb, ids = shown
        if masks:
            with self._lock:
                colours = palette_colours(self.require().palette())
            rgb = blend(rgb, ids, colours, PREVIEW_ALPHA)
        return status, index, _jpeg(rgb)

    def mask(self, index: int) -> tuple[np.ndarray, bool]:
        return self.require().mask(index)

    def save_annotation(self, index: int, data: bytes) -> None:
        project = self.require()
        h, w = project.source.height, project.source.width
        if len(data) != h * w:
            raise XMemError(f"an annotation must be {w}×{h} = {h * w} bytes, got {len(data)}")
        ids = np.frombuffer(data, dtype=np.uint8).reshape(h, w)
        with self._lock:
            project.save_annotation(index, ids)

    def forget_annotation(self, index: int) -> None:
        with self._lock:
            self.require().forget_annotation(index)

    # -- objects -------------------------------------------------------------------------

    def add_object(
        self, name: str | None, color: str | None, label: str | None = None
    ) -> dict[str, Any]:
        with self._lock:
            return self.require().add_object(name, color, label).__dict__

    def edit_object(
        self, object_id: int, name: str | None, color: str | None, label: str | None = None
    ) -> dict[str, Any]:
        with self._lock:
            return self.require().edit_object(object_id, name, color, label).__dict__

    # -- drift marks, pins, imports ------------------------------------------------------

    def quality(self) -> dict[str, Any]:
        """Every tracked frame's drift score and figures, and the suspect frames."""
        with self._lock:
            project = self.require()
            return {
                "threshold": SUSPECT,
                "frames": {str(k): v for k, v in sorted(project.quality.items())},
                "suspects": suspects(project.quality, project.human),
            }

    @property
    def max_pinned(self) -> int:
        c = self.tracker.options.config
        return max_pinned(c.min_mid_term_frames, c.max_mid_term_frames)

    def pin(self, index: int, pinned: bool) -> None:
        """Keep frame ``index`` in the tracker's memory on every later track (or not)."""
        with self._lock:
            project = self.require()
            if pinned and index not in project.pinned and len(project.pinned) >= self.max_pinned:
                raise XMemError(
                    f"at most {self.max_pinned} frames can be pinned (the working memory holds "
                    f"{self.tracker.options.config.max_mid_term_frames} frames); unpin one first"
                )
            project.pin(index, pinned)

    def import_masks(self, path: str, keyframes: bool) -> int:
        with self._lock:
            project, _ = self._idle()
            return import_masks(project, os.path.expanduser(path), keyframes)

    def delete_object(self, object_id: int) -> None:
        with self._lock:
            self.require().delete_object(object_id)

    # -- jobs ----------------------------------------------------------------------------

    def _idle(self) -> tuple[Project, FrameSource]:
        """The open project and the jobs' frame source, when no job runs (call under the lock)."""
        project = self.require()
        if self.busy:
            raise BusyError("a job is already running; stop it first")
        assert self._job_source is not None
        return project, self._job_source

    def _start(self, job: Job) -> JobStatus:
        self.job = job.start(self.network_thread)
        return job.snapshot()

    def tracker_for(self, adapt: bool) -> Tracker:
        """The tracker with adaptation on or off (made on first use, on the network's thread:
        it shares the loaded network)."""
        if adapt not in self._trackers:
            options = dataclasses.replace(
                self.tracker.options, adapt_steps=self.adapt_steps if adapt else 0
            )
            self._trackers[adapt] = Tracker(self.tracker.source_network, options)
        return self._trackers[adapt]

    def track(
        self,
        start: int,
        direction: str = "forward",
        count: int | None = None,
        adapt: bool | None = None,
        until: str = "keyframe",
    ) -> JobStatus:
        """Track from frame ``start`` (its mask: a person's, else the tracked one). ``adapt``:
        adapt the network to that mask first (None: as the workspace's tracker does); each
        track adapts again, so a correction is learnt before the frames after it. ``until``:
        "keyframe" stops before the next frame a person drew (their later work stays as
        it is), "end" tracks through it (it is given to the tracker) to the end."""
        if until not in UNTIL:
            raise XMemError(f"until must be one of {', '.join(UNTIL)}, got {until!r}")
        with self._lock:
            project, source = self._idle()
            stops = project.human if until == "keyframe" else ()
            frame_passes = passes(start, len(project.names), direction, count, stops)
            if not frame_passes:
                raise XMemError(f"nothing to track {direction} of frame {start}")
            start_mask, _ = project.mask(start)
            if not start_mask.any():
                raise XMemError(
                    f"frame {start} has no mask: draw the objects on it first, or go to a "
                    "frame that has one"
                )
            adapt = self.tracker.adapt_steps > 0 if adapt is None else adapt
            total = sum(len(p) for p in frame_passes)
            return self._start(
                Job(
                    "track",
                    total,
                    lambda job: track_frames(
                        job, self.tracker_for(adapt), project, source, frame_passes, start_mask
                    ),
                )
            )

    def fill(self, index: int, adapt: bool | None = None) -> JobStatus:
        """Fill the frames between the person's keyframes around ``index`` from both."""
        with self._lock:
            project, source = self._idle()
            a, b = keyframes_around(project, index)
            if b - a < 2:
                raise XMemError(f"frames {a} and {b} are next to each other: nothing to fill")
            adapt = self.tracker.adapt_steps > 0 if adapt is None else adapt
            tracker = self.tracker_for(adapt)
            return self._start(
                Job("fill", b - a + 1, lambda job: fill_frames(job, tracker, project, source, a, b))
            )

    def export(self, out: str | Path | None = None, fmt: str = "davis") -> JobStatus:
        """Export every frame's mask in format ``fmt`` (default ``davis``: palette PNGs, an
        overlay video and the areas, in PROJECT/export; other formats in
        PROJECT/export/<format>)."""
        check_format(fmt)
        with self._lock:
            project, _ = self._idle()
            folder = Path(os.path.abspath(out)) if out else default_export_dir(project, fmt)
            total = (2 if fmt == "davis" else 1) * len(project.names)
            return self._start(Job("export", total, lambda job: export(job, project, folder, fmt)))

    def stop(self) -> JobStatus:
        with self._lock:
            if self.job is not None:
                self.job.stop()
            return self.job_status()


def _jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()
