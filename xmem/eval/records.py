"""Typed records of an evaluation: per object, per sequence and per worker process.

Each has ``to_json`` (the dict written to the run folder, keys in the files' order) and, where
records are read back (resuming a run), ``from_json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetricStats:
    """One object's statistics of J or F over its scored frames (None: not finite)."""

    mean: float | None
    recall: float | None
    decay: float | None

    def to_json(self) -> dict[str, float | None]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricStats:
        return cls(data["mean"], data["recall"], data["decay"])


@dataclass(frozen=True)
class ObjectScores:
    """J and F statistics of one object, over ``frames`` scored frames."""

    j: MetricStats
    f: MetricStats
    frames: int

    def to_json(self) -> dict[str, Any]:
        return {"J": self.j.to_json(), "F": self.f.to_json(), "frames": self.frames}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectScores:
        return cls(
            MetricStats.from_json(data["J"]), MetricStats.from_json(data["F"]), data["frames"]
        )


@dataclass(frozen=True)
class SequenceRecord:
    """The scores and timing of one sequence (also its file ``sequences/<name>.json``).

    Attributes:
        sequence: its name. frames: its frame count. objects: the ids of its objects.
        per_object: object id (as a string, the JSON key) → its scores.
        j, f, jf: mean over objects of J, F and J&F (None when no object has a finite one).
        seconds, fps: the time its predictions took (None when they were read, not made).
        resumed: the record was read from an earlier run. worker: the rank that made it.
    """

    sequence: str
    frames: int
    objects: tuple[int, ...]
    per_object: dict[str, ObjectScores]
    j: float | None
    f: float | None
    jf: float | None
    seconds: float | None
    fps: float | None
    resumed: bool = False
    worker: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "frames": self.frames,
            "objects": list(self.objects),
            "per_object": {k: o.to_json() for k, o in self.per_object.items()},
            "J": self.j,
            "F": self.f,
            "J&F": self.jf,
            "seconds": self.seconds,
            "fps": self.fps,
            "resumed": self.resumed,
            "worker": self.worker,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SequenceRecord:
        return cls(
            sequence=data["sequence"],
            frames=data["frames"],
            objects=tuple(data["objects"]),
            per_object={k: ObjectScores.from_json(o) for k, o in data["per_object"].items()},
            j=data["J"],
            f=data["F"],
            jf=data["J&F"],
            seconds=data["seconds"],
            fps=data["fps"],
            resumed=data.get("resumed", False),
            worker=data.get("worker"),
        )


@dataclass(frozen=True)
class WorkerMemory:
    """The peak memory of one worker process (MB; None where it cannot be read)."""

    rank: int
    peak_rss_mb: float | None
    peak_cuda_mb: float | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerMemory:
        return cls(data.get("rank", 0), data.get("peak_rss_mb"), data.get("peak_cuda_mb"))
