"""Speed and memory of tracking: frames per second, time per stage and memory, frame by frame.

:func:`run_benchmark` writes a synthetic video (:mod:`xmem.eval.synthetic`) to a temporary file
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
import io
import json
import logging
import math
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.std import tqdm

from xmem.errors import ConfigError, XMemError
from xmem.eval.machine import current_rss_mb, machine_facts, peak_rss_mb
from xmem.eval.synthetic import MAX_OBJECTS, synthetic_first_mask, write_synthetic_video
from xmem.inference.image import processing_size
from xmem.inference.timing import STAGES, StageTimer, stage
from xmem.inference.tracker import Tracker
from xmem.io.masks import default_palette
from xmem.io.output import atomic_output_file
from xmem.io.video import VideoSource
from xmem.io.writer import BackgroundWriter
from xmem.model.network import MODELS, XMem

logger = logging.getLogger(__name__)

OTHER = "other"  # time of a frame outside every named stage (Python, bookkeeping)
MAIN_STAGES = ("key_encoder", "memory_read", "decoder", "value_encoder", "io")  # plotted


@dataclass(frozen=True)
class FrameRecord:
    """Measurements of one frame.

    index: frame index. seconds: wall-clock time of the frame, from asking the tracker for it
    to its mask encoded as PNG. stages: seconds per stage (:data:`STAGES` and "other", the
    rest of ``seconds``). rss_mb: resident memory of the process after the frame (MB, None
    where it cannot be read). cuda_mb: CUDA memory allocated by torch after the frame (MB,
    None when not on CUDA).
    """

    index: int
    seconds: float
    stages: dict[str, float]
    rss_mb: float | None
    cuda_mb: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "seconds": round(self.seconds, 6),
            "stages": {k: round(v, 6) for k, v in self.stages.items()},
            "rss_mb": _round(self.rss_mb, 2),
            "cuda_mb": _round(self.cuda_mb, 2),
        }


@dataclass
class BenchmarkResult:
    """Per-frame records and their summary, with the machine and the configuration."""

    records: list[FrameRecord]
    summary: dict[str, Any]
    machine: dict[str, Any]
    configuration: dict[str, Any]
    masks: list[bytes] | None = None  # every output mask as PNG, with ``keep_masks``

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict: summary, machine, configuration, frames (one per frame)."""
        return {
            "summary": self.summary,
            "machine": self.machine,
            "configuration": self.configuration,
            "frames": [r.to_json() for r in self.records],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchmarkResult:
        """The result back from :meth:`to_json` (e.g. a saved file), to plot it again."""
        records = [
            FrameRecord(
                index=f["index"],
                seconds=f["seconds"],
                stages=dict(f["stages"]),
                rss_mb=f.get("rss_mb"),
                cuda_mb=f.get("cuda_mb"),
            )
            for f in data["frames"]
        ]
        return cls(records, data["summary"], data["machine"], data["configuration"])


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# -- networks with random weights --------------------------------------------------------


def random_network(model: str = "xmem", seed: int = 0, device: str | torch.device = "cpu") -> XMem:
    """A network of the named architecture (:data:`MODELS`) with seeded random weights, in
    eval mode: speed and memory do not depend on the weight values. The global random state
    is left as it was."""
    if model not in MODELS:
        raise XMemError(f"unknown model '{model}'; choices: {', '.join(MODELS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = XMem(MODELS[model]).eval()
    return network.to(device)


# -- the benchmark -----------------------------------------------------------------------


def _encode_png(ids: np.ndarray, palette: list[int]) -> bytes:
    image = Image.fromarray(np.ascontiguousarray(ids.astype(np.uint8, copy=False)))
    image.putpalette(palette)  # "L" → "P"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _stats_ms(values: Sequence[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, math.ceil(0.9 * len(ms)) - 1)]
    return {
        "mean": round(statistics.fmean(ms), 3),
        "median": round(statistics.median(ms), 3),
        "p90": round(p90, 3),
        "max": round(ms[-1], 3),
    }


def summarise(records: Sequence[FrameRecord], warmup: int, device: torch.device) -> dict[str, Any]:
    """Summary of the records; speed figures exclude the first ``warmup`` frames."""
    if not records:
        raise ValueError("no frames to summarise")
    warmup = max(0, min(warmup, len(records) - 1))  # keep at least one frame
    steady = records[warmup:]
    steady_seconds = sum(r.seconds for r in steady)
    total_seconds = sum(r.seconds for r in records)
    stages = list(records[0].stages)
    rss = [r.rss_mb for r in records if r.rss_mb is not None]
    summary: dict[str, Any] = {
        "frames": len(records),
        "warmup": warmup,
        "seconds": round(total_seconds, 3),
        "fps": round(len(steady) / max(steady_seconds, 1e-12), 4),
        "fps_overall": round(len(records) / max(total_seconds, 1e-12), 4),
        "ms_per_frame": _stats_ms([r.seconds for r in steady]),
        "ms_per_stage": {
            s: round(1000 * statistics.fmean(r.stages.get(s, 0.0) for r in steady), 3)
            for s in stages
        },
        "rss_mb": {
            "first": _round(rss[0], 1) if rss else None,
            "after_warmup": _round(steady[0].rss_mb, 1),
            "last": _round(rss[-1], 1) if rss else None,
            "max": _round(max(rss), 1) if rss else None,
        },
        # the process's peak (getrusage), or the largest sample where that reads lower
        "peak_rss_mb": _round(max([*rss, peak_rss_mb() or 0.0]) if rss else peak_rss_mb(), 1),
        "cuda_mb": None,
        "peak_cuda_mb": None,
    }
    if device.type == "cuda":
        cuda = [r.cuda_mb for r in records if r.cuda_mb is not None]
        summary["cuda_mb"] = {
            "first": _round(cuda[0], 1),
            "after_warmup": _round(steady[0].cuda_mb, 1),
            "last": _round(cuda[-1], 1),
            "max": _round(max(cuda), 1),
        }
        summary["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return summary


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
        png = _encode_png(ids, palette)
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
    network, size, device = tracker.network, tracker.size, tracker.device
    config, precision, speed = (
        tracker.options.config,
        tracker.options.precision,
        tracker.options.speed,
    )
    processed = processing_size(height, width, size)
    configuration = {
        "model": model,
        "model_config": dataclasses.asdict(network.config),
        "parameters_m": round(sum(p.numel() for p in network.parameters()) / 1e6, 3),
        "frames": frames,
        "height": height,
        "width": width,
        "objects": objects,
        "seed": seed,
        "size": size,
        "processing_size": list(processed),
        "precision": precision,
        "speed": dataclasses.asdict(speed),
        "stage_times": stage_times,
        "warmup": warmup,
        "device": str(device),
        "inference": dataclasses.asdict(config),
    }
    machine = machine_facts(device)  # before any work: date and load average of the start
    first_mask = synthetic_first_mask(height, width, objects, seed)
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
                BackgroundWriter(enabled=speed.overlap_io) as writer,
            ):
                frame_records = _frame_records(iter(results), timer, device, bar, writer, masks)
                records = list(frame_records)
    with contextlib.suppress(OSError, AttributeError):
        machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    summary = summarise(records, warmup, device)
    summary["objects_tracked"] = int(len(np.unique(first_mask)) - 1)
    summary["rss_before_mb"] = _round(rss_before, 1)
    summary["video_write_seconds"] = round(write_seconds, 3)
    summary["video_open_seconds"] = round(open_seconds, 3)
    return BenchmarkResult(records, summary, machine, configuration, masks)


def mask_agreement(a: Sequence[bytes], b: Sequence[bytes]) -> dict[str, float]:
    """Pixel agreement of two runs' masks (PNG bytes, frame by frame): the mean over frames
    and the worst frame."""
    if len(a) != len(b) or not a:
        raise ValueError(f"cannot compare {len(a)} masks with {len(b)}")
    per_frame = []
    for x, y in zip(a, b, strict=True):
        mx, my = (np.asarray(Image.open(io.BytesIO(png))) for png in (x, y))
        per_frame.append(float((mx == my).mean()))
    return {"mean": statistics.fmean(per_frame), "min": min(per_frame)}


def compare(baseline: BenchmarkResult, fast: BenchmarkResult) -> dict[str, Any]:
    """Side by side: speed-up in frames/s, per-run memory peaks and mask agreement."""
    agreement = (
        mask_agreement(baseline.masks, fast.masks)
        if baseline.masks is not None and fast.masks is not None
        else None
    )

    def peaks(r: BenchmarkResult) -> dict[str, Any]:
        # the process's RSS peak would include the other run: the largest sample instead
        return {"rss_mb": r.summary["rss_mb"]["max"], "cuda_mb": r.summary["peak_cuda_mb"]}

    return {
        "baseline_fps": baseline.summary["fps"],
        "fps": fast.summary["fps"],
        "speedup": round(fast.summary["fps"] / max(baseline.summary["fps"], 1e-12), 3),
        "baseline_peak": peaks(baseline),
        "peak": peaks(fast),
        "mask_agreement": agreement,
    }


# -- output ------------------------------------------------------------------------------


def write_json(result: BenchmarkResult | dict[str, Any], path: str | Path) -> None:
    """Write ``result.to_json()`` (or a dict) to ``path`` (replaced only once complete)."""
    data = result.to_json() if isinstance(result, BenchmarkResult) else result
    with atomic_output_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def format_comparison(comparison: dict[str, Any]) -> list[str]:
    """The side-by-side result in two lines."""
    c = comparison
    lines = [
        f"speed-up {c['speedup']:.2f}×: {c['fps']:.3g} frames/s against "
        f"{c['baseline_fps']:.3g} for the straightforward eager fp32 path"
    ]
    agreement = c["mask_agreement"]
    if agreement is not None:
        lines.append(
            f"masks agree with it on {100 * agreement['mean']:.3f} % of pixels "
            f"(worst frame {100 * agreement['min']:.3f} %)"
        )
    return lines


def _count(n: object, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def format_summary(result: BenchmarkResult) -> list[str]:
    """A few human-readable lines: speed, time per stage, memory."""
    s, c, m = result.summary, result.configuration, result.machine
    hw = c["processing_size"]
    stages = ", ".join(
        f"{k} {v:.1f}" for k, v in s["ms_per_stage"].items() if v >= 0.05 or k in MAIN_STAGES
    )
    memory = f"peak RSS {s['peak_rss_mb']} MB"
    rss = s["rss_mb"]
    if rss["after_warmup"] is not None and rss["last"] is not None:
        memory += f" (after warm-up {rss['after_warmup']} MB, at the end {rss['last']} MB)"
    if s["peak_cuda_mb"] is not None:
        memory += f", peak CUDA {s['peak_cuda_mb']} MB"
    return [
        f"{c['model'] or 'model'} on {m['device']} ({m['device_name']}, "
        f"{m['torch_threads']} threads), {c['precision']}, {c['width']}×{c['height']} "
        f"processed at {hw[1]}×{hw[0]}, {_count(c['objects'], 'object')}, "
        f"{_count(s['frames'], 'frame')}",
        f"{s['fps']:.3g} frames/s after {s['warmup']} warm-up frames "
        f"({s['fps_overall']:.3g} overall); ms per frame: mean {s['ms_per_frame']['mean']:.1f}, "
        f"median {s['ms_per_frame']['median']:.1f}, max {s['ms_per_frame']['max']:.1f}",
        f"mean ms per frame by stage: {stages}"
        if c.get("stage_times", True)
        else "stages not timed (--no-stage-times)",
        memory,
    ]


__all__ = [
    "BenchmarkResult",
    "FrameRecord",
    "MAIN_STAGES",
    "OTHER",
    "compare",
    "format_comparison",
    "format_summary",
    "mask_agreement",
    "random_network",
    "run_benchmark",
    "STAGES",
    "summarise",
    "write_json",
]
