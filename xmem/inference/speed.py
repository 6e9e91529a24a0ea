"""How inference runs, apart from what it computes: the fast paths and their off switches.

Every option here keeps the outputs of the reference path (float32, eager, batch norm separate)
up to float rounding; the tests hold each one to the golden scenarios. Precision (fp16/bf16
autocast) is chosen separately, as it is a numerical choice.

- ``fold_bn``: batch norm folded into the convolution before it (:mod:`xmem.model.fuse`).
- ``channels_last``: NHWC weights for the encoders (``"encoders"``) or the whole network
  (``"all"``): faster convolutions on oneDNN (CPU) and on tensor cores (GPU).
- ``compile``: ``torch.compile`` of the encoders and the decoder (``"default"``,
  ``"reduce-overhead"`` = CUDA graphs, ``"max-autotune"``), with static shapes.
- ``tf32``: TensorFloat-32 for the network's convolutions and matrix products on CUDA (the
  memory read keeps IEEE float32; ignored on the CPU).
- ``pin_memory``: frames staged in page-locked memory and copied to the GPU asynchronously.
- ``overlap_io``: frames decoded and resized by a background thread while the network runs,
  and (on CUDA) each frame's result read back while the next frame is computed.
- ``object_chunk``: decode and encode at most this many objects at a time (0: all at once),
  which bounds activation memory with many objects.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import overload

import torch
from torch import Tensor

from xmem.errors import ConfigError
from xmem.model.fuse import fold_batchnorm
from xmem.model.network import XMem
from xmem.model.onnx_network import Network, OnnxXMem

CHANNELS_LAST = ("off", "encoders", "all")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class SpeedOptions:
    """The fast paths, all on by default except ``compile`` (its first frames are slow)."""

    fold_bn: bool = True
    channels_last: str = "encoders"
    compile: str = "off"
    tf32: bool = True
    pin_memory: bool = True
    overlap_io: bool = True
    object_chunk: int = 16

    def __post_init__(self) -> None:
        if self.channels_last not in CHANNELS_LAST:
            raise ConfigError(f"channels_last must be one of {CHANNELS_LAST}", "channels_last")
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"compile must be one of {COMPILE_MODES}", "compile")
        if self.object_chunk < 0:
            raise ConfigError(
                f"object_chunk must be at least 0, got {self.object_chunk}", "object_chunk"
            )

    @classmethod
    def eager(cls) -> SpeedOptions:
        """The straightforward path: the reference for outputs and the baseline for speed."""
        return cls(
            fold_bn=False,
            channels_last="off",
            compile="off",
            tf32=False,
            pin_memory=False,
            overlap_io=False,
            object_chunk=0,
        )

    def network_key(self) -> tuple[bool, str, str]:
        """The options :func:`prepare_network` applies (what a prepared network is marked with)."""
        return (self.fold_bn, self.channels_last, self.compile)

    def network_changes(self) -> list[str]:
        """Short names of what :func:`prepare_network` changes, for reports."""
        changes = []
        if self.fold_bn:
            changes.append("batch norm folded")
        if self.channels_last != "off":
            changes.append(f"channels-last {self.channels_last}")
        if self.compile != "off":
            changes.append(f"compiled ({self.compile})")
        return changes


_PREPARED = "_xmem_prepared_with"  # the network_key of a prepared network
_UNPREPARED = (False, "off", "off")


def prepared_with(network: Network) -> tuple[bool, str, str]:
    """What :func:`prepare_network` did to ``network``: (fold_bn, channels_last, compile)."""
    return getattr(network, _PREPARED, _UNPREPARED)


@overload
def prepare_network(network: XMem, options: SpeedOptions) -> XMem: ...
@overload
def prepare_network(network: OnnxXMem, options: SpeedOptions) -> OnnxXMem: ...
def prepare_network(network: Network, options: SpeedOptions) -> Network:
    """A copy of ``network`` for inference with the network-level fast paths of ``options``.

    The input network is untouched; with none of them on, it is returned as is, and so is a
    network this function already prepared with the same options. A network prepared with
    other options raises ValueError (prepare the original network instead).
    """
    if isinstance(network, OnnxXMem):
        return network  # graphs exported with batch norm folded; ONNX Runtime optimises them
    done = prepared_with(network)
    if done == options.network_key():
        return network
    if done != _UNPREPARED:
        raise ValueError(
            f"the network was already prepared with (fold_bn, channels_last, compile) = {done}, "
            f"not {options.network_key()}: give the original network"
        )
    out = fold_batchnorm(network) if options.fold_bn else copy.deepcopy(network).eval()
    if options.channels_last != "off":
        parts = (
            [out]
            if options.channels_last == "all"
            else [out.key_encoder, out.key_proj, out.value_encoder]
        )
        for part in parts:
            # torch's stub of Module.to lists no memory_format keyword; it takes one at runtime
            part.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if options.channels_last == "encoders":
            # NCHW image features for the decoder: its convolutions follow the input's layout
            out.key_encoder.register_forward_hook(_contiguous_outputs)
    if options.compile != "off":
        for part in (out.key_encoder, out.key_proj, out.value_encoder, out.decoder):
            # static shapes: one graph per image size and number of objects (chunked)
            part.compile(mode=options.compile, dynamic=False)
    setattr(out, _PREPARED, options.network_key())
    return out


def _contiguous_outputs(
    module: torch.nn.Module, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]
) -> tuple[Tensor, ...]:
    return tuple(x.contiguous() for x in outputs)


@contextlib.contextmanager
def tf32(enabled: bool, device: torch.device) -> Iterator[None]:
    """TensorFloat-32 on (or off) for CUDA convolutions and matrix products, then restored.

    A context rather than a process-wide switch, so that two engines in one process (e.g. the
    side-by-side benchmark) each get their own setting. No effect on the CPU. Uses the
    ``fp32_precision`` settings where torch has them (newer torch can raise when they are
    mixed with the older ``allow_tf32`` flags), else the ``allow_tf32`` flags.
    """
    if device.type != "cuda":
        yield
        return
    flags: list[tuple[object, str]]
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        # torch's stub of the cudnn module lacks ``conv`` (set by its runtime module class)
        flags = [(matmul, "fp32_precision"), (torch.backends.cudnn.conv, "fp32_precision")]  # type: ignore[attr-defined]
        value: object = "tf32" if enabled else "ieee"
    else:
        flags = [(matmul, "allow_tf32"), (torch.backends.cudnn, "allow_tf32")]
        value = enabled
    saved = [getattr(owner, name) for owner, name in flags]
    for owner, name in flags:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for (owner, name), old in zip(flags, saved, strict=True):
            setattr(owner, name, old)


__all__ = [
    "CHANNELS_LAST",
    "COMPILE_MODES",
    "SpeedOptions",
    "prepare_network",
    "prepared_with",
    "tf32",
]
