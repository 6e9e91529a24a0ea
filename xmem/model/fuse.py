"""Inference-only rewrites of a network that compute the same function with less work.

Batch norm in eval mode is an affine map per channel, so after a bias-free convolution it folds
into the convolution's weights and a bias: ``bn(conv(x)) = conv'(x)`` with
``w' = w · γ/σ`` and ``b' = (b − μ) · γ/σ + β`` (σ = sqrt(running_var + eps)). The encoders'
ResNets have one batch norm after every convolution; folding removes a pass over each feature
map. Results equal the original up to float rounding.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from xmem.model.network import XMem

__all__ = ["fold_batchnorm"]


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold ``bn`` into ``conv`` in place (conv then computes bn(conv(x)))."""
    assert bn.running_mean is not None and bn.running_var is not None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    bias = (bias - bn.running_mean) * scale
    if bn.bias is not None:
        bias = bias + bn.bias
    with torch.no_grad():
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        conv.bias = nn.Parameter(bias.detach())


def fold_batchnorm(network: XMem) -> XMem:
    """A copy of ``network`` for inference with every batch norm folded into its convolution.

    Pairs are found by name (``convN`` then ``bnN`` in one module, as in the ResNets) and in
    ``nn.Sequential`` (a convolution followed by a batch norm, as in the downsampling
    shortcuts). The copy is in eval mode and is not meant for training; the input is untouched.
    """
    out = copy.deepcopy(network).eval()
    for module in list(out.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                first, second = module[i], module[i + 1]
                if isinstance(first, nn.Conv2d) and isinstance(second, nn.BatchNorm2d):
                    _fold(first, second)
                    module[i + 1] = nn.Identity()
            continue
        children = dict(module.named_children())
        for name, child in children.items():
            conv = children.get("conv" + name[2:])
            if name.startswith("bn") and isinstance(child, nn.BatchNorm2d):
                if isinstance(conv, nn.Conv2d):
                    _fold(conv, child)
                    setattr(module, name, nn.Identity())
    remaining = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in out.modules())
    if remaining:
        raise ValueError(f"{remaining} batch norm layers have no convolution to fold into")
    return out
