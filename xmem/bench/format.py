"""The benchmark's results as a few human-readable lines."""

from __future__ import annotations

from typing import Any

from xmem.bench.records import MAIN_STAGES, BenchmarkResult


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


def count(n: object, noun: str) -> str:
    """``n`` and the noun, plural unless ``n`` is 1."""
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
        f"{m['torch_threads']} threads), {c['precision']}{', flip' if c.get('flip') else ''}, "
        f"{c['width']}×{c['height']} "
        f"processed at {hw[1]}×{hw[0]}, {count(c['objects'], 'object')}, "
        f"{count(s['frames'], 'frame')}",
        f"{s['fps']:.3g} frames/s after {s['warmup']} warm-up frames "
        f"({s['fps_overall']:.3g} overall); ms per frame: mean {s['ms_per_frame']['mean']:.1f}, "
        f"median {s['ms_per_frame']['median']:.1f}, max {s['ms_per_frame']['max']:.1f}",
        f"mean ms per frame by stage: {stages}"
        if c.get("stage_times", True)
        else "stages not timed (--no-stage-times)",
        memory,
    ]
