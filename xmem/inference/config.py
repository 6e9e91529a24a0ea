"""Inference options of XMem, with the paper's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from xmem.errors import ConfigError
from xmem.memory.config import MemoryConfig


@dataclass(frozen=True)
class InferenceConfig(MemoryConfig):
    """Step policy, memory sizes and the memory read (:class:`MemoryConfig`). Names follow the
    original evaluation script."""

    mem_every: int = 5  # r: a memory frame every r frames
    deep_update_every: int = -1  # deep update of h; < 0: on every memory frame

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mem_every < 1:
            raise ConfigError("invalid inference option: mem_every must be at least 1", "mem_every")
        if self.deep_update_every == 0:
            raise ConfigError(
                "invalid inference option: deep_update_every must be non-zero", "deep_update_every"
            )
