"""``xmem eval DATASET --out RUN``: J&F of XMem (or of existing predictions) on a dataset."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch

from xmem.cli.options import add_inference_options, load_tracker, select_device, track_options
from xmem.data import LAYOUTS, Dataset, load_dataset
from xmem.errors import XMemError
from xmem.eval.records import SequenceRecord
from xmem.eval.report import format_report, summarize, write_report
from xmem.eval.runner import Predictor, copy_first_predictor, evaluate_sequences, xmem_predictor
from xmem.model.weights import resolve_weights, weights_process_size
from xmem.runtime import distributed
from xmem.runtime.distributed import Worker
from xmem.runtime.machine import machine_facts, peak_rss_mb

logger = logging.getLogger(__name__)

METHODS = ("xmem", "copy-first")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help="J&F on a dataset (DAVIS, YouTube-VOS or a folder of sequences)",
        description="Track every sequence of a dataset (or read existing predictions), score "
        "J&F as the official DAVIS toolkit does, and write a report. Shard over processes "
        "with --workers N or `torchrun --nproc_per_node N -m xmem eval ...`.",
    )
    p.add_argument("dataset", type=Path, help="dataset folder")
    p.add_argument(
        "--out",
        "-o",
        type=Path,
        required=True,
        help="run folder: predictions/, per-sequence records, results.json and CSV files",
    )
    p.add_argument("--layout", choices=LAYOUTS, default=None, help="dataset layout (detected)")
    p.add_argument(
        "--split",
        default=None,
        help="DAVIS split name (ImageSets/**/NAME.txt) or a text file of sequence names",
    )
    p.add_argument("--resolution", default="480p", help="DAVIS resolution folder (default 480p)")
    p.add_argument(
        "--sequences", default=None, help="comma-separated sequence names (after the split)"
    )
    p.add_argument(
        "--predictions",
        type=Path,
        default=None,
        help="score the predictions in this folder (any method) instead of tracking",
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default="xmem",
        help="xmem, or copy-first: the baseline that repeats the given masks (default xmem)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes to shard the sequences over")
    p.add_argument(
        "--restart", action="store_true", help="run every sequence again (default: resume)"
    )
    p.add_argument(
        "--exclude-void",
        action="store_true",
        help="leave void pixels (255 in palette annotations) out of J and F; the official "
        "semi-supervised evaluation keeps them as background",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_inference_options(p)
    p.set_defaults(run=run)


def _settings(
    args: argparse.Namespace, dataset: Dataset, device: torch.device, workers: int
) -> dict[str, Any]:
    tracking = args.predictions is None and args.method == "xmem"
    options = track_options(args)
    return {
        "dataset": str(dataset.root),
        "layout": dataset.layout,
        "split": args.split,
        "method": "predictions" if args.predictions else args.method,
        "predictions": str(args.predictions) if args.predictions else None,
        "weights": str(resolve_weights(args.weights, download_missing=False)) if tracking else None,
        "device": str(device),
        "precision": options.precision if tracking else None,
        "size": (options.size or weights_process_size(args.weights)) if tracking else None,
        "inference": dataclasses.asdict(options.config) if tracking else None,
        "exclude_void": args.exclude_void,
        "workers": workers,
        "machine": machine_facts(device),
    }


def _predictor(args: argparse.Namespace, device: torch.device) -> Predictor | None:
    if args.predictions is not None:
        return None
    if args.method == "copy-first":
        return copy_first_predictor
    return xmem_predictor(load_tracker(args, device))


def _peak_memory(device: torch.device, rank: int) -> dict[str, Any]:
    rss = peak_rss_mb()
    cuda = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"rank": rank, "peak_rss_mb": rss, "peak_cuda_mb": cuda}


def run_worker(
    args: argparse.Namespace,
    dataset: Dataset,
    worker: Worker,
    init_method: str | None = None,
) -> int:
    """One process's share of the evaluation; rank 0 gathers everything and reports."""
    device = distributed.worker_device(select_device(args.device), worker)
    if device.type == "cpu" and worker.local_world_size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // worker.local_world_size))
    distributed.init(worker, device, init_method)
    share = distributed.shard([len(s) for s in dataset.sequences], worker.world_size)[worker.rank]
    records: list[SequenceRecord] = []
    error = None
    try:
        predictor = _predictor(args, device)
        records = evaluate_sequences(
            dataset,
            share,
            args.out,
            predictor=predictor,
            predictions=args.predictions,
            resume=not args.restart,
            exclude_void=args.exclude_void,
            progress=not args.no_progress,
            worker=worker.rank,
        )
    except XMemError as e:
        error = str(e)
    except Exception as e:  # a bug on one rank must not leave the others waiting forever
        logger.exception("worker %d failed", worker.rank)
        error = f"worker {worker.rank} failed: {type(e).__name__}: {e}"
    gathered = distributed.gather((records, _peak_memory(device, worker.rank), error))
    distributed.finish()
    if worker.rank != 0:
        return 0
    errors = [e for _, _, e in gathered if e]
    if errors:
        raise XMemError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    report = summarize(
        [r for recs, _, _ in gathered for r in recs],
        [m for _, m, _ in gathered],
        _settings(args, dataset, device, worker.world_size),
    )
    write_report(report, args.out)
    logger.info("%s", format_report(report))
    return 0


def _check(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise XMemError("--workers must be at least 1")
    if args.predictions is not None:
        if not args.predictions.is_dir():
            raise XMemError(f"predictions folder '{args.predictions}' does not exist")
        if args.method != "xmem":
            raise XMemError("--predictions scores existing masks; it cannot be used with --method")
    if args.out.exists() and not args.out.is_dir():
        raise XMemError(f"--out '{args.out}' exists and is not a folder")


def run(args: argparse.Namespace) -> int:
    launched = distributed.worker_from_env()
    if launched is not None and launched.rank != 0:
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 speaks for all
    _check(args)
    track_options(args)  # bad options fail before any work
    sequences = [s for s in (args.sequences or "").split(",") if s]
    if len(set(sequences)) != len(sequences):
        raise XMemError("--sequences names a sequence more than once")
    dataset = load_dataset(args.dataset, args.layout, args.split, args.resolution, sequences)
    if launched is None and args.workers > 1:
        return int(distributed.launch(args.workers, run_worker, (args, dataset)))
    return run_worker(args, dataset, launched or Worker())
