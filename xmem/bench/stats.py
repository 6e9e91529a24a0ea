"""Statistics of a benchmark's frame records: speed after warm-up, time per stage, memory."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import torch

from xmem.bench.records import FrameRecord, round_or_none
from xmem.runtime.machine import peak_rss_mb


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
            "first": round_or_none(rss[0], 1) if rss else None,
            "after_warmup": round_or_none(steady[0].rss_mb, 1),
            "last": round_or_none(rss[-1], 1) if rss else None,
            "max": round_or_none(max(rss), 1) if rss else None,
        },
        # the process's peak (getrusage), or the largest sample where that reads lower
        "peak_rss_mb": round_or_none(
            max([*rss, peak_rss_mb() or 0.0]) if rss else peak_rss_mb(), 1
        ),
        "cuda_mb": None,
        "peak_cuda_mb": None,
    }
    if device.type == "cuda":
        cuda = [r.cuda_mb for r in records if r.cuda_mb is not None]
        summary["cuda_mb"] = {
            "first": round_or_none(cuda[0], 1),
            "after_warmup": round_or_none(steady[0].cuda_mb, 1),
            "last": round_or_none(cuda[-1], 1),
            "max": round_or_none(max(cuda), 1),
        }
        summary["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return summary
