from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from recipe import official_shapes, recipe_state_dict  # noqa: E402

from xmem.model.checkpoint import build_network  # noqa: E402
from xmem.model.network import ModelConfig, XMem  # noqa: E402

DEVICE = os.environ.get("XMEM_TEST_DEVICE", "cpu")

TINY = ModelConfig(
    key_dim=16, value_dim=32, hidden_dim=8, key_backbone="resnet18", decoder_dims=(32, 16, 16)
)


@pytest.fixture(scope="session")
def recipe_net() -> XMem:
    """The full published architecture with the golden recipe weights."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return build_network(recipe_state_dict(official_shapes())).to(DEVICE)


def tiny_network(seed: int = 0, config: ModelConfig = TINY) -> XMem:
    """A small, randomly initialised network for fast engine tests."""
    torch.manual_seed(seed)
    net = XMem(config).eval()
    sd = net.state_dict()
    net.load_state_dict(recipe_state_dict({k: v.shape for k, v in sd.items()}))
    return net.to(DEVICE)


@pytest.fixture(scope="session")
def tiny_net() -> XMem:
    return tiny_network()


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny frames gain nothing from threads; one thread keeps timings stable on busy CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
