"""ResNet trunks with torchvision's parameter names, built in-package (no torchvision).

Only the stem and stages 1-3 are used by XMem. Bottlenecks put the stride on the 3×3 conv
(torchvision's "ResNet v1.5"), so official checkpoints load unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor, nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != planes:
            self.downsample = nn.Sequential(conv1x1(in_ch, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        y: Tensor = self.relu(out + identity)
        return y


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = conv1x1(in_ch, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_ch)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        y: Tensor = self.relu(out + identity)
        return y


Block = type[BasicBlock] | type[Bottleneck]

# name -> (block, blocks per stage 1..3, stem width); "-w32": half width (ours, compact models)
ARCHITECTURES: dict[str, tuple[Block, tuple[int, int, int], int]] = {
    "resnet18": (BasicBlock, (2, 2, 2), 64),
    "resnet34": (BasicBlock, (3, 4, 6), 64),
    "resnet50": (Bottleneck, (3, 4, 6), 64),
    "resnet18-w32": (BasicBlock, (2, 2, 2), 32),
}


def identify(state_dict: Mapping[str, Tensor], prefix: str) -> str | None:
    """Name the ResNet under ``prefix`` by its block type, depth and width, or None."""
    pattern = re.compile(rf"^{re.escape(prefix)}layer3\.(\d+)\.")
    blocks = len({int(m.group(1)) for k in state_dict if (m := pattern.match(k))})
    bottleneck = f"{prefix}layer3.0.conv3.weight" in state_dict
    stem = state_dict.get(f"{prefix}conv1.weight")
    width = int(stem.shape[0]) if stem is not None else -1
    for name, (block, counts, w) in ARCHITECTURES.items():
        if (block is Bottleneck) == bottleneck and counts[2] == blocks and w == width:
            return name
    return None


def stem_width(arch: str) -> int:
    """Output channels of the stem (the 7×7 convolution)."""
    return ARCHITECTURES[arch][2]


def stage_channels(arch: str) -> tuple[int, int, int]:
    """Output channels of stages 1, 2, 3 (strides 4, 8, 16) of a ResNet."""
    block, _, w = ARCHITECTURES[arch]
    return (w * block.expansion, 2 * w * block.expansion, 4 * w * block.expansion)


def resnet_stages(arch: str) -> tuple[nn.Sequential, nn.Sequential, nn.Sequential]:
    """Stages 1-3 of a ResNet (strides 4, 8, 16 after the stem)."""
    block, counts, w = ARCHITECTURES[arch]
    c4, c8, _ = stage_channels(arch)
    return (
        make_stage(block, w, w, counts[0], 1),
        make_stage(block, c4, 2 * w, counts[1], 2),
        make_stage(block, c8, 4 * w, counts[2], 2),
    )


def make_stage(block: Block, in_ch: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers: list[nn.Module] = [block(in_ch, planes, stride)]
    for _ in range(1, blocks):
        layers.append(block(planes * block.expansion, planes))
    return nn.Sequential(*layers)


class ResNetTrunk(nn.Module):
    """Stem and stages 1-3 of a ResNet. Returns f16, f8, f4.

    Names are the official network's: the first stage is ``res2`` in the key encoder (RGB,
    3 input channels) and ``layer1`` in the value encoder (image and masks).
    """

    def __init__(self, arch: str = "resnet50", in_channels: int = 3) -> None:
        super().__init__()
        w = stem_width(arch)
        self.conv1 = nn.Conv2d(in_channels, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stage1, self.layer2, self.layer3 = resnet_stages(arch)
        self.add_module("res2" if in_channels == 3 else "layer1", stage1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return features(self, x)


def features(holder: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Run the ResNet layers that ``holder`` has (a :class:`ResNetTrunk`, or the value encoder
    that adopted them): f16, f8, f4. ReLU and max pooling commute, so the official encoders'
    two stem orders are one computation."""
    layers = dict(holder.named_children())
    x = layers["maxpool"](layers["relu"](layers["bn1"](layers["conv1"](x))))
    f4 = layers["res2" if "res2" in layers else "layer1"](x)
    f8 = layers["layer2"](f4)
    return layers["layer3"](f8), f8, f4
