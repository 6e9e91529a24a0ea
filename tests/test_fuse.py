"""Inference-only rewrites (xmem/model/fuse.py) against the reference network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.nets import TINY
from xmem.cli.main import build_parser
from xmem.cli.options import speed_options
from xmem.model.fuse import fold_batchnorm
from xmem.model.network import MODELS, ModelConfig, XMem


def with_random_statistics(config: ModelConfig, seed: int = 0) -> XMem:
    """A network whose batch norms are far from identity (trained-like statistics)."""
    torch.manual_seed(seed)
    net = XMem(config).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.3, 3.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.3, 0.3)
    return net


@pytest.mark.parametrize("config", [TINY, MODELS["xmem-compact"]], ids=["tiny", "compact"])
@torch.inference_mode()
def test_folded_encoders_compute_the_same(config: ModelConfig) -> None:
    net = with_random_statistics(config)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) > 0  # input untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())

    image = torch.randn(1, 3, 96, 128)
    ref, out = net.encode_key(image), folded.encode_key(image)
    for name in ("key", "shrinkage", "selection", "f16", "f8", "f4"):
        a, b = getattr(ref, name), getattr(out, name)
        assert (a - b).abs().max() <= 1e-5 * a.abs().max(), name
    n = 2
    masks = torch.rand(1, n, 96, 128)
    hidden = torch.randn(1, n, net.hidden_dim, 6, 8)
    value_ref, hidden_ref = net.encode_value(image, ref.f16, hidden, masks, True)
    value_out, hidden_out = folded.encode_value(image, ref.f16, hidden, masks, True)
    assert (value_ref - value_out).abs().max() <= 1e-5 * value_ref.abs().max()
    assert hidden_ref is not None and hidden_out is not None
    assert (hidden_ref - hidden_out).abs().max() <= 1e-5


def test_a_batch_norm_without_its_convolution_is_refused() -> None:
    net = with_random_statistics(TINY)
    net.key_encoder.extra = nn.BatchNorm2d(3)  # type: ignore[assignment]
    with pytest.raises(ValueError, match="1 batch norm"):
        fold_batchnorm(net)


@pytest.mark.parametrize("command", ["track", "eval", "benchmark", "serve"])
def test_folding_is_on_by_default_with_an_option_to_turn_it_off(command: str) -> None:
    required = {"track": ["in", "--masks", "m", "--out", "o"], "eval": ["data", "--out", "o"]}.get(
        command, []
    )
    parser = build_parser()
    assert speed_options(parser.parse_args([command, *required])).fold_bn is True
    assert speed_options(parser.parse_args([command, *required, "--no-fold-bn"])).fold_bn is False
