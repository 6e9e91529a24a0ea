"""Per-stage wall-clock timing of the engine, for benchmarks.

The engine and :func:`xmem.track` accept a :class:`StageTimer`; without one they time nothing
and pay nothing. On CUDA every stage boundary synchronises the device, so a stage is charged
for its own kernels and not for work queued before it.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator

import torch

STAGES = (
    "io",
    "preprocess",
    "key_encoder",
    "memory_read",
    "decoder",
    "value_encoder",
    "memory_update",
    "postprocess",
)


class StageTimer:
    """Accumulates seconds per stage until :meth:`pop` hands them out and starts afresh."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._seconds: dict[str, float] = defaultdict(float)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self._seconds[stage] += time.perf_counter() - start

    def pop(self) -> dict[str, float]:
        """Seconds per stage since the last call (every stage of :data:`STAGES`, 0 if unused)."""
        out = {stage: self._seconds.get(stage, 0.0) for stage in STAGES}
        out.update({k: v for k, v in self._seconds.items() if k not in out})
        self._seconds = defaultdict(float)
        return out


def stage(timer: StageTimer | None, name: str) -> contextlib.AbstractContextManager[None]:
    """``timer(name)``, or a no-op without a timer."""
    return contextlib.nullcontext() if timer is None else timer(name)
