"""``xmem benchmark``: frames per second, time per stage and memory on a synthetic video."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import tempfile
from pathlib import Path

import torch

from xmem.cli.options import (
    add_inference_options,
    check_onnx_backend,
    onnx_network,
    option_errors,
    select_device,
    track_options,
)
from xmem.errors import XMemError
from xmem.inference.options import TrackOptions
from xmem.inference.speed import SpeedOptions
from xmem.inference.tracker import Tracker
from xmem.model.network import MODELS
from xmem.model.onnx_network import Network

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "xmem"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "benchmark",
        help="measure speed (per stage) and memory on a synthetic video",
        description="Track the objects of a synthetic video (written to a temporary file "
        "first, not timed) and report frames per second, milliseconds per stage (I/O, key "
        "encoder, memory read, decoder, value encoder, ...) and memory, frame by frame.",
    )
    p.add_argument(
        "--model",
        default=None,
        help=f"architecture with random weights (speed does not depend on their values): "
        f"{', '.join(MODELS)} (default {DEFAULT_MODEL}); or give --weights instead",
    )
    p.add_argument(
        "--frames", type=int, default=100, help="length of the video in frames (default 100)"
    )
    p.add_argument("--height", type=int, default=480, help="video height (default 480)")
    p.add_argument("--width", type=int, default=854, help="video width (default 854)")
    p.add_argument("--objects", type=int, default=2, help="number of objects (default 2)")
    p.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="first frames left out of the frames/s and per-stage figures (default 5)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the video and random weights (default 0)"
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="first run the straightforward path (eager, fp32, every speed option off) on "
        "the same video in this process, then report the speed-up and how far the masks agree",
    )
    p.add_argument(
        "--no-stage-times",
        dest="stage_times",
        action="store_false",
        help="time whole frames only: timing stages synchronises CUDA at every stage, which "
        "stops work from overlapping (use for throughput on a GPU)",
    )
    p.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="draw time and memory per frame into this PNG file (needs matplotlib)",
    )
    add_inference_options(p)
    p.set_defaults(run=run)


def _check_output(path: Path | None, option: str, suffix: str) -> None:
    if path is None:
        return
    if path.suffix.lower() != suffix:
        raise XMemError(f"{option} must be a {suffix} file, got '{path}'")
    if path.is_dir():
        raise XMemError(f"{option} '{path}' is a folder")
    parent = path.parent
    if not parent.is_dir():
        raise XMemError(f"the folder of {option} '{path}' does not exist: create '{parent}' first")


def check_args(args: argparse.Namespace) -> None:
    """The options of this command checked before any work (the video's sizes are checked by
    the benchmark itself, in the names of its arguments: see :func:`run`)."""
    if args.model is not None and args.weights is not None:
        raise XMemError("give --model (random weights) or --weights, not both")
    if args.model is not None and args.model not in MODELS:
        raise XMemError(f"unknown model '{args.model}'; choices: {', '.join(MODELS)}")
    _check_output(args.json, "--json", ".json")
    _check_output(args.plot, "--plot", ".png")
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError as e:
            raise XMemError("--plot needs matplotlib: pip install 'xmem[plot]'") from e


def run(args: argparse.Namespace) -> int:
    check_args(args)
    options = track_options(args)
    if options.adapt_steps is None:  # the speed of tracking: adaptation only when asked for
        options = dataclasses.replace(options, adapt_steps=0)
    device = select_device(args.device)
    with contextlib.ExitStack() as cleanup:
        network, model = _network(args, device, cleanup)
        return _run(args, options, network, model)


def _network(
    args: argparse.Namespace, device: torch.device, cleanup: contextlib.ExitStack
) -> tuple[Network, str]:
    """The network to time and its label: ``--weights`` or an architecture with random
    weights, as PyTorch or (``--backend onnx``) as ONNX graphs (random weights exported into a
    temporary folder first, not timed)."""
    from xmem.model.network import random_network
    from xmem.model.onnx_export import export_onnx
    from xmem.model.onnx_network import OnnxXMem
    from xmem.model.weights import from_pretrained

    onnx = args.backend == "onnx"
    if args.weights is not None:
        if onnx:
            return onnx_network(args.weights, device), f"weights {args.weights}, onnx"
        return from_pretrained(args.weights, device=device), f"weights {args.weights}"
    name = args.model or DEFAULT_MODEL
    if onnx:
        check_onnx_backend(device)  # before a minute of export
    network = random_network(name, seed=args.seed, device=device)
    if not onnx:
        return network, f"{name} (random weights)"
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="xmem-bench-")))
    export_onnx(network, folder / "graphs", model=name)
    return OnnxXMem(folder / "graphs"), f"{name} (random weights), onnx"


def _run(args: argparse.Namespace, options: TrackOptions, network: Network, model: str) -> int:
    """Time the run (and the eager baseline with ``--compare``); report and write."""
    from xmem import bench as benchmark

    runs = [("", options)]
    if args.compare:
        baseline = dataclasses.replace(options, precision="fp32", speed=SpeedOptions.eager())
        runs.insert(0, ("baseline: ", baseline))
    results = []
    for label, run_options in runs:
        changes = ", ".join(run_options.speed.network_changes())
        with option_errors():
            result = benchmark.run_benchmark(
                Tracker(network, run_options),
                frames=args.frames,
                height=args.height,
                width=args.width,
                objects=args.objects,
                warmup=args.warmup,
                seed=args.seed,
                model=label + model + (f", {changes}" if changes else ""),
                stage_times=args.stage_times,
                keep_masks=args.compare,
            )
        results.append(result)
        for line in benchmark.format_summary(result):
            logger.info("%s", line)
    result = results[-1]
    comparison = benchmark.compare(results[0], result) if args.compare else None
    if comparison is not None:
        for line in benchmark.format_comparison(comparison):
            logger.info("%s", line)
    if args.json is not None:
        data = result.to_json()
        if comparison is not None:
            data["baseline"] = results[0].to_json()
            data["comparison"] = comparison
        benchmark.write_json(data, args.json)
        logger.info("wrote %s", args.json)
    if args.plot is not None:
        from xmem.bench.plot import plot_benchmark

        plot_benchmark(result, args.plot)
        logger.info("wrote %s", args.plot)
    return 0
