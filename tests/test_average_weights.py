"""scripts/average_weights.py: the mean of a run's snapshots, loadable by the strict loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.nets import TINY
from tests.scripts import load_script
from xmem.model.checkpoint import load_network
from xmem.model.network import XMem


def test_the_mean_of_snapshots_loads_and_is_their_mean(tmp_path: Path) -> None:
    paths = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"model-{seed}.pth")
        torch.save(XMem(TINY).state_dict(), paths[-1])
    state = load_script("average_weights").average(paths)
    snapshots = [torch.load(p) for p in paths]
    for key, value in state.items():
        if value.is_floating_point():
            expected = sum(s[key] for s in snapshots) / 3
            assert torch.allclose(value, expected, atol=1e-6), key
    out = tmp_path / "swa.pth"
    torch.save(state, out)
    assert load_network(out).config == TINY


def test_snapshots_of_different_models_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save(XMem(TINY).state_dict(), a)
    other = {k: v for k, v in XMem(TINY).state_dict().items() if "decoder" not in k}
    torch.save(other, b)
    with pytest.raises(SystemExit, match="not a snapshot of the same model"):
        load_script("average_weights").average([a, b])
