"""The benchmark's records: one per frame, the result of a run and its JSON file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmem.io.output import atomic_output_file

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
            "rss_mb": round_or_none(self.rss_mb, 2),
            "cuda_mb": round_or_none(self.cuda_mb, 2),
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


def round_or_none(value: float | None, digits: int) -> float | None:
    """``value`` rounded to ``digits`` decimals (None stays None)."""
    return None if value is None else round(value, digits)


def write_json(result: BenchmarkResult | dict[str, Any], path: str | Path) -> None:
    """Write ``result.to_json()`` (or a dict) to ``path`` (replaced only once complete)."""
    data = result.to_json() if isinstance(result, BenchmarkResult) else result
    with atomic_output_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
