"""Speed and memory of tracking: frames per second, time per stage and memory, frame by frame.

:func:`run_benchmark` writes a synthetic video (:mod:`xmem.data.synthetic`) to a temporary file
(not timed), then tracks its objects from the first frame's mask exactly as ``xmem track`` does:
frames are decoded from the file (charged to "io"), resized, tracked, upsampled, and every output
mask is encoded to PNG in memory (also charged to "io"). Nothing is kept for the whole video but
one small :class:`FrameRecord` per frame, so the memory measured is the tracker's own.

On CUDA every stage boundary synchronises the device (see :class:`StageTimer`), so the time of
a stage is the time of its own kernels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.std import tqdm

from xmem.bench.records import OTHER, BenchmarkResult, FrameRecord, round_or_none
from xmem.bench.stats import summarise
from xmem.data.synthetic import MAX_OBJECTS, synthetic_first_mask, write_synthetic_video
from xmem.errors import ConfigError, XMemError
from xmem.inference.image import processing_size
from xmem.inference.timing import StageTimer, stage
from xmem.inference.tracker import Tracker
from xmem.io.masks import default_palette, encode_mask
from xmem.io.video import VideoSource
from xmem.io.writer import BackgroundWriter
from xmem.model.network import XMem
from xmem.model.onnx_network import Network
from xmem.runtime.machine import current_rss_mb, machine_facts

logger = logging.getLogger(__name__)


def _frame_records(
    results: Iterator[Any],
    timer: StageTimer | None,
    device: torch.device,
    bar: tqdm,
    writer: BackgroundWriter,
    masks: list[bytes] | None,
) -> Iterator[FrameRecord]:
    """Time each frame from asking for it to its PNG encoded (in line) or handed to the
    writer threads, and read memory after it. The last frame also waits for every PNG."""
    palette = default_palette()
    on_cuda = device.type == "cuda"

    def encode(ids: np.ndarray, slot: int) -> None:
        png = encode_mask(ids, palette)
        if masks is not None:
            masks[slot] = png

    previous: FrameRecord | None = None
    while True:
        start = time.perf_counter()
        result = next(results, None)
        if result is None:
            break
        with stage(timer, "io"):
            if masks is not None:
                masks.append(b"")
            writer.submit(encode, result.mask, len(masks) - 1 if masks is not None else 0)
        seconds = time.perf_counter() - start
        stages = timer.pop() if timer is not None else {}
        stages[OTHER] = max(0.0, seconds - sum(stages.values()))
        bar.update(1)
        if previous is not None:
            yield previous
        previous = FrameRecord(
            index=result.index,
            seconds=seconds,
            stages=stages,
            rss_mb=current_rss_mb(),
            cuda_mb=torch.cuda.memory_allocated(device) / 2**20 if on_cuda else None,
        )
    start = time.perf_counter()
    writer.close()
    if previous is not None:
        drain = time.perf_counter() - start
        stages = dict(previous.stages)
        stages["io" if timer is not None else OTHER] += drain
        yield dataclasses.replace(previous, seconds=previous.seconds + drain, stages=stages)


def run_benchmark(
    tracker: Tracker,
    *,
    frames: int,
    height: int,
    width: int,
    objects: int,
    warmup: int = 5,
    seed: int = 0,
    model: str | None = None,
    progress: bool = True,
    workdir: str | Path | None = None,
    stage_times: bool = True,
    keep_masks: bool = False,
) -> BenchmarkResult:
    """Track ``objects`` objects through a synthetic video of ``frames`` frames, measuring.

    Args:
        tracker: the network (prepared, on the device to measure) and the options of the run
            (size, inference config, precision, fast paths; with ``overlap_io`` the PNGs are
            also encoded by writer threads, as ``xmem track`` does).
        frames, height, width, objects: the synthetic video (height and width even, ≥ 16;
            1..255 objects, all given on the first frame).
        warmup: frames left out of the steady-state figures (fps, ms per stage).
        seed: of the synthetic video.
        model: a name for the network, recorded in the configuration.
        progress: progress bars (when the output is a terminal).
        workdir: folder for the temporary video (default: the system's temporary folder).
        stage_times: time every stage. On CUDA this synchronises the device at each stage
            boundary, which stops work from overlapping: turn it off to measure throughput.
        keep_masks: keep every output mask (PNG bytes) in the result, to compare runs.

    Returns:
        A :class:`BenchmarkResult`.
    """
    _check_arguments(frames, height, width, objects, warmup)
    video = {"frames": frames, "height": height, "width": width, "objects": objects, "seed": seed}
    machine = machine_facts(tracker.device)  # before any work: date and load average of the start
    first_mask = synthetic_first_mask(height, width, objects, seed)
    run = _track_video(
        tracker,
        first_mask,
        frames,
        objects,
        seed,
        workdir=workdir,
        progress=progress,
        stage_times=stage_times,
        keep_masks=keep_masks,
    )
    with contextlib.suppress(OSError, AttributeError):
        machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    # the size the video was processed at: the tracker's, larger for small objects
    configuration = _configuration(
        tracker, model, video, tracker.video_size, stage_times=stage_times, warmup=warmup
    )
    summary = _summary(run, first_mask, warmup, tracker.device)
    return BenchmarkResult(run.records, summary, machine, configuration, run.masks)


def _check_arguments(frames: int, height: int, width: int, objects: int, warmup: int) -> None:
    """Raise :class:`ConfigError` for a video or warm-up that cannot be benchmarked."""
    if frames < 1:
        raise ConfigError(f"frames must be at least 1, got {frames}", "frames")
    if not 1 <= objects <= MAX_OBJECTS:
        raise ConfigError(f"objects must be in 1..{MAX_OBJECTS}, got {objects}", "objects")
    for name, value in (("height", height), ("width", width)):
        if value < 16 or value % 2:
            raise ConfigError(
                f"{name} must be even (H.264 with 4:2:0 chroma) and at least 16, got {value}", name
            )
    if warmup < 0:
        raise ConfigError(f"warmup must be at least 0, got {warmup}", "warmup")


def _configuration(
    tracker: Tracker,
    model: str | None,
    video: dict[str, int],
    size: int,
    *,
    stage_times: bool,
    warmup: int,
) -> dict[str, Any]:
    """The configuration recorded with the result: network, ``video`` (frames, height, width,
    objects, seed), the processing size of the video (larger than the tracker's for small
    objects), options (test-time flip resolved) and device."""
    network, device = tracker.network, tracker.device
    config, precision, speed = (
        tracker.options.config,
        tracker.options.precision,
        tracker.options.speed,
    )
    return {
        "model": model,
        "model_config": dataclasses.asdict(network.config),
        "parameters_m": _parameters_m(network),
        **video,
        "size": size,
        "processing_size": list(processing_size(video["height"], video["width"], size)),
        "precision": precision,
        "flip": tracker.flip,
        "speed": dataclasses.asdict(speed),
        "stage_times": stage_times,
        "warmup": warmup,
        "device": str(device),
        "inference": dataclasses.asdict(config),
    }


def _summary(
    run: _TrackedVideo, first_mask: np.ndarray, warmup: int, device: torch.device
) -> dict[str, Any]:
    """The steady-state figures of the run, with the objects tracked and the set-up times."""
    summary = summarise(run.records, warmup, device)
    summary["objects_tracked"] = int(len(np.unique(first_mask)) - 1)
    summary["rss_before_mb"] = round_or_none(run.rss_before, 1)
    summary["video_write_seconds"] = round(run.write_seconds, 3)
    summary["video_open_seconds"] = round(run.open_seconds, 3)
    return summary


@dataclasses.dataclass(frozen=True)
class _TrackedVideo:
    """What :func:`_track_video` measured: the frames, memory before, times to write and
    open the video file, and the masks kept."""

    records: list[FrameRecord]
    rss_before: float | None
    write_seconds: float
    open_seconds: float
    masks: list[bytes] | None


def _track_video(
    tracker: Tracker,
    first_mask: np.ndarray,
    frames: int,
    objects: int,
    seed: int,
    *,
    workdir: str | Path | None,
    progress: bool,
    stage_times: bool,
    keep_masks: bool,
) -> _TrackedVideo:
    """Write the synthetic video to a temporary file (not timed) and track it from
    ``first_mask``, one record per frame."""
    height, width = first_mask.shape
    with tempfile.TemporaryDirectory(prefix="xmem-benchmark-", dir=workdir) as tmp:
        start = time.perf_counter()
        video_path = write_synthetic_video(
            Path(tmp) / "synthetic.mp4", frames, height, width, objects, seed, progress=progress
        )
        write_seconds = time.perf_counter() - start
        start = time.perf_counter()
        with contextlib.closing(VideoSource(video_path)) as source:
            open_seconds = time.perf_counter() - start  # pre-scan: decodes every frame once
            if len(source) != frames:
                raise XMemError(f"the synthetic video has {len(source)} frames, not {frames}")
            logger.debug(
                "synthetic video: %d frames %d×%d written in %.1f s, opened in %.1f s",
                frames,
                width,
                height,
                write_seconds,
                open_seconds,
            )
            rss_before, masks, records = _track_frames(
                tracker, source, first_mask, frames, progress, stage_times, keep_masks
            )
    return _TrackedVideo(records, rss_before, write_seconds, open_seconds, masks)


def _track_frames(
    tracker: Tracker,
    source: VideoSource,
    first_mask: np.ndarray,
    frames: int,
    progress: bool,
    stage_times: bool,
    keep_masks: bool,
) -> tuple[float | None, list[bytes] | None, list[FrameRecord]]:
    """Track the open video: memory before, the masks kept and one record per frame."""
    device = tracker.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    rss_before = current_rss_mb()
    timer = StageTimer(device) if stage_times else None
    masks: list[bytes] | None = [] if keep_masks else None
    results = tracker.track(source, {0: first_mask}, timer=timer)
    with (
        tqdm(
            total=frames,
            unit="frame",
            desc="benchmark",
            disable=True if not progress else None,
            dynamic_ncols=True,
        ) as bar,
        BackgroundWriter(enabled=tracker.options.speed.overlap_io) as writer,
    ):
        records = list(_frame_records(iter(results), timer, device, bar, writer, masks))
    return rss_before, masks, records


def _parameters_m(network: Network) -> float | None:
    """Millions of parameters of a PyTorch network (None for ONNX graphs)."""
    if not isinstance(network, XMem):
        return None
    return round(sum(p.numel() for p in network.parameters()) / 1e6, 3)
