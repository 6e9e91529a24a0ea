"""One sweep over every entry of the model registries: each trunk architecture, each named
model and each weights entry builds, loads strictly from its own state dict, folds its batch
norms and tracks a frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xmem
from xmem.inference.options import TrackOptions
from xmem.model import backbones
from xmem.model.checkpoint import build_network, load_network
from xmem.model.fuse import fold_batchnorm
from xmem.model.network import MODELS, ModelConfig, XMem
from xmem.model.weights import WEIGHTS, cached_path


def _sweep(network: XMem) -> None:
    """Strict load from its own state dict, folding, and two tracked frames."""
    assert build_network(network.state_dict()).config == network.config
    folded = fold_batchnorm(network)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    frames = np.random.default_rng(0).integers(0, 255, (2, 48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), np.uint8)
    mask[12:36, 16:48] = 1
    results = list(xmem.track(network, list(frames), {0: mask}, TrackOptions(size=-1)))
    assert [r.index for r in results] == [0, 1] and results[1].mask.shape == (48, 64)


@pytest.mark.parametrize("arch", backbones.known_archs())
@torch.inference_mode()
def test_every_trunk_architecture(arch: str) -> None:
    family = backbones.family(arch)
    config = ModelConfig(
        key_dim=16, value_dim=32, hidden_dim=8, key_backbone=arch, value_backbone=arch,
        decoder_dims=(32, 16, 16),
    )  # fmt: skip
    torch.manual_seed(0)
    network = XMem(config).eval()
    image = torch.randn(1, 3, 64, 96)
    f16, f8, f4 = network.key_encoder(image)
    for feature, stride, channels in zip(
        (f4, f8, f16), backbones.STRIDES, family.channels(arch), strict=True
    ):
        assert feature.shape[1:] == (channels, 64 // stride, 96 // stride)
    state = network.state_dict()
    prefix = "value_encoder." if family.features is not None else "value_encoder.trunk."
    assert f"{prefix}conv1.weight" in state and "key_encoder.conv1.weight" in state
    _sweep(network)


@pytest.mark.parametrize("name", list(MODELS))
@torch.inference_mode()
def test_every_named_model(name: str) -> None:
    torch.manual_seed(0)
    _sweep(XMem(MODELS[name]).eval())


@pytest.mark.parametrize("name", list(WEIGHTS))
@torch.inference_mode()
def test_every_weights_entry(name: str) -> None:
    info = WEIGHTS[name]
    assert info.model in MODELS, f"{name} names an unknown model"
    assert info.process_size == -1 or info.process_size >= 16
    if not info.bundled:  # downloaded on demand: the table's architecture, random weights
        assert info.url.endswith(info.filename)
        return
    network = load_network(cached_path(info))
    assert network.config == MODELS[info.model]
    _sweep(network)
