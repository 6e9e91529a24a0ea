"""The app's own options (what ``xmem serve`` adds to the run options), checked once here.

This module does not import the Supervisely SDK, so the command line can check its options
before it imports the SDK or loads a network.
"""

from __future__ import annotations

from dataclasses import dataclass

from xmem.errors import ConfigError

# parts under 5 % of the object's largest part are specks
MIN_PART = 0.05


@dataclass(frozen=True)
class ServeOptions:
    """max_concurrent: requests that may use the device at once; chunk: frames per bulk
    download; min_part: connected parts smaller than this fraction of the object's largest
    part are dropped (0 keeps every part); keyframes: a person's figures on other frames of a
    tracked object guide tracking and are never overwritten; references: up to this many
    frames with a person's figure before the source frame are read as extra memory."""

    max_concurrent: int = 1
    chunk: int = 16
    min_part: float = MIN_PART
    keyframes: bool = True
    references: int = 0

    def __post_init__(self) -> None:
        for name in ("max_concurrent", "chunk"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}", name)
        if not 0 <= self.min_part <= 1:
            raise ConfigError(
                f"min_part must be a fraction between 0 and 1, got {self.min_part}", "min_part"
            )
        if self.references < 0:
            raise ConfigError(f"references must be 0 or more, got {self.references}", "references")
