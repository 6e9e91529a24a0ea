"""The benchmark's plot: time and memory per frame against the frame index (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmem.bench.format import count
from xmem.bench.records import MAIN_STAGES, BenchmarkResult, FrameRecord
from xmem.errors import XMemError
from xmem.io.output import atomic_output_file

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean over the ``window`` frames ending at each frame (fewer at the start)."""
    if window <= 1:
        return values
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    # numpy's stubs type arithmetic on arrays of unknown dtype as Any: state the result's type
    means: np.ndarray = (sums[ends] - sums[starts]) / (ends - starts)
    return means


def plot_benchmark(result: BenchmarkResult, path: str | Path) -> None:
    """Draw time per frame and memory against the frame index into a PNG at ``path``.

    Top panel: milliseconds per frame (thin grey: each frame; coloured: the main stages,
    as a rolling mean on long runs; the scale stops at 1.25 × the 99th percentile, and a note
    says how many frames lie above it). Bottom panel: resident memory (and CUDA memory), from
    0 so that growth is seen at its true scale. Needs matplotlib (``pip install 'xmem[plot]'``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise XMemError("plotting needs matplotlib: pip install 'xmem[plot]'") from e
    records = result.records
    if not records:
        raise ValueError("no frames to plot")
    index = np.array([r.index for r in records])

    fig = Figure(figsize=(10, 6.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax_time, ax_mem = fig.subplots(2, 1, sharex=True)
    _plot_times(ax_time, index, records)
    _plot_memory(ax_mem, index, records)
    warmup = result.summary.get("warmup", 0)
    for ax in (ax_time, ax_mem):
        if warmup:
            ax.axvspan(
                index[0] - 0.5, index[0] + warmup - 0.5, color="0.93", zorder=0, label="warm-up"
            )
        ax.set_xlim(index[0] - 0.5, index[-1] + 0.5)
    for ax in (ax_time, ax_mem):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.suptitle(_title(result), fontsize=10)
    with atomic_output_file(path) as tmp:
        fig.savefig(tmp, format="png")


def _plot_times(ax: Axes, index: np.ndarray, records: list[FrameRecord]) -> None:
    """The top panel: milliseconds per frame and per main stage, outliers above the scale."""
    total = np.array([r.seconds for r in records]) * 1000
    window = max(1, len(records) // 60)
    smooth = f" (mean of {window} frames)" if window > 1 else ""
    if window > 1:
        ax.plot(index, total, color="0.75", linewidth=0.5, label="frame (each)")
    ax.plot(
        index, _rolling_mean(total, window), color="black", linewidth=1.2, label="frame" + smooth
    )
    stages = [*MAIN_STAGES, "postprocess", "preprocess"]
    for stage in stages:
        values = np.array([r.stages.get(stage, 0.0) for r in records]) * 1000
        if values.max(initial=0.0) > 0:
            ax.plot(index, _rolling_mean(values, window), linewidth=1.0, label=stage)
    ax.set_ylabel("ms per frame")
    # rare outliers (e.g. other work on the machine) would squash the scale: clip them
    top = 1.25 * float(np.percentile(total, 99))
    ax.set_ylim(0, top)
    above = total > top
    if above.any():
        ax.set_title(
            f"{int(above.sum())} frame(s) above the top of the scale, up to {total.max():.0f} ms",
            fontsize=8,
            loc="left",
        )
    ax.grid(alpha=0.3)


def _plot_memory(ax: Axes, index: np.ndarray, records: list[FrameRecord]) -> None:
    """The bottom panel: resident memory and CUDA memory per frame, from 0."""
    from matplotlib.ticker import MaxNLocator

    rss = [r.rss_mb for r in records]
    if any(v is not None for v in rss):
        ax.plot(index, [np.nan if v is None else v for v in rss], label="RSS (process)")
    cuda = [r.cuda_mb for r in records]
    if any(v is not None for v in cuda):
        ax.plot(index, [np.nan if v is None else v for v in cuda], label="CUDA allocated")
    ax.set_ylabel("memory (MB)")
    ax.set_xlabel("frame")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)


def _title(result: BenchmarkResult) -> str:
    """The figure's title: model, device, sizes, objects, precision, speed and peak memory."""
    c, s = result.configuration, result.summary
    hw = c.get("processing_size") or ["?", "?"]
    return (
        f"{c.get('model') or 'model'} on {result.machine.get('device', '?')}, "
        f"{c.get('width')}×{c.get('height')} processed at {hw[1]}×{hw[0]}, "
        f"{count(c.get('objects'), 'object')}, {c.get('precision')}: "
        f"{s.get('fps', 0):.3g} frames/s, peak RSS {s.get('peak_rss_mb') or 0:.0f} MB"
    )
