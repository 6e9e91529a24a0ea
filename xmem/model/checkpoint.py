"""The one strict checkpoint loader.

Official checkpoints (``XMem.pth``, ``XMem-s012.pth``, ``XMem-s2.pth``, ``XMem-no-sensory.pth``)
and their single-object variants are plain state dicts. Loading = read the file, convert the
state dict to the current layout (pure function), infer the architecture from it, build the
network and ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from xmem.errors import XMemError
from xmem.model import backbones
from xmem.model.network import ModelConfig, XMem

logger = logging.getLogger(__name__)

_PREFIXES = ("module.", "_orig_mod.")
_CONTAINER_KEYS = ("network", "state_dict", "model")
_REQUIRED = (
    "key_proj.key_proj.weight",
    "value_encoder.fuser.block2.conv2.weight",
    "decoder.fuser.block2.conv2.weight",
    "decoder.up_16_8.out_conv.conv2.weight",
    "decoder.up_8_4.out_conv.conv2.weight",
)


def convert_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Bring any supported layout to the current one (returns a new dict, input untouched).

    - strips ``module.`` (DataParallel/DDP) and ``_orig_mod.`` (torch.compile) prefixes;
    - single-object checkpoints (4 value-encoder input channels: image + mask) get a zero
      fifth channel for the "other objects" mask, which makes them exact on one object.
    """
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        while key.startswith(_PREFIXES):
            for prefix in _PREFIXES:
                key = key.removeprefix(prefix)
        out[key] = value
    conv1 = out.get("value_encoder.conv1.weight")
    if conv1 is not None and conv1.ndim == 4 and conv1.shape[1] == 4:
        logger.info("converting a single-object checkpoint (zero 'other objects' channel)")
        zeros = torch.zeros_like(conv1[:, :1])
        out["value_encoder.conv1.weight"] = torch.cat([conv1, zeros], dim=1)
    return out


def _backbone(state_dict: Mapping[str, Tensor], prefix: str, value: bool) -> str:
    arch = backbones.identify(state_dict, prefix, value)
    if arch is None:
        raise XMemError(f"unsupported {prefix.rstrip('.')} backbone in checkpoint")
    return arch


def infer_config(state_dict: Mapping[str, Tensor], source: str = "checkpoint") -> ModelConfig:
    """Read the architecture (dims, backbones, decoder widths) from a converted state dict."""
    missing = [k for k in _REQUIRED if k not in state_dict]
    if missing:
        raise XMemError(f"{source} is not an XMem checkpoint: key {missing[0]!r} is missing")
    transform = state_dict.get("decoder.hidden_update.transform.weight")
    return ModelConfig(
        key_dim=state_dict["key_proj.key_proj.weight"].shape[0],
        value_dim=state_dict["value_encoder.fuser.block2.conv2.weight"].shape[0],
        hidden_dim=transform.shape[0] // 3 if transform is not None else 0,
        key_backbone=_backbone(state_dict, "key_encoder.", value=False),
        value_backbone=_backbone(state_dict, "value_encoder.", value=True),
        decoder_dims=(
            state_dict["decoder.fuser.block2.conv2.weight"].shape[0],
            state_dict["decoder.up_16_8.out_conv.conv2.weight"].shape[0],
            state_dict["decoder.up_8_4.out_conv.conv2.weight"].shape[0],
        ),
    )


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint file (state dict, or a training checkpoint holding one)."""
    path = Path(path)
    if not path.is_file():
        raise XMemError(f"checkpoint '{path}' does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise XMemError(f"cannot read checkpoint '{path}': {e.strerror or e}") from e
    except Exception as e:  # the unpickler raises many types on foreign or corrupt files
        raise XMemError(f"'{path}' is not a PyTorch checkpoint ({type(e).__name__})") from e
    if isinstance(obj, Mapping):
        for key in _CONTAINER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise XMemError(f"'{path}' does not hold a state dict of tensors")
    return dict(obj)


def build_network(state_dict: Mapping[str, Tensor], source: str = "checkpoint") -> XMem:
    """Build the network a state dict describes and load it with ``strict=True`` (eval mode)."""
    state_dict = convert_state_dict(state_dict)
    net = XMem(infer_config(state_dict, source))
    own = net.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    bad_shape = [k for k in own if k in state_dict and own[k].shape != state_dict[k].shape]
    if missing or unexpected or bad_shape:
        parts = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", bad_shape),
        ):
            if keys:
                more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
                parts.append(f"{label} keys {', '.join(keys[:3])}{more}")
        raise XMemError(f"{source} does not match the XMem network: " + "; ".join(parts))
    net.load_state_dict(state_dict, strict=True)
    return net.eval()


def load_network(path: str | Path, device: str | torch.device = "cpu") -> XMem:
    """Load an XMem checkpoint file strictly into a new network on ``device`` (eval mode)."""
    net = build_network(read_state_dict(path), source=f"checkpoint '{path}'")
    logger.info("loaded %s (%s)", path, net.config)
    return net.to(device)
