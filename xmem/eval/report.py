"""The evaluation report: dataset means as the official toolkit computes them, tables, files.

Files written into the run folder:

- ``global_results.csv``: J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay (the
  official toolkit's columns), then frames, frames/s and peak memory;
- ``per-object_results.csv``: ``<sequence>_<object>``, J-Mean, F-Mean (the official file);
- ``per-sequence_results.csv``: per sequence, objects, frames, J, F, J&F and frames/s;
- ``results.json``: all of the above with every object's statistics and the run's settings.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xmem.io.output import atomic_output_file

logger = logging.getLogger(__name__)

GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def finite_mean(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values (None and NaN left out), None when there is none."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def summarize(records: Sequence[dict], workers: Sequence[dict], settings: dict[str, Any]) -> dict:
    """Dataset-level results: every statistic averaged over all objects of all sequences.

    Args:
        records: one record per sequence (see :func:`xmem.eval.runner.sequence_record`).
        workers: per worker process, its peak memory (``peak_rss_mb``, ``peak_cuda_mb``).
        settings: the run's settings, stored as they are.
    """
    objects = [o for r in records for o in r["per_object"].values()]
    summary: dict[str, Any] = {}
    for metric in ("J", "F"):
        for stat, name in (("mean", "Mean"), ("recall", "Recall"), ("decay", "Decay")):
            summary[f"{metric}-{name}"] = finite_mean([o[metric][stat] for o in objects])
    j, f = summary["J-Mean"], summary["F-Mean"]
    summary["J&F-Mean"] = None if j is None or f is None else (j + f) / 2
    timed = [r for r in records if r.get("seconds")]
    frames = sum(r["frames"] for r in timed)
    seconds = sum(r["seconds"] for r in timed)
    rss = [w["peak_rss_mb"] for w in workers if w.get("peak_rss_mb") is not None]
    cuda = [w["peak_cuda_mb"] for w in workers if w.get("peak_cuda_mb") is not None]
    summary.update(
        {
            "sequences": len(records),
            "objects": len(objects),
            "frames_timed": frames,
            "seconds": seconds,
            "fps": frames / seconds if seconds else None,
            "peak_rss_mb": max(rss) if rss else None,
            "peak_cuda_mb": max(cuda) if cuda else None,
        }
    )
    return {
        "summary": summary,
        "sequences": sorted(records, key=lambda r: r["sequence"]),
        "workers": list(workers),
        "settings": settings,
    }


def _fmt(value: float | None, scale: float = 100.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def format_report(report: dict) -> str:
    """The per-sequence table and the summary, as text (scores in percent)."""
    rows = [("sequence", "obj", "frames", "J", "F", "J&F", "fps")]
    for r in report["sequences"]:
        rows.append(
            (
                r["sequence"],
                str(len(r["objects"])),
                str(r["frames"]),
                _fmt(r["J"]),
                _fmt(r["F"]),
                _fmt(r["J&F"]),
                _fmt(r["fps"], 1.0, 2),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    s = report["summary"]
    lines.append("")
    lines.append("  ".join(f"{c} {_fmt(s[c])}" for c in GLOBAL_COLUMNS))
    extra = f"{s['sequences']} sequences, {s['objects']} objects"
    if s["fps"] is not None:
        extra += f"; {s['frames_timed']} frames at {s['fps']:.2f} frames/s per process"
    if s["peak_rss_mb"] is not None:
        extra += f"; peak RSS {s['peak_rss_mb']:.0f} MB"
    if s["peak_cuda_mb"] is not None:
        extra += f", peak CUDA {s['peak_cuda_mb']:.0f} MB"
    lines.append(extra)
    return "\n".join(lines)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with atomic_output_file(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def write_report(report: dict, out: Path) -> None:
    """Write ``results.json`` and the three CSV files into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    s = report["summary"]
    _write_csv(
        out / "global_results.csv",
        (*GLOBAL_COLUMNS, "Frames", "FPS", "Peak-RSS-MB", "Peak-CUDA-MB"),
        [
            [_num(s[c]) for c in GLOBAL_COLUMNS]
            + [s["frames_timed"], _num(s["fps"]), _num(s["peak_rss_mb"]), _num(s["peak_cuda_mb"])]
        ],
    )
    _write_csv(
        out / "per-object_results.csv",
        ("Sequence", "J-Mean", "F-Mean"),
        [
            (f"{r['sequence']}_{obj}", _num(o["J"]["mean"]), _num(o["F"]["mean"]))
            for r in report["sequences"]
            for obj, o in r["per_object"].items()
        ],
    )
    _write_csv(
        out / "per-sequence_results.csv",
        ("Sequence", "Objects", "Frames", "J-Mean", "F-Mean", "J&F-Mean", "FPS"),
        [
            (
                r["sequence"],
                len(r["objects"]),
                r["frames"],
                _num(r["J"]),
                _num(r["F"]),
                _num(r["J&F"]),
                _num(r["fps"]),
            )
            for r in report["sequences"]
        ],
    )
    with atomic_output_file(out / "results.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    logger.info("wrote results.json and CSV files to %s", out)
