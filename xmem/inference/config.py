"""Inference options of XMem, with the paper's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from xmem.errors import ConfigError


@dataclass(frozen=True)
class InferenceConfig:
    """Step policy and memory sizes. Names follow the original evaluation script."""

    top_k: int = 30  # k of the top-k affinity
    mem_every: int = 5  # r: a memory frame every r frames
    deep_update_every: int = -1  # deep update of h; < 0: on every memory frame
    enable_long_term: bool = True
    enable_long_term_count_usage: bool = True
    num_prototypes: int = 128  # P
    min_mid_term_frames: int = 5  # T_min
    max_mid_term_frames: int = 10  # T_max
    max_long_term_elements: int = 10000  # LT_max

    def __post_init__(self) -> None:
        checks = [
            (self.top_k >= 1, "top_k must be at least 1", ("top_k",)),
            (self.mem_every >= 1, "mem_every must be at least 1", ("mem_every",)),
            (
                self.deep_update_every != 0,
                "deep_update_every must be non-zero",
                ("deep_update_every",),
            ),
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
        ]
        for ok, message, fields in checks:
            if not ok:
                raise ConfigError(f"invalid inference option: {message}", *fields)
