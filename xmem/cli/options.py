"""Command-line options shared by the commands that track (track, eval, benchmark, serve, gui),
the device, and the one place where a config's field names become command-line flags."""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Iterator, Mapping

import torch

from xmem.errors import ConfigError, XMemError
from xmem.inference.config import InferenceConfig
from xmem.inference.core import PRECISIONS
from xmem.inference.options import TrackOptions
from xmem.inference.speed import CHANNELS_LAST, COMPILE_MODES, SpeedOptions
from xmem.inference.tracker import Tracker

# fields whose flag is not ``--`` + the field name with dashes
FLAGS = {"enable_long_term": "--disable-long-term", "adapt_steps": "--adapt"}


def flag(field: str, flags: Mapping[str, str] | None = None) -> str:
    """The command-line flag of a config field: ``flags``, then :data:`FLAGS`, else
    ``--field-name``."""
    if flags is not None and field in flags:
        return flags[field]
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def flag_message(error: ConfigError, flags: Mapping[str, str] | None = None) -> str:
    """A config error's message with the fields it names written as command-line flags."""
    if not error.fields:
        return error.message
    names = "|".join(re.escape(f) for f in sorted(set(error.fields), key=len, reverse=True))
    return re.sub(rf"(?<![\w-])({names})(?![\w-])", lambda m: flag(m[1], flags), error.message)


