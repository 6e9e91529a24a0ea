"""Deterministic recipe weights (see shared/golden/README.md), our own implementation."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"


def recipe_tensor(name: str, shape: Sequence[int]) -> torch.Tensor:
    """The tensor for parameter ``name``, from a generator seeded by crc32 of the name."""
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode("utf-8")))
    shape = tuple(shape)
    if name.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.long)
    if name.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=gen)
    if name.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=gen)
    if name.endswith("bias"):
        return 0.01 * torch.randn(shape, generator=gen)
    if len(shape) == 1:
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    return torch.randn(shape, generator=gen) / math.sqrt(math.prod(shape[1:]))


def recipe_state_dict(shapes: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    return {k: recipe_tensor(k, s) for k, s in shapes.items()}


def official_shapes() -> dict[str, list[int]]:
    return json.loads((GOLDEN / "checkpoint_keys.json").read_text())
