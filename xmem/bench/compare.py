"""A/B comparison of two benchmark runs: speed-up, memory peaks and mask agreement."""

from __future__ import annotations

import io
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from xmem.bench.records import BenchmarkResult


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
