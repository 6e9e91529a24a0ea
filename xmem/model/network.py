"""The XMem network: stateless, with named stages. The inference engine holds all state."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
from torch import Tensor, nn

from xmem.errors import XMemError
from xmem.memory.ops import readout, similarity, topk_softmax
from xmem.model import backbones
from xmem.model.aggregate import aggregate
from xmem.model.decoder import Decoder
from xmem.model.encoders import KeyProjection, ValueEncoder, make_key_encoder


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an XMem network. Defaults are the published model."""

    key_dim: int = 64  # C^k
    value_dim: int = 512  # C^v
    hidden_dim: int = 64  # C^h, sensory memory; 0 = no sensory memory
    key_backbone: str = "resnet50"  # key encoder trunk to stride 16 (ResNet stages 1-3)
    value_backbone: str = "resnet18"  # value encoder trunk to stride 16
    decoder_dims: tuple[int, int, int] = (512, 256, 256)  # decoder widths at 1/16, 1/8, 1/4

    def __post_init__(self) -> None:
        backbones.family(self.key_backbone, "key_backbone")  # ConfigError when unknown
        backbones.family(self.value_backbone, "value_backbone")


# ours, for CPUs: half-width ResNet-18 encoders, narrower values, decoder and sensory memory
_COMPACT = ModelConfig(
    key_dim=64,
    value_dim=256,
    hidden_dim=32,
    key_backbone="resnet18-w32",
    value_backbone="resnet18-w32",
    decoder_dims=(128, 64, 32),
)

# Named architectures, e.g. for benchmarks with random weights (`xmem benchmark --model`).
MODELS: dict[str, ModelConfig] = {
    "xmem": ModelConfig(),
    "xmem-no-sensory": ModelConfig(hidden_dim=0),
    "xmem-compact": _COMPACT,
    # the compact widths on ImageNet-pretrained EfficientNet-Lite0 trunks (--init-backbone)
    "xmem-lite0": replace(
        _COMPACT, key_backbone="efficientnet-lite0", value_backbone="efficientnet-lite0"
    ),
}


def object_chunks(n: int, chunk: int) -> list[slice]:
    """Slices covering ``n`` objects, at most ``chunk`` each (``chunk`` ≤ 0: one slice)."""
    size = chunk if chunk > 0 else max(n, 1)
    return [slice(i, min(i + size, n)) for i in range(0, max(n, 1), size)]


def _cat_or_none(parts: list[Tensor | None]) -> Tensor | None:
    tensors = [p for p in parts if p is not None]
    if len(tensors) < len(parts):
        return None
    return torch.cat(tensors, dim=1)


class KeyFeatures(NamedTuple):
    """Output of :meth:`XMem.encode_key` (B×C×H/s×W/s each; shrinkage/selection may be None)."""

    key: Tensor
    shrinkage: Tensor | None
    selection: Tensor | None
    f16: Tensor
    f8: Tensor
    f4: Tensor


