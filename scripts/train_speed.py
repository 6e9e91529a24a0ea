"""Seconds per training iteration (forward and backward of one batch of clips) per model.

    python scripts/train_speed.py --models xmem-compact,xmem-lite0 --frozen-blocks 0,3

Random weights and random clips: the cost does not depend on them. Run it on an idle CPU.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from xmem.model.network import MODELS
from xmem.train.config import StageConfig
from xmem.train.trainer import ClipModel, build_network

logger = logging.getLogger("train_speed")


def seconds_per_iteration(
    model: str, frozen_blocks: int, channels_last: bool, args: argparse.Namespace
) -> list[float]:
    """The network as ``xmem train`` sets it up (batch-norm statistics frozen), random data."""
    config = StageConfig(
        stage="synthetic",
        model=model,
        freeze_backbone_bn=True,
        frozen_blocks=frozen_blocks,
        channels_last=channels_last,
        num_frames=args.num_frames,
        crop=args.crop,
    )
    clips = ClipModel(build_network(config, torch.device("cpu")), config).train()
    b, t, k, s = args.batch_size, args.num_frames, args.objects, args.crop
    rgb = torch.randn(b, t, 3, s, s)
    masks = (torch.rand(b, t, k, s, s) > 0.5).float()
    valid = torch.ones(b, k, dtype=torch.bool)
    times = []
    for i in range(args.repeats):
        start = time.perf_counter()
        out = clips(rgb, masks, valid, torch.Generator().manual_seed(i))
        sum(logits.mean() for logits in out.logits).backward()  # type: ignore[union-attr]
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default="xmem-compact,xmem-lite0")
    p.add_argument("--frozen-blocks", default="0,3", help="values to try (Lite models only)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--num-frames", type=int, default=5)
    p.add_argument("--objects", type=int, default=3)
    p.add_argument("--crop", type=int, default=176)
    p.add_argument("--repeats", type=int, default=4, help="the first is left out as warm-up")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for model in args.models.split(","):
        lite = MODELS[model].key_backbone.startswith("efficientnet")
        for frozen in [int(v) for v in args.frozen_blocks.split(",")] if lite else [0]:
            for channels_last in (False, True):
                times = seconds_per_iteration(model, frozen, channels_last, args)
                steady = times[1:] or times
                logger.info(
                    "%s frozen-blocks %d channels-last %s: %.2f s/iteration (%s)",
                    model, frozen, channels_last, sum(steady) / len(steady),
                    ", ".join(f"{x:.2f}" for x in times),
                )  # fmt: skip


if __name__ == "__main__":
    main()
