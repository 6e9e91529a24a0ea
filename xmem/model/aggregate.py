"""Soft aggregation of independent per-object probabilities into one distribution."""

from __future__ import annotations

import torch
from torch import Tensor


def aggregate(prob: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Add a background channel and renormalise, as XMem does.

    prob: per-object foreground probabilities in [0, 1], objects along ``dim``.
    Returns ``(logits, prob)`` with background first along ``dim`` (one more channel).
    Computed in float32 so that the clamp to [1e-7, 1 − 1e-7] is representable: in fp16 the
    upper bound rounds to 1 and the logit becomes infinite.
    """
    p = prob.float()
    bg = torch.prod(1 - p, dim=dim, keepdim=True)
    q = torch.cat([bg, p], dim=dim).clamp(1e-7, 1 - 1e-7)
    logits = torch.log(q / (1 - q))
    return logits, torch.softmax(logits, dim=dim)
