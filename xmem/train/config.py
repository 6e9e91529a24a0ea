"""Typed configuration of one training stage (the paper's recipe as defaults)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xmem.errors import ConfigError
from xmem.model.network import MODELS

STAGES = ("static", "video", "synthetic")


@dataclass(frozen=True)
class StageConfig:
    """One training stage.

    stage: "static" (sequences made from single annotated frames by deformation), "video"
        (clips of a DAVIS / YouTube-VOS / generic dataset) or "synthetic" (procedural clips).
    data / split: the training dataset and its split (not for "synthetic").
    val_data / val_split: a dataset scored with J&F every ``val_every`` iterations.
    """

    stage: str = "video"
    data: str | None = None
    split: str | None = None
    model: str = "xmem"  # architecture (MODELS) when not starting from weights
    init: str | None = None  # weights to start from (name or path), e.g. the previous stage
    init_backbone: str | None = None  # "imagenet": encoder trunks from their package's weights
    freeze_backbone_bn: bool = False  # encoder trunks' batch norms keep their statistics
    frozen_blocks: int = 0  # Lite trunks: the first N blocks (and the key encoder's stem) fixed
    channels_last: bool = False  # channels-last memory format (faster convolutions on CPU)
    backbone_lr_scale: float = 1.0  # encoder trunks learn at lr × this (pretrained: e.g. 0.1)
    iterations: int = 150_000
    batch_size: int = 8
    lr: float = 1e-5
    weight_decay: float = 0.05
    lr_steps: tuple[int, ...] = (120_000,)  # ×0.1 at each
    num_frames: int = 8
    max_jump: int = 20
    crop: int = 384
    max_objects: int = 3
    paste_prob: float = 0.5
    synthetic_prob: float = 0.0  # static / video stages: share of items that are synthetic clips
    hard_case_prob: float = 0.0  # share of items with a hard case drawn on (train/hard_cases.py)
    num_ref: int = 3
    deep_update_prob: float = 0.2
    bootstrap_start: int = 20_000
    bootstrap_end: int = 70_000
    bootstrap_top_p: float = 0.15
    amp: bool = True  # on CUDA only
    grad_clip: float = 3.0
    num_workers: int = 2
    seed: int = 0
    log_every: int = 50
    image_every: int = 1000
    save_every: int = 1000
    keep_every: int = 0  # also keep model-N.pth every N iterations (0: only the latest)
    val_every: int = 5000
    val_data: str | None = None
    val_split: str | None = None
    val_sequences: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(
                f"unknown stage {self.stage!r}; choose from {', '.join(STAGES)}", "stage"
            )
        if self.stage != "synthetic" and not self.data:
            raise ConfigError(f"the {self.stage} stage needs a dataset (data)", "data")
        if self.stage == "synthetic" and self.synthetic_prob:
            raise ConfigError(
                "synthetic_prob mixes synthetic clips into the static or video stage",
                "synthetic_prob",
                "stage",
            )
        if self.init_backbone not in (None, "imagenet"):
            raise ConfigError(
                f"init_backbone must be 'imagenet', got {self.init_backbone!r}", "init_backbone"
            )
        if self.init_backbone is not None and self.init is not None:
            raise ConfigError(
                "init_backbone starts a new model; it cannot be used with init",
                "init_backbone",
                "init",
            )
        if self.frozen_blocks < 0:
            raise ConfigError("frozen_blocks must be at least 0", "frozen_blocks")
        if self.init is None and self.model not in MODELS:
            raise ConfigError(
                f"unknown model {self.model!r}; choose from {', '.join(MODELS)}", "model"
            )
        for name in ("iterations", "batch_size", "num_frames", "crop", "max_objects"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1", name)
        if self.num_frames < 2:
            raise ConfigError("num_frames must be at least 2 (frame 0 is given)", "num_frames")
        if self.crop % 16:
            raise ConfigError(f"crop must be a multiple of 16, got {self.crop}", "crop")
        for name in ("backbone_lr_scale", "keep_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be at least 0", name)
        if self.keep_every and self.save_every > 0 and self.keep_every % self.save_every:
            raise ConfigError(
                "keep_every must be a multiple of save_every (snapshots are kept at saves)",
                "keep_every",
                "save_every",
            )
        for name in ("deep_update_prob", "paste_prob", "synthetic_prob", "hard_case_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be a probability between 0 and 1", name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StageConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training options: {', '.join(unknown)}")
        options = dict(values)
        for key in ("lr_steps", "val_sequences"):
            if key in options:
                options[key] = tuple(options[key])
        return cls(**options)
