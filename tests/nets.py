"""Networks the tests share: the tiny configuration and the device the tests run on."""

from __future__ import annotations

import os

import torch

from tests.recipe import recipe_state_dict
from xmem.model.network import ModelConfig, XMem

DEVICE = os.environ.get("XMEM_TEST_DEVICE", "cpu")

TINY = ModelConfig(
    key_dim=16, value_dim=32, hidden_dim=8, key_backbone="resnet18", decoder_dims=(32, 16, 16)
)


def tiny_network(seed: int = 0, config: ModelConfig = TINY) -> XMem:
    """A small, randomly initialised network for fast engine tests."""
    torch.manual_seed(seed)
    net = XMem(config).eval()
    sd = net.state_dict()
    net.load_state_dict(recipe_state_dict({k: v.shape for k, v in sd.items()}))
    return net.to(DEVICE)
