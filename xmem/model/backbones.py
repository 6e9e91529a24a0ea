"""The encoder trunks: one registry entry per family states the whole trunk contract.

A trunk is a module that maps an image with ``in_channels`` channels (3 for the key encoder;
image, mask and other objects, 5, for the value encoder) to features ``(f16, f8, f4)`` at
:data:`STRIDES`, with its first convolution named ``conv1`` (where the value encoder's masks
come in). A :class:`Family` says how to build one, its channels, which of its layers fold (batch
norm into convolution), where its keys sit in a checkpoint and how to recognise them, and,
optionally, its ImageNet weights and its blocks in order (for freezing early ones).

A new family is its module in ``xmem/model`` plus one entry in :data:`FAMILIES`; the encoders,
the strict loader, batch-norm folding and training follow from the entry
(``tests/test_registries.py`` adds one this way).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from xmem.errors import ConfigError
from xmem.model import efficientnet, resnet

STRIDES = (4, 8, 16)  # of the features a trunk returns as (f16, f8, f4)

# (parent module, convolution's attribute, batch norm's attribute): bn(conv(x)) in the parent
FoldPair = tuple[nn.Module, str, str]


@dataclass(frozen=True)
class Family:
    name: str
    archs: Collection[str]  # architecture names, as in ModelConfig.key_backbone
    channels: Callable[[str], tuple[int, int, int]]  # arch → channels at strides 4, 8, 16
    build: Callable[[str, int], nn.Module]  # (arch, input channels) → trunk
    identify: Callable[[Mapping[str, Tensor], str], str | None]  # (keys, prefix) → arch or None
    # (trunk, or the module holding its layers) → every batch norm of the trunk with its conv
    fold_pairs: Callable[[nn.Module], list[FoldPair]]
    # Checkpoint keys: the key encoder is the trunk ("key_encoder.conv1.weight"); the value
    # encoder's trunk is under "value_encoder.trunk." unless ``features`` is given: then its
    # layers are the value encoder's own (the official ResNet layout, "value_encoder.conv1…")
    # and ``features(holder, image)`` runs them on the module that holds them.
    features: Callable[[nn.Module, Tensor], tuple[Tensor, Tensor, Tensor]] | None = None
    load_imagenet: Callable[[nn.Module, str], None] | None = None  # (trunk, arch), strict
    blocks: Callable[[nn.Module], Sequence[nn.Module]] | None = None  # trunk → blocks, in order


def conv_bn_pairs(module: nn.Module) -> list[FoldPair]:
    """Batch norms paired with their convolution by name (``convN`` then ``bnN`` in one module)
    and by order (a convolution followed by a batch norm in an ``nn.Sequential``)."""
    pairs: list[FoldPair] = []
    for parent in module.modules():
        children = dict(parent.named_children())
        if isinstance(parent, nn.Sequential):
            names = list(children)
            pairs += [
                (parent, a, b)
                for a, b in zip(names, names[1:], strict=False)
                if isinstance(children[a], nn.Conv2d) and isinstance(children[b], nn.BatchNorm2d)
            ]
            continue
        for name, child in children.items():
            conv = "conv" + name.removeprefix("bn")
            if name.startswith("bn") and isinstance(child, nn.BatchNorm2d):
                if isinstance(children.get(conv), nn.Conv2d):
                    pairs.append((parent, conv, name))
    return pairs


FAMILIES: tuple[Family, ...] = (
    Family(
        "resnet",
        resnet.ARCHITECTURES,
        resnet.stage_channels,
        resnet.ResNetTrunk,
        resnet.identify,
        conv_bn_pairs,
        features=resnet.features,
    ),
    Family(
        "efficientnet-lite",
        efficientnet.LITE_VARIANTS,
        efficientnet.level_channels,
        efficientnet.LiteTrunk,
        efficientnet.identify,
        conv_bn_pairs,
        load_imagenet=efficientnet.load_imagenet_trunk,
        blocks=efficientnet.trunk_blocks,
    ),
)


def known_archs() -> list[str]:
    return [arch for f in FAMILIES for arch in f.archs]


def family(arch: str, field: str = "backbone") -> Family:
    """The family of ``arch``; ConfigError naming ``field`` and the known names otherwise."""
    for entry in FAMILIES:
        if arch in entry.archs:
            return entry
    raise ConfigError(
        f"unknown {field} '{arch}'; known backbones: {', '.join(known_archs())}", field
    )


def level_channels(arch: str) -> tuple[int, int, int]:
    """Output channels of a trunk at strides 4, 8, 16."""
    return family(arch).channels(arch)


def make_trunk(arch: str, in_channels: int) -> nn.Module:
    """A trunk of ``arch`` for images with ``in_channels`` channels."""
    return family(arch).build(arch, in_channels)


def value_prefix(entry: Family) -> str:
    """Where the value encoder's trunk keys sit, after ``value_encoder.``."""
    return "" if entry.features is not None else "trunk."


def identify(state_dict: Mapping[str, Tensor], prefix: str, value: bool = False) -> str | None:
    """Name the trunk of the encoder whose keys are under ``prefix``; ``value``: the value
    encoder's (its trunk keys are under :func:`value_prefix`)."""
    for entry in FAMILIES:
        found = entry.identify(state_dict, prefix + (value_prefix(entry) if value else ""))
        if found is not None:
            return found
    return None
