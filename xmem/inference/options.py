"""The options of a tracking run, as one value: what is computed, at which size and precision,
and how fast (the fast paths). Checked once, here, in the names of the fields."""

from __future__ import annotations

from dataclasses import dataclass, field

from xmem.errors import ConfigError
from xmem.inference.config import InferenceConfig
from xmem.inference.core import PRECISIONS
from xmem.inference.speed import SpeedOptions


@dataclass(frozen=True)
class TrackOptions:
    """How to track: given to :class:`~xmem.inference.tracker.Tracker` (or :func:`xmem.track`).

    config: the step policy and memory sizes (paper defaults).
    size: processing size of the shorter side; ``-1`` keeps the original resolution; None: the
        network's ``default_size`` (each pretrained model's own, 480 for the official weights).
    precision: "fp32", "fp16" or "bf16" (autocast for the network).
    speed: the fast paths; the tracker prepares its network with them.
    adapt_steps: test-time adaptation: before tracking, fine-tune a copy of the network for
        this many steps on pseudo-clips made from the first annotated frame
        (:mod:`xmem.inference.adapt`); 0: none, the network as it is; None: the network's
        ``default_adapt_steps`` (each pretrained model's own: 25 for xmem-lite0, else 0).
    max_size: the largest size a small object may ask for: when the smallest object given on
        the first annotated frame would span fewer than 32 pixels (the square root of its
        area) at ``size``, the video is processed at the size that brings it to 32, up to
        ``max_size`` and the frame's own shorter side (:mod:`xmem.inference.sizing`); None:
        twice the size; ``max_size`` ≤ ``size``: never larger.
    flip: test-time flip: segment every frame as it is and as its mirror image and take the
        mean, which both views remember (:mod:`xmem.inference.flip`); twice the compute.
        None: the network's ``default_flip`` (True for xmem-lite0, else False).
    """

    config: InferenceConfig = field(default_factory=InferenceConfig)
    size: int | None = None
    precision: str = "fp32"
    speed: SpeedOptions = field(default_factory=SpeedOptions)
    adapt_steps: int | None = None
    max_size: int | None = None
    flip: bool | None = None

    def __post_init__(self) -> None:
        if self.size is not None and (self.size == 0 or self.size < -1):
            raise ConfigError(
                f"size must be positive, or -1 to keep the original resolution, got {self.size}",
                "size",
            )
        if self.max_size is not None and self.max_size <= 0:
            raise ConfigError(f"max_size must be positive, got {self.max_size}", "max_size")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(sorted(PRECISIONS))}, got {self.precision!r}",
                "precision",
            )
        if self.adapt_steps is not None and self.adapt_steps < 0:
            raise ConfigError(
                f"adapt_steps must be at least 0, got {self.adapt_steps}", "adapt_steps"
            )


__all__ = ["TrackOptions"]
