"""The encoder trunks, by architecture name: their widths, how to build one, and how to
recognise one in a checkpoint's keys.

ResNets are the official network's trunks and keep its key names (the value encoder's stem and
stages sit at its top level), so they are built inside the encoders. Every other family is a
module returning (f16, f8, f4) for an image with ``in_channels`` channels, stored under the value
encoder's ``trunk.``. A new family is its module in ``xmem/model`` plus one entry in
:data:`FAMILIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from xmem.model import efficientnet, resnet


@dataclass(frozen=True)
class Family:
    archs: Collection[str]  # architecture names, as in ModelConfig.key_backbone
    channels: Callable[[str], tuple[int, int, int]]  # arch → channels at strides 4, 8, 16
    build: Callable[[str, int], nn.Module]  # (arch, input channels) → trunk
    identify: Callable[[Mapping[str, Tensor], str], str | None]  # (keys, prefix) → arch


FAMILIES: tuple[Family, ...] = (
    Family(
        efficientnet.LITE_VARIANTS,
        efficientnet.level_channels,
        lambda arch, in_channels: efficientnet.LiteTrunk(arch, in_channels=in_channels),
        efficientnet.identify,
    ),
)


def _family(arch: str) -> Family | None:
    return next((f for f in FAMILIES if arch in f.archs), None)


def level_channels(arch: str) -> tuple[int, int, int]:
    """Output channels of a trunk at strides 4, 8, 16."""
    family = _family(arch)
    return family.channels(arch) if family else resnet.stage_channels(arch)


def make_trunk(arch: str, in_channels: int) -> nn.Module | None:
    """A non-ResNet trunk, or None for a ResNet (built by the encoders, with official names)."""
    family = _family(arch)
    return family.build(arch, in_channels) if family else None


def identify(state_dict: Mapping[str, Tensor], prefix: str, first_stage: str) -> str | None:
    """Name the trunk of the encoder whose keys are under ``prefix`` (a value encoder's
    non-ResNet trunk is under ``trunk.``); ``first_stage`` is the ResNet's stage-1 name."""
    for family in FAMILIES:
        found = family.identify(state_dict, prefix) or family.identify(
            state_dict, prefix + "trunk."
        )
        if found is not None:
            return found
    return resnet.identify(state_dict, prefix, first_stage)
