"""The training loss of XMem: bootstrapped cross-entropy plus soft Dice per object."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from xmem.train.forward import ClipOutput


def bootstrap_fraction(
    iteration: int, start: int = 20_000, end: int = 70_000, top_p: float = 0.15
) -> float:
    """Fraction of the hardest pixels kept by the cross-entropy: all of them until ``start``,
    then decaying linearly to ``top_p`` at ``end`` (the paper's schedule)."""
    if iteration < start:
        return 1.0
    if iteration >= end:
        return top_p
    return 1.0 - (1.0 - top_p) * (iteration - start) / (end - start)


def bootstrapped_ce(logits: Tensor, target: Tensor, fraction: float) -> Tensor:
    """Mean cross-entropy of the hardest ``fraction`` of the pixels of each batch element.

    logits B×C×H×W (class 0 = background), target B×H×W class indices.
    """
    loss = F.cross_entropy(logits.float(), target, reduction="none").flatten(1)
    if fraction >= 1.0:
        return loss.mean()
    k = max(1, int(loss.shape[1] * fraction))
    return loss.topk(k, dim=1, sorted=False).values.mean()


def dice_loss(prob: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """Soft Dice loss summed over the valid objects, averaged over the batch.

    prob, target B×K×H×W (objects only, no background); valid B×K bool.
    """
    p, t = prob.float().flatten(2), target.float().flatten(2)
    dice = 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)
    return (dice * valid.float()).sum(1).mean()


def class_target(masks: Tensor) -> Tensor:
    """Non-overlapping object masks B×K×H×W → class indices B×H×W (0 = background)."""
    with_bg = torch.cat([masks.new_full((masks.shape[0], 1, *masks.shape[2:]), 0.5), masks], 1)
    return with_bg.argmax(1)


def step_loss(out: ClipOutput, masks: Tensor, valid: Tensor, fraction: float) -> dict[str, Tensor]:
    """Loss of every segmented frame (1..T-1), summed over frames as the paper."""
    ce = dice = masks.new_zeros(())
    for t, (logits, prob) in enumerate(zip(out.logits, out.prob, strict=True), start=1):
        ce = ce + bootstrapped_ce(logits, class_target(masks[:, t]), fraction)
        dice = dice + dice_loss(prob[:, 1:], masks[:, t], valid)
    return {"loss": ce + dice, "ce": ce, "dice": dice}
