"""Checkpoint layout, conversion and strict loading."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.nets import TINY, tiny_network
from tests.recipe import official_shapes
from xmem.errors import XMemError
from xmem.inference.core import InferenceCore
from xmem.model.checkpoint import (
    build_network,
    convert_state_dict,
    infer_config,
    load_network,
    read_state_dict,
)
from xmem.model.network import ModelConfig, XMem


def test_default_network_has_exactly_the_official_keys() -> None:
    ours = {k: list(v.shape) for k, v in XMem().state_dict().items()}
    assert ours == official_shapes()


def test_no_sensory_layout() -> None:
    sd = XMem(ModelConfig(hidden_dim=0)).state_dict()
    assert not any("hidden_update" in k or "hidden_reinforce" in k for k in sd)
    assert sd["decoder.fuser.block1.conv1.weight"].shape == (512, 1024 + 512, 3, 3)
    assert infer_config(sd) == ModelConfig(hidden_dim=0)


def test_dims_and_backbones_are_read_from_the_checkpoint() -> None:
    assert infer_config(XMem(TINY).state_dict()) == TINY
    other = dataclasses.replace(TINY, key_backbone="resnet50", value_backbone="resnet34")
    assert infer_config(XMem(other).state_dict()) == other


def test_prefixes_and_training_containers(tmp_path: Path) -> None:
    net = tiny_network()
    sd = net.state_dict()
    wrapped = {f"module._orig_mod.{k}": v for k, v in sd.items()}
    path = tmp_path / "train.pth"
    torch.save({"network": wrapped, "optimizer": {}, "it": 5}, path)
    loaded = load_network(path)
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, sd[k])
    assert not loaded.training


def test_single_object_checkpoint_is_exact_on_one_object() -> None:
    net = tiny_network(seed=1)
    sd = net.state_dict()
    so = dict(sd)
    so["value_encoder.conv1.weight"] = sd["value_encoder.conv1.weight"][:, :4].clone()
    converted = convert_state_dict(so)
    assert converted["value_encoder.conv1.weight"].shape[1] == 5
    assert (converted["value_encoder.conv1.weight"][:, 4] == 0).all()
    assert so["value_encoder.conv1.weight"].shape[1] == 4  # the input is not mutated
    model = build_network(so)
    image = torch.randn(1, 3, 64, 64)
    mask = (torch.rand(1, 1, 64, 64) > 0.5).float()
    with torch.inference_mode():
        kf = model.encode_key(image)
        value, _ = model.encode_value(image, kf.f16, None, mask, deep_update=False)
        # pinned reference: the 4-channel stem applied to (image, mask) directly
        ve = model.value_encoder
        g = F.conv2d(
            torch.cat([image, mask], 1), so["value_encoder.conv1.weight"], stride=2, padding=3
        )
        layers = dict(ve.named_children())  # the ResNet's, at the value encoder's top level
        g = layers["relu"](layers["maxpool"](layers["bn1"](g)))
        g = layers["layer3"](layers["layer2"](layers["layer1"](g)))
        ref = ve.fuser(kf.f16, g[:, None])
    torch.testing.assert_close(value, ref)


def test_no_sensory_model_tracks() -> None:
    config = dataclasses.replace(TINY, hidden_dim=0)
    net = build_network(XMem(config).state_dict())
    core = InferenceCore(net)
    mask = torch.zeros(32, 32, dtype=torch.long)
    mask[8:20, 8:20] = 1
    core.step(torch.randn(3, 32, 32), mask)
    prob = core.step(torch.randn(3, 32, 32))
    assert prob.shape == (2, 32, 32) and core.memory.sensory is None


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is not a checkpoint", "not a PyTorch checkpoint"),
        (b"", "not a PyTorch checkpoint"),
    ],
)
def test_garbage_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(XMemError, match=message):
        load_network(path)


def test_wrong_contents(tmp_path: Path) -> None:
    path = tmp_path / "x.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(XMemError, match="state dict"):
        read_state_dict(path)
    torch.save({"foo": torch.zeros(3)}, path)
    with pytest.raises(XMemError, match="not an XMem checkpoint"):
        load_network(path)
    with pytest.raises(XMemError, match="does not exist"):
        load_network(tmp_path / "missing.pth")


def test_mismatch_names_the_keys() -> None:
    sd = XMem(TINY).state_dict()
    sd["extra.weight"] = torch.zeros(1)
    del sd["decoder.pred.bias"]
    sd["decoder.pred.weight"] = torch.zeros(1, 3, 3, 3)
    with pytest.raises(XMemError) as info:
        build_network(sd)
    text = str(info.value)
    assert "decoder.pred.bias" in text and "extra.weight" in text and "decoder.pred.weight" in text
    assert "\n" not in text


def test_compact_architecture_round_trip(tmp_path: Path) -> None:
    """The half-width backbones of the compact model are read back from a checkpoint."""
    from xmem.model.network import MODELS

    net = XMem(MODELS["xmem-compact"])
    torch.save(net.state_dict(), tmp_path / "compact.pth")
    loaded = load_network(tmp_path / "compact.pth")
    assert loaded.config == MODELS["xmem-compact"]
    assert sum(p.numel() for p in loaded.parameters()) < 7_000_000  # ≤ 25 MB even in fp32