class XMem(nn.Module):
    """XMem (Cheng & Schwing, ECCV 2022). Call the stages, not ``forward``.

    Images are B×3×H×W, normalised with ImageNet mean/std, H and W multiples of 16.
    """

    # shorter side (pixels) the weights are meant to be run at; -1: original resolution.
    # Set by the weights loader from the weights table (480 for the official checkpoints).
    default_size: int = 480
    # test-time adaptation steps the weights are meant to be tracked with (set likewise; 0: none)
    default_adapt_steps: int = 0
    # whether the weights are meant to be tracked with test-time flip (set likewise)
    default_flip: bool = False

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        feature_dims = backbones.level_channels(config.key_backbone)[::-1]  # f16, f8, f4
        self.key_encoder = make_key_encoder(config.key_backbone)
        self.value_encoder = ValueEncoder(
            feature_dims[0], config.value_dim, config.hidden_dim, config.value_backbone
        )
        self.key_proj = KeyProjection(feature_dims[0], config.key_dim)
        self.decoder = Decoder(
            feature_dims, config.value_dim, config.hidden_dim, config.decoder_dims
        )

    @property
    def key_dim(self) -> int:
        return self.config.key_dim

    @property
    def value_dim(self) -> int:
        return self.config.value_dim

    @property
    def hidden_dim(self) -> int:
        return self.config.hidden_dim

    @property
    def device(self) -> torch.device:
        """The device of the network's weights (all on one device)."""
        return next(self.parameters()).device

    def forward(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError(
            "XMem has no forward(); call encode_key, encode_value, read_memory and segment, "
            "or use xmem.InferenceCore / xmem.track for videos"
        )

    def encode_key(
        self, image: Tensor, need_shrinkage: bool = True, need_selection: bool = True
    ) -> KeyFeatures:
        """image B×3×H×W → key B×CK×H/16×W/16, shrinkage B×1×.., selection B×CK×.., features."""
        f16, f8, f4 = self.key_encoder(image)
        key, shrinkage, selection = self.key_proj(f16, need_shrinkage, need_selection)
        return KeyFeatures(key, shrinkage, selection, f16, f8, f4)

    def encode_value(
        self,
        image: Tensor,
        f16: Tensor,
        hidden: Tensor | None,
        masks: Tensor,
        deep_update: bool = True,
        chunk: int = 0,
    ) -> tuple[Tensor, Tensor | None]:
        """Encode masks B×N×H×W (probabilities in [0,1]) into values B×N×CV×H/16×W/16.

        With ``deep_update`` (and sensory memory) also returns the reinforced hidden state
        B×N×CH×H/16×W/16; otherwise ``hidden`` is returned unchanged. ``chunk`` > 0 encodes
        at most that many objects at a time (the same result, bounded activation memory).
        """
        n = masks.shape[1]
        if n > 1:
            others = masks.sum(dim=1, keepdim=True) - masks
        else:
            others = torch.zeros_like(masks)
        values, hiddens = [], []
        for part in object_chunks(n, chunk):
            part_hidden = hidden[:, part] if hidden is not None else None
            value, new_hidden = self.value_encoder(
                image, f16, part_hidden, masks[:, part], others[:, part], deep_update
            )
            values.append(value)
            hiddens.append(new_hidden)
        if len(values) == 1:
            return values[0], hiddens[0]
        return torch.cat(values, dim=1), _cat_or_none(hiddens)

    def read_memory(
        self,
        query_key: Tensor,
        query_selection: Tensor | None,
        memory_key: Tensor,
        memory_shrinkage: Tensor | None,
        memory_value: Tensor,
        top_k: int | None = None,
    ) -> Tensor:
        """Read values of all memory frames (training-style, one group).

        query_key/selection B×CK×H×W; memory_key B×CK×T×H×W; shrinkage B×1×T×H×W;
        memory_value B×N×CV×T×H×W → readout B×N×CV×H×W.
        """
        b, n, cv = memory_value.shape[:3]
        h, w = query_key.shape[-2:]
        sim = similarity(
            memory_key.flatten(2),
            memory_shrinkage.flatten(2) if memory_shrinkage is not None else None,
            query_key.flatten(2),
            query_selection.flatten(2) if query_selection is not None else None,
        )
        affinity = topk_softmax(sim, top_k)  # B×M×HW
        values = memory_value.flatten(3).flatten(1, 2)  # B×(N·CV)×M
        return readout(affinity, values).view(b, n, cv, h, w)

    def segment(
        self,
        features: tuple[Tensor, Tensor, Tensor],
        memory_readout: Tensor,
        hidden: Tensor | None,
        selector: Tensor | None = None,
        update_hidden: bool = True,
        chunk: int = 0,
    ) -> tuple[Tensor | None, Tensor, Tensor]:
        """Decode masks. features = (f16, f8, f4); readout B×N×CV×h×w; hidden B×N×CH×h×w.

        Returns (new hidden or None, logits, prob): logits and prob are B×(N+1)×H×W with the
        background first; prob sums to 1 over channels. ``selector`` (B×N×1×1, 0/1) masks
        out absent objects in training. ``chunk`` > 0 decodes at most that many objects at a
        time (the same result, bounded activation memory).
        """
        n = memory_readout.shape[1]
        hiddens, parts = [], []
        for part in object_chunks(n, chunk):
            part_hidden = hidden[:, part] if hidden is not None else None
            h, part_logits = self.decoder(
                *features, part_hidden, memory_readout[:, part], update_hidden
            )
            hiddens.append(h)
            parts.append(part_logits)
        new_hidden = hiddens[0] if len(parts) == 1 else _cat_or_none(hiddens)
        logits = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        prob = torch.sigmoid(logits.float())
        if selector is not None:
            prob = prob * selector
        logits, prob = aggregate(prob, dim=1)
        return new_hidden, logits, prob


def random_network(model: str = "xmem", seed: int = 0, device: str | torch.device = "cpu") -> XMem:
    """A network of the named architecture (:data:`MODELS`) with seeded random weights, in
    eval mode (for benchmarks, whose speed and memory do not depend on the weight values, and
    as training's starting point). The global random state is left as it was."""
    if model not in MODELS:
        raise XMemError(f"unknown model '{model}'; choices: {', '.join(MODELS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = XMem(MODELS[model]).eval()
    return network.to(device)


def trunks(network: XMem) -> list[tuple[backbones.Family, str, nn.Module]]:
    """Both encoder trunks as (family, arch, module holding the trunk's layers): the key
    encoder, then the value encoder's trunk (or the value encoder, when its family keeps the
    trunk's layers at its top level)."""
    value = network.value_encoder
    config = network.config
    return [
        (backbones.family(config.key_backbone), config.key_backbone, network.key_encoder),
        (backbones.family(config.value_backbone), config.value_backbone, value.trunk or value),
    ]


def init_imagenet_backbones(network: XMem) -> None:
    """Start both encoder trunks from the ImageNet weights of their installed package.

    The value encoder's mask channels start at zero, so both trunks compute the pretrained
    features at first.
    """
    for family, arch, trunk in trunks(network):
        if family.load_imagenet is None:
            with_weights = [a for f in backbones.FAMILIES if f.load_imagenet for a in f.archs]
            raise XMemError(
                f"no ImageNet weights ship for the {arch} backbone; --init-backbone imagenet "
                f"needs one of {', '.join(with_weights)}"
            )
        family.load_imagenet(trunk, arch)


def backbone_trunks(network: XMem) -> list[nn.Module]:
    """The encoder trunks (not the fusion blocks, projections or decoder)."""
    return [network.key_encoder, *network.value_encoder.trunk_modules()]


def backbone_batchnorms(network: XMem) -> list[nn.Module]:
    """The batch norms of the encoder trunks."""
    return [
        m for t in backbone_trunks(network) for m in t.modules() if isinstance(m, nn.BatchNorm2d)
    ]


def backbone_parameters(network: XMem) -> list[nn.Parameter]:
    """The pretrained parameters of the encoder trunks: all but the value encoder's first
    convolution (``conv1`` in every trunk), where the masks come in."""
    value = network.value_encoder
    mask_stem = (value.trunk or value).get_submodule("conv1")
    skip = {id(p) for p in mask_stem.parameters()}
    return [p for t in backbone_trunks(network) for p in t.parameters() if id(p) not in skip]


def freeze_early_blocks(network: XMem, blocks: int) -> None:
    """Fix the first ``blocks`` blocks of both trunks and the key encoder's stem (no gradient:
    the costly high-resolution layers keep their pretrained weights). The value encoder's
    stem stays trainable: it is where the masks come in."""
    (key_family, _, key), (value_family, _, value) = trunks(network)
    if key_family.blocks is None or value_family.blocks is None:
        with_blocks = [a for f in backbones.FAMILIES if f.blocks for a in f.archs]
        raise XMemError(f"frozen blocks are for the {', '.join(with_blocks)} backbones")
    key_stem = [key.get_submodule("conv1"), key.get_submodule("bn1")]
    frozen = [*key_stem, *key_family.blocks(key)[:blocks], *value_family.blocks(value)[:blocks]]
    for module in frozen:
        module.requires_grad_(False)
