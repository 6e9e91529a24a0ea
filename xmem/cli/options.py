"""Command-line options shared by the commands that track (track, eval, benchmark, serve,
gui): the tracking configs' flags (made by :mod:`xmem.cli.flags`), the weights and the
device."""

from __future__ import annotations

import argparse
import dataclasses

import torch

from xmem.cli.flags import Help, add_config_flags, flag, flag_message, from_args, option_errors
from xmem.errors import XMemError
from xmem.inference.config import InferenceConfig
from xmem.inference.core import PRECISIONS
from xmem.inference.options import TrackOptions
from xmem.inference.speed import CHANNELS_LAST, COMPILE_MODES, SpeedOptions
from xmem.inference.tracker import Tracker
from xmem.model.onnx_network import OnnxXMem

__all__ = ["flag", "flag_message", "option_errors"]  # re-exported: the flags' one home is .flags

INFERENCE_HELP: dict[str, str | Help] = {
    "mem_every": "memory frame every r frames",
    "deep_update_every": "deep update period; <0: on memory frames",
    "enable_long_term": Help(
        "no long-term memory (working memory keeps the first and latest frames)",
        show_default=False,
    ),
    "min_mid_term_frames": "T_min",
    "max_mid_term_frames": "T_max",
    "num_prototypes": "P",
    "max_long_term_elements": "LT_max",
    "top_k": "top-k affinity",
    "memory_read": "how a frame reads memory: a name in xmem.memory.ops.READS",
}
TRACK_HELP: dict[str, str | Help] = {
    "size": "shorter side to process at; -1: original (default: the model's own, shown by "
    "`xmem weights list`; 480 for XMem and for checkpoints outside the table)",
    "adapt_steps": Help(
        "test-time adaptation: before tracking a video, fine-tune a copy of the network for N "
        "steps on pseudo-clips made from the first annotated frame (the frame warped, its "
        "objects moved over an in-painted background, look-alike distractors and smoke "
        "pasted in); slower to start, better on look-alikes; 0: none (default: the model's "
        "own, 25 for xmem-lite0, 0 for the others)",
        metavar="N",
    ),
    "max_size": Help(
        "a video whose smallest object on the first annotated frame would be under 32 pixels "
        "across at the processing size is processed larger, up to this shorter side and the "
        "video's own (default: twice the size, 480 for xmem-lite0); the size itself: never",
        metavar="SIZE",
    ),
    "flip": "test-time flip: segment each frame and its mirror image and remember their mean; "
    "better on thin and small objects, half the speed (default: the model's own, on for "
    "xmem-lite0, off for the others)",
}
SPEED_HELP: dict[str, str | Help] = {
    "fold_bn": "fold batch norm into the convolutions",
    "channels_last": Help("NHWC weights for the encoders or the whole network", CHANNELS_LAST),
    "compile": Help(
        "torch.compile the encoders and decoder (compiling takes a while on the first "
        "frames); reduce-overhead adds CUDA graphs",
        COMPILE_MODES,
    ),
    "tf32": "TensorFloat-32 on CUDA",
    "pin_memory": "page-locked staging of frames for asynchronous copies to CUDA",
    "overlap_io": "decode frames and read results on other threads, overlapped with the network",
    "object_chunk": "objects decoded at a time, to bound memory; 0: all",
}


def add_inference_options(
    parser: argparse.ArgumentParser, precision_default: str | None = "fp32"
) -> None:
    """The fields of :class:`TrackOptions` and its :class:`InferenceConfig` (the options of the
    original evaluation script, with the paper's defaults), the weights and the device.

    ``precision_default`` None: fp16 on CUDA, fp32 on the CPU (decided by the command).
    """
    g = parser.add_argument_group("inference options (paper defaults)")
    precision = Help(
        f"network precision (default {precision_default or 'fp16 on CUDA, fp32 on CPU'})",
        tuple(sorted(PRECISIONS)),
        show_default=False,
    )
    add_config_flags(g, TrackOptions, {**TRACK_HELP, "precision": precision}, ("config", "speed"))
    add_config_flags(g, InferenceConfig, INFERENCE_HELP, ("enable_long_term_count_usage",))
    g.add_argument(
        "--weights",
        default=None,
        help="weights name (see `xmem weights list`) or checkpoint path "
        "(default: XMem when cached, else the bundled xmem-lite0)",
    )
    g.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ..."
    )
    g.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="torch: PyTorch (default); onnx: ONNX Runtime on the CPU, fp32, no adaptation, "
        "running the graphs of --weights exported by `xmem weights onnx` (a folder), or "
        "exporting the weights once into the cache (needs the onnx extra)",
    )
    add_speed_options(parser)


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """The fast paths (the fields of :class:`SpeedOptions`), each with its off switch."""
    g = parser.add_argument_group(
        "speed options (the same outputs up to float rounding; see docs/benchmark.md)"
    )
    g.add_argument(
        "--eager",
        action="store_true",
        help="the straightforward path: every option below off, unless given (the speed baseline)",
    )
    add_config_flags(g, SpeedOptions, SPEED_HELP)


def speed_options(args: argparse.Namespace) -> SpeedOptions:
    """The speed options (XMemError naming the command-line option when one is invalid)."""
    return from_args(SpeedOptions.eager() if args.eager else SpeedOptions(), args)


def inference_config(args: argparse.Namespace) -> InferenceConfig:
    """The inference config (XMemError naming the command-line option when one is invalid)."""
    return from_args(InferenceConfig(), args)


def track_options(args: argparse.Namespace, precision: str | None = None) -> TrackOptions:
    """Every option of a tracking run, checked once (XMemError naming the command-line
    option). ``precision`` replaces ``--precision`` when that was left to the command."""
    base = TrackOptions(config=inference_config(args), speed=speed_options(args))
    options = from_args(base, args, exclude=("config", "speed"))
    if args.precision is None and precision is not None:
        options = from_args(options, argparse.Namespace(precision=precision))
    return options


def load_tracker(
    args: argparse.Namespace, device: torch.device, options: TrackOptions | None = None
) -> Tracker:
    """The network of ``--weights`` on ``device``, in a :class:`Tracker` with ``options``
    (default: :func:`track_options`), which prepares it."""
    from xmem.model.weights import from_pretrained

    options = options or track_options(args)
    if getattr(args, "backend", "torch") == "onnx":
        return _onnx_tracker(args, device, options)
    return Tracker(from_pretrained(args.weights, device=device), options)


def _onnx_tracker(args: argparse.Namespace, device: torch.device, options: TrackOptions) -> Tracker:
    """A tracker running the ONNX graphs of ``--weights``."""
    network = onnx_network(args.weights, device)
    if args.adapt_steps is None:  # the model's own adaptation needs PyTorch: none here
        options = dataclasses.replace(options, adapt_steps=0)
    with option_errors():
        return Tracker(network, options)


def onnx_network(weights: str | None, device: torch.device) -> OnnxXMem:
    """The ONNX graphs of ``--weights`` (an export folder, or weights exported once into the
    cache), checked to run here."""
    from xmem.model.onnx_export import exported

    check_onnx_backend(device)
    return OnnxXMem(exported(weights))


def check_onnx_backend(device: torch.device) -> None:
    """``--backend onnx`` runs on the CPU, with ONNX Runtime installed."""
    from xmem.model.onnx_network import check_runtime

    if device.type != "cpu":
        raise XMemError("--backend onnx runs on the CPU: leave out --device or give cpu")
    check_runtime()


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise XMemError(f"unknown device {name!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise XMemError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device