@contextlib.contextmanager
def option_errors(flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Build configs from command-line options inside: a :class:`ConfigError` becomes an
    XMemError that names the flags instead of the fields."""
    try:
        yield
    except ConfigError as e:
        raise XMemError(flag_message(e, flags)) from e


def add_inference_options(
    parser: argparse.ArgumentParser, precision_default: str | None = "fp32"
) -> None:
    """Options of the original evaluation script, with the paper's defaults.

    ``precision_default`` None: fp16 on CUDA, fp32 on the CPU (decided by the command).
    """
    d = InferenceConfig()
    g = parser.add_argument_group("inference options (paper defaults)")
    g.add_argument(
        "--size",
        type=int,
        default=None,
        help="shorter side to process at; -1: original (default: the model's own, shown by "
        "`xmem weights list`; 480 for XMem and for checkpoints outside the table)",
    )
    g.add_argument("--top-k", type=int, default=d.top_k, help=f"top-k affinity (default {d.top_k})")
    g.add_argument(
        "--mem-every",
        type=int,
        default=d.mem_every,
        help=f"memory frame every r frames (default {d.mem_every})",
    )
    g.add_argument(
        "--deep-update-every",
        type=int,
        default=d.deep_update_every,
        help="deep update period; <0: on memory frames (default -1)",
    )
    g.add_argument(
        "--disable-long-term",
        action="store_true",
        help="no long-term memory (working memory keeps the first and latest frames)",
    )
    g.add_argument(
        "--min-mid-term-frames",
        type=int,
        default=d.min_mid_term_frames,
        help=f"T_min (default {d.min_mid_term_frames})",
    )
    g.add_argument(
        "--max-mid-term-frames",
        type=int,
        default=d.max_mid_term_frames,
        help=f"T_max (default {d.max_mid_term_frames})",
    )
    g.add_argument(
        "--num-prototypes",
        type=int,
        default=d.num_prototypes,
        help=f"P (default {d.num_prototypes})",
    )
    g.add_argument(
        "--max-long-term-elements",
        type=int,
        default=d.max_long_term_elements,
        help=f"LT_max (default {d.max_long_term_elements})",
    )
    g.add_argument(
        "--adapt",
        type=int,
        default=None,
        metavar="N",
        help="test-time adaptation: before tracking a video, fine-tune a copy of the network "
        "for N steps on pseudo-clips made from the first annotated frame (the frame warped, "
        "its objects moved over an in-painted background, look-alike distractors and smoke "
        "pasted in); slower to start, better on look-alikes; 0: none (default: the model's "
        "own, 25 for xmem-lite0, 0 for the others)",
    )
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
        "--precision",
        choices=sorted(PRECISIONS),
        default=precision_default,
        help=f"network precision (default {precision_default or 'fp16 on CUDA, fp32 on CPU'})",
    )
    add_speed_options(parser)


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """The fast paths (:class:`SpeedOptions`), each with its off switch."""
    d = SpeedOptions()
    g = parser.add_argument_group(
        "speed options (the same outputs up to float rounding; see docs/benchmark.md)"
    )
    g.add_argument(
        "--eager",
        action="store_true",
        help="the straightforward path: every option below off (the speed baseline)",
    )
    g.add_argument(
        "--no-fold-bn",
        dest="fold_bn",
        action="store_false",
        help="keep batch norm separate from the convolutions (default: folded into them)",
    )
    g.add_argument(
        "--channels-last",
        choices=CHANNELS_LAST,
        default=d.channels_last,
        help=f"NHWC weights for the encoders or the whole network (default {d.channels_last})",
    )
    g.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default=d.compile,
        help="torch.compile the encoders and decoder; reduce-overhead adds CUDA graphs "
        "(default off: compiling takes a while on the first frames)",
    )
    g.add_argument("--no-tf32", dest="tf32", action="store_false", help="no TensorFloat-32 on CUDA")
    g.add_argument(
        "--no-pin-memory",
        dest="pin_memory",
        action="store_false",
        help="no page-locked staging of frames for asynchronous copies to CUDA",
    )
    g.add_argument(
        "--no-overlap-io",
        dest="overlap_io",
        action="store_false",
        help="decode frames and read results in line, not overlapped with the network",
    )
    g.add_argument(
        "--object-chunk",
        type=int,
        default=d.object_chunk,
        help=f"objects decoded at a time, to bound memory; 0: all (default {d.object_chunk})",
    )


def speed_options(args: argparse.Namespace) -> SpeedOptions:
    """The speed options (XMemError naming the command-line option when one is invalid)."""
    with option_errors():
        if args.eager:
            return SpeedOptions.eager()
        return SpeedOptions(
            fold_bn=args.fold_bn,
            channels_last=args.channels_last,
            compile=args.compile,
            tf32=args.tf32,
            pin_memory=args.pin_memory,
            overlap_io=args.overlap_io,
            object_chunk=args.object_chunk,
        )


def inference_config(args: argparse.Namespace) -> InferenceConfig:
    """The inference config (XMemError naming the command-line option when one is invalid)."""
    with option_errors():
        return InferenceConfig(
            top_k=args.top_k,
            mem_every=args.mem_every,
            deep_update_every=args.deep_update_every,
            enable_long_term=not args.disable_long_term,
            min_mid_term_frames=args.min_mid_term_frames,
            max_mid_term_frames=args.max_mid_term_frames,
            num_prototypes=args.num_prototypes,
            max_long_term_elements=args.max_long_term_elements,
        )


def track_options(args: argparse.Namespace, precision: str | None = None) -> TrackOptions:
    """Every option of a tracking run, checked once (XMemError naming the command-line
    option). ``precision`` replaces ``--precision`` when that was left to the command."""
    config, speed = inference_config(args), speed_options(args)
    with option_errors():
        return TrackOptions(
            config=config,
            size=args.size,
            precision=args.precision or precision or "fp32",
            speed=speed,
            adapt_steps=args.adapt,
        )


def load_tracker(
    args: argparse.Namespace, device: torch.device, options: TrackOptions | None = None
) -> Tracker:
    """The network of ``--weights`` on ``device``, in a :class:`Tracker` with ``options``
    (default: :func:`track_options`), which prepares it."""
    from xmem.model.weights import from_pretrained

    options = options or track_options(args)
    return Tracker(from_pretrained(args.weights, device=device), options)


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
