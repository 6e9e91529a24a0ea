"""Inference-only rewrites of a network that compute the same function with less work.

Batch norm in eval mode is an affine map per channel, so after a bias-free convolution it folds
into the convolution's weights and a bias: ``bn(conv(x)) = conv'(x)`` with
``w' = w · γ/σ`` and ``b' = (b − μ) · γ/σ + β`` (σ = sqrt(running_var + eps)). The encoders'
ResNets have one batch norm after every convolution; folding removes a pass over each feature
map. Results equal the original up to float rounding.

Which layers fold is part of each trunk family's registry entry (``Family.fold_pairs``,
:mod:`xmem.model.backbones`); a batch norm that no entry names is an error, not a silent miss.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from xmem.model.network import XMem, trunks

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

    The pairs are those each trunk's family names (``Family.fold_pairs``). The copy is in eval
    mode and is not meant for training; the input is untouched. ValueError when a batch norm
    is left (a family entry that does not state all of its foldable layers).
    """
    out = copy.deepcopy(network).eval()
    for family, arch, holder in trunks(out):
        for parent, conv_name, bn_name in family.fold_pairs(holder):
            conv, bn = parent.get_submodule(conv_name), parent.get_submodule(bn_name)
            assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d), (arch, conv_name)
            _fold(conv, bn)
            setattr(parent, bn_name, nn.Identity())
    remaining = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in out.modules())
    if remaining:
        raise ValueError(
            f"{remaining} batch norm layers have no convolution to fold into (each trunk "
            "family's fold_pairs must name all of its batch norms)"
        )
    return out
