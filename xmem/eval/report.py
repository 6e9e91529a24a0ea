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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmem.eval.records import SequenceRecord, WorkerMemory
from xmem.io.output import atomic_output_file

logger = logging.getLogger(__name__)

GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def finite_mean(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values (None and NaN left out), None when there is none."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


@dataclass(frozen=True)
class Summary:
    """Dataset-level results: every statistic averaged over all objects of all sequences."""

    j_mean: float | None
    j_recall: float | None
    j_decay: float | None
    f_mean: float | None
    f_recall: float | None
    f_decay: float | None
    jf_mean: float | None
    sequences: int
    objects: int
    frames_timed: int
    seconds: float
    fps: float | None
    peak_rss_mb: float | None
    peak_cuda_mb: float | None

    def global_columns(self) -> tuple[float | None, ...]:
        """The values of :data:`GLOBAL_COLUMNS`, in order."""
        return (
            self.jf_mean,
            self.j_mean,
            self.j_recall,
            self.j_decay,
            self.f_mean,
            self.f_recall,
            self.f_decay,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "J-Mean": self.j_mean,
            "J-Recall": self.j_recall,
            "J-Decay": self.j_decay,
            "F-Mean": self.f_mean,
            "F-Recall": self.f_recall,
            "F-Decay": self.f_decay,
            "J&F-Mean": self.jf_mean,
            "sequences": self.sequences,
            "objects": self.objects,
            "frames_timed": self.frames_timed,
            "seconds": self.seconds,
            "fps": self.fps,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_cuda_mb": self.peak_cuda_mb,
        }


@dataclass(frozen=True)
class Report:
    """The summary, every sequence's record (by name), every worker's memory and the run's
    settings (stored as they are)."""

    summary: Summary
    sequences: list[SequenceRecord]
    workers: list[WorkerMemory]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The contents of ``results.json``."""
        return {
            "summary": self.summary.to_json(),
            "sequences": [r.to_json() for r in self.sequences],
            "workers": [w.to_json() for w in self.workers],
            "settings": self.settings,
        }


def summarize(
    records: Sequence[SequenceRecord],
    workers: Sequence[WorkerMemory | Mapping[str, Any]],
    settings: dict[str, Any],
) -> Report:
    """Dataset-level results: every statistic averaged over all objects of all sequences.

    Args:
        records: one record per sequence (see :func:`xmem.eval.runner.sequence_record`).
        workers: per worker process, its peak memory (``peak_rss_mb``, ``peak_cuda_mb``).
        settings: the run's settings, stored as they are.
    """
    memory = [w if isinstance(w, WorkerMemory) else WorkerMemory.from_json(w) for w in workers]
    objects = [o for r in records for o in r.per_object.values()]

    j = finite_mean([o.j.mean for o in objects])
    f = finite_mean([o.f.mean for o in objects])
    timed = [r for r in records if r.seconds]
    frames = sum(r.frames for r in timed)
    seconds = sum(r.seconds or 0.0 for r in timed)
    rss = [w.peak_rss_mb for w in memory if w.peak_rss_mb is not None]
    cuda = [w.peak_cuda_mb for w in memory if w.peak_cuda_mb is not None]
    summary = Summary(
        j_mean=j,
        j_recall=finite_mean([o.j.recall for o in objects]),
        j_decay=finite_mean([o.j.decay for o in objects]),
        f_mean=f,
        f_recall=finite_mean([o.f.recall for o in objects]),
        f_decay=finite_mean([o.f.decay for o in objects]),
        jf_mean=None if j is None or f is None else (j + f) / 2,
        sequences=len(records),
        objects=len(objects),
        frames_timed=frames,
        seconds=seconds,
        fps=frames / seconds if seconds else None,
        peak_rss_mb=max(rss) if rss else None,
        peak_cuda_mb=max(cuda) if cuda else None,
    )
    return Report(summary, sorted(records, key=lambda r: r.sequence), memory, settings)


def _fmt(value: float | None, scale: float = 100.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def format_report(report: Report) -> str:
    """The per-sequence table and the summary, as text (scores in percent)."""
    rows = [("sequence", "obj", "frames", "J", "F", "J&F", "fps")]
    for r in report.sequences:
        rows.append(
            (
                r.sequence,
                str(len(r.objects)),
                str(r.frames),
                _fmt(r.j),
                _fmt(r.f),
                _fmt(r.jf),
                _fmt(r.fps, 1.0, 2),
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
    s = report.summary
    lines.append("")
    columns = zip(GLOBAL_COLUMNS, s.global_columns(), strict=True)
    lines.append("  ".join(f"{c} {_fmt(v)}" for c, v in columns))
    extra = f"{s.sequences} sequences, {s.objects} objects"
    if s.fps is not None:
        extra += f"; {s.frames_timed} frames at {s.fps:.2f} frames/s per process"
    if s.peak_rss_mb is not None:
        extra += f"; peak RSS {s.peak_rss_mb:.0f} MB"
    if s.peak_cuda_mb is not None:
        extra += f", peak CUDA {s.peak_cuda_mb:.0f} MB"
    lines.append(extra)
    return "\n".join(lines)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with atomic_output_file(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def write_report(report: Report, out: Path) -> None:
    """Write ``results.json`` and the three CSV files into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    s = report.summary
    _write_csv(
        out / "global_results.csv",
        (*GLOBAL_COLUMNS, "Frames", "FPS", "Peak-RSS-MB", "Peak-CUDA-MB"),
        [
            [_num(v) for v in s.global_columns()]
            + [s.frames_timed, _num(s.fps), _num(s.peak_rss_mb), _num(s.peak_cuda_mb)]
        ],
    )
    _write_csv(
        out / "per-object_results.csv",
        ("Sequence", "J-Mean", "F-Mean"),
        [
            (f"{r.sequence}_{obj}", _num(o.j.mean), _num(o.f.mean))
            for r in report.sequences
            for obj, o in r.per_object.items()
        ],
    )
    _write_csv(
        out / "per-sequence_results.csv",
        ("Sequence", "Objects", "Frames", "J-Mean", "F-Mean", "J&F-Mean", "FPS"),
        [
            (
                r.sequence,
                len(r.objects),
                r.frames,
                _num(r.j),
                _num(r.f),
                _num(r.jf),
                _num(r.fps),
            )
            for r in report.sequences
        ],
    )
    with atomic_output_file(out / "results.json") as tmp:
        tmp.write_text(json.dumps(report.to_json(), indent=1))
    logger.info("wrote results.json and CSV files to %s", out)
