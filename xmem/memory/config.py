"""What the memory keeps and how it is read: the part of the inference options that
:class:`~xmem.memory.manager.MemoryManager` takes (``InferenceConfig`` extends it)."""

from __future__ import annotations

from dataclasses import dataclass

from xmem.errors import ConfigError
from xmem.memory.ops import READS


@dataclass(frozen=True)
class MemoryConfig:
    """Memory sizes and the memory read. Names follow the original evaluation script.

    memory_read: how a query reads memory, a name in :data:`~xmem.memory.ops.READS`
    ("top_k": the paper's top-k softmax affinity).
    """

    top_k: int | None = 30  # k of the top-k affinity; None: softmax over the whole memory
    enable_long_term: bool = True
    enable_long_term_count_usage: bool = True
    num_prototypes: int = 128  # P
    min_mid_term_frames: int = 5  # T_min
    max_mid_term_frames: int = 10  # T_max
    max_long_term_elements: int = 10000  # LT_max
    memory_read: str = "top_k"

    def __post_init__(self) -> None:
        checks = [
            (self.top_k is None or self.top_k >= 1, "top_k must be at least 1", ("top_k",)),
            (self.num_prototypes >= 1, "num_prototypes must be at least 1", ("num_prototypes",)),
            (
                self.min_mid_term_frames >= 1,
                "min_mid_term_frames must be at least 1",
                ("min_mid_term_frames",),
            ),
            (
                self.max_mid_term_frames > self.min_mid_term_frames,
                "max_mid_term_frames must be larger than min_mid_term_frames",
                ("max_mid_term_frames", "min_mid_term_frames"),
            ),
            (
                self.max_long_term_elements > self.num_prototypes,
                "max_long_term_elements must be larger than num_prototypes",
                ("max_long_term_elements", "num_prototypes"),
            ),
            (
                self.memory_read in READS,
                f"memory_read must be one of {', '.join(sorted(READS))}, got {self.memory_read!r}",
                ("memory_read",),
            ),
        ]
        for ok, message, fields in checks:
            if not ok:
                raise ConfigError(f"invalid inference option: {message}", *fields)
