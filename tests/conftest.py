from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from tests.nets import DEVICE, tiny_network
from tests.recipe import official_shapes, recipe_state_dict
from xmem.model.checkpoint import build_network
from xmem.model.network import XMem

# the GUI API tests' fixtures (inputs, tracker, workspace, client)
pytest_plugins = ["tests.gui_api_fixtures"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` need a CUDA device: skipped where there is none."""
    if torch.cuda.is_available():
        return
    no_cuda = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(no_cuda)


@pytest.fixture(scope="session")
def recipe_net() -> XMem:
    """The full published architecture with the golden recipe weights."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return build_network(recipe_state_dict(official_shapes())).to(DEVICE)


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
