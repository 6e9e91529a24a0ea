"""The extension points of docs/architecture.md: a backbone family, a dataset layout and a
memory read are each added in one place, and the rest of the package follows (the
Supervisely endpoint's recipe is tested with the app, in test_sly_app.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

import xmem
from tests.scene import frame, ids
from xmem.cli.main import build_parser
from xmem.cli.options import track_options
from xmem.data import layouts, load_dataset
from xmem.data.layouts import Layout
from xmem.errors import ConfigError, XMemError
from xmem.inference.options import TrackOptions
from xmem.inference.speed import SpeedOptions
from xmem.memory import ops
from xmem.model import backbones
from xmem.model.backbones import Family, FoldPair
from xmem.model.checkpoint import build_network
from xmem.model.fuse import fold_batchnorm
from xmem.model.network import ModelConfig, XMem, backbone_batchnorms


class ToyTrunk(nn.Module):
    """Three strided convolutions with batch norms: features at strides 4, 8 and 16."""

    def __init__(self, arch: str, in_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, stride=4, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, 24, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(24)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f4 = F.relu(self.bn1(self.conv1(x)))
        f8 = F.relu(self.bn2(self.conv2(f4)))
        return F.relu(self.bn3(self.conv3(f8))), f8, f4


def _identify_toy(state_dict: Mapping[str, Tensor], prefix: str) -> str | None:
    conv3 = state_dict.get(f"{prefix}conv3.weight")
    return "toy" if conv3 is not None and conv3.shape[0] == 24 else None


def _toy_pairs(trunk: nn.Module) -> list[FoldPair]:
    return [(trunk, f"conv{i}", f"bn{i}") for i in (1, 2, 3)]


# the recipe of docs/architecture.md: a trunk module, its channels, its key pattern, its pairs
TOY = Family("toy", ("toy",), lambda arch: (8, 16, 24), ToyTrunk, _identify_toy, _toy_pairs)


def toy_config() -> ModelConfig:  # once TOY is registered
    return ModelConfig(
        key_dim=16, value_dim=32, hidden_dim=8, key_backbone="toy", value_backbone="toy",
        decoder_dims=(32, 16, 16),
    )  # fmt: skip


def test_a_backbone_family_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backbones, "FAMILIES", (*backbones.FAMILIES, TOY))
    torch.manual_seed(0)
    network = XMem(toy_config()).eval()
    for bn in backbone_batchnorms(network):  # trained-like statistics, so folding shows
        assert isinstance(bn, nn.BatchNorm2d) and bn.running_var is not None
        bn.running_var.uniform_(0.5, 2.0)
    assert isinstance(network.key_encoder, ToyTrunk)
    assert isinstance(network.value_encoder.trunk, ToyTrunk)
    assert len(backbone_batchnorms(network)) == 6
    # the strict loader recognises it from the keys alone
    assert build_network(network.state_dict()).config == toy_config()
    # batch norms fold by the entry's pairs, and it tracks, folded or not
    frames = np.random.default_rng(0).integers(0, 255, (4, 64, 96, 3), dtype=np.uint8)
    mask = np.zeros((64, 96), np.uint8)
    mask[16:48, 24:72] = 1
    runs = {}
    for fold in (False, True):
        options = TrackOptions(size=-1, speed=SpeedOptions(fold_bn=fold))
        runs[fold] = list(xmem.track(network, list(frames), {0: mask}, options))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fold_batchnorm(network).modules())
    assert [r.index for r in runs[True]] == [0, 1, 2, 3]
    assert runs[True][1].mask.shape == (64, 96) and runs[True][1].object_ids == (1,)
    agree = np.mean(
        [(a.mask == b.mask).mean() for a, b in zip(runs[False], runs[True], strict=True)]
    )
    assert agree > 0.999


def test_a_family_that_hides_a_batch_norm_cannot_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    partial = replace(TOY, fold_pairs=lambda trunk: _toy_pairs(trunk)[:2])
    monkeypatch.setattr(backbones, "FAMILIES", (*backbones.FAMILIES, partial))
    with pytest.raises(ValueError, match="2 batch norm layers"):
        fold_batchnorm(XMem(toy_config()))


def test_an_unknown_backbone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown value_backbone 'mobilenet'") as info:
        ModelConfig(value_backbone="mobilenet")
    assert info.value.fields == ("value_backbone",)
    assert "efficientnet-lite0" in str(info.value) and "resnet50" in str(info.value)


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


# -- a memory read -------------------------------------------------------------------------


def uniform_read(
    parts: Sequence[ops.MemoryPart], qk: Tensor, qe: Tensor | None, top_k: int | None
) -> tuple[Tensor, Tensor]:
    """Every memory element weighs the same: the mean value, whatever the query."""
    value = torch.cat([p.value for p in parts], dim=-1)  # N×CV×M
    m, q = value.shape[-1], qk.shape[-1]
    out = value.mean(dim=-1, keepdim=True).expand(*value.shape[:2], q)
    return out, value.new_full((m,), q / m)


def test_a_memory_read_is_one_registry_entry(
    monkeypatch: pytest.MonkeyPatch, tiny_net: XMem
) -> None:
    calls: list[int] = []

    def counted(*args: Any) -> tuple[Tensor, Tensor]:
        calls.append(1)
        return uniform_read(*args)

    monkeypatch.setitem(ops.READS, "uniform", counted)
    base = ["track", "in", "-m", "m.png", "-o", "o"]
    assert track_options(build_parser().parse_args(base)).config.memory_read == "top_k"
    args = build_parser().parse_args([*base, "--memory-read", "uniform", "--size", "-1"])
    options = track_options(args)  # the flag follows from the config field
    frames = [frame(t) for t in range(4)]
    uniform = list(xmem.track(tiny_net, frames, {0: ids(0)}, options))
    paper = list(xmem.track(tiny_net, frames, {0: ids(0)}, TrackOptions(size=-1)))
    assert calls and len(uniform) == 4
    assert any(not np.array_equal(a.mask, b.mask) for a, b in zip(uniform, paper, strict=True))
    with pytest.raises(XMemError, match="--memory-read must be one of"):
        track_options(
            build_parser().parse_args(["track", "i", "-m", "m", "-o", "o", "--memory-read", "x"])
        )
