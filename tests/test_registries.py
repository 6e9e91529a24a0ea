"""The extension points of docs/architecture.md: a backbone family and a dataset layout are
each added in one place, and the rest of the package follows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

import xmem
from xmem.data import layouts, load_dataset
from xmem.data.layouts import Layout
from xmem.inference.options import TrackOptions
from xmem.model import backbones
from xmem.model.backbones import Family
from xmem.model.checkpoint import build_network
from xmem.model.network import ModelConfig, XMem


class ToyTrunk(nn.Module):
    """Three strided convolutions: features at strides 4, 8 and 16."""

    def __init__(self, arch: str, in_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, stride=4, padding=1)
        self.down8 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.down16 = nn.Conv2d(16, 24, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f4 = F.relu(self.conv1(x))
        f8 = F.relu(self.down8(f4))
        return F.relu(self.down16(f8)), f8, f4


def _identify_toy(state_dict: object, prefix: str) -> str | None:
    return "toy" if f"{prefix}down16.weight" in state_dict else None  # type: ignore[operator]


TOY = Family(("toy",), lambda arch: (8, 16, 24), ToyTrunk, _identify_toy)


def test_a_backbone_family_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backbones, "FAMILIES", (*backbones.FAMILIES, TOY))
    config = ModelConfig(
        key_dim=16, value_dim=32, hidden_dim=8, key_backbone="toy", value_backbone="toy",
        decoder_dims=(32, 16, 16),
    )  # fmt: skip
    torch.manual_seed(0)
    network = XMem(config).eval()
    assert isinstance(network.key_encoder, ToyTrunk)
    assert isinstance(network.value_encoder.trunk, ToyTrunk)
    # the strict loader recognises it from the keys alone
    assert build_network(network.state_dict()).config == config
    # and it tracks
    frames = np.random.default_rng(0).integers(0, 255, (4, 64, 96, 3), dtype=np.uint8)
    mask = np.zeros((64, 96), np.uint8)
    mask[16:48, 24:72] = 1
    results = list(xmem.track(network, list(frames), {0: mask}, TrackOptions(size=-1)))
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert results[1].mask.shape == (64, 96) and results[1].object_ids == (1,)


class Flat(Layout):
    """frames/<seq>/*.jpg and labels/<seq>/*.png."""

    name = "flat"

    @classmethod
    def matches(cls, root: Path) -> bool:
        return (root / "frames").is_dir() and (root / "labels").is_dir()

    @property
    def images(self) -> Path:
        return self.root / "frames"

    def folders(self, name: str) -> tuple[Path, Path]:
        return self.root / "frames" / name, self.root / "labels" / name


def test_a_dataset_layout_is_one_registry_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(layouts.LAYOUTS, "flat", Flat)
    for t in range(3):
        image = np.full((32, 48, 3), 40 * t, np.uint8)
        (tmp_path / "frames" / "clip").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "frames" / "clip" / f"{t:05d}.jpg")
        if t != 1:  # object 2 first appears on frame 2
            ids = np.zeros((32, 48), np.uint8)
            ids[4:12, 4:12] = 1
            ids[20:28, 30:40] = 2 if t == 2 else 0
            (tmp_path / "labels" / "clip").mkdir(parents=True, exist_ok=True)
            Image.fromarray(ids, mode="L").save(tmp_path / "labels" / "clip" / f"{t:05d}.png")
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "flat" and [s.name for s in dataset.sequences] == ["clip"]
    (seq,) = dataset.sequences
    assert seq.given == {0: (1,), 2: (2,)}
