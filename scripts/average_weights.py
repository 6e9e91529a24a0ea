"""Average the weights of several snapshots of one training run (stochastic weight averaging).

Snapshots taken after the last learning-rate drop lie in one basin; their mean is usually a
steadier model than any one of them. Every floating-point tensor is averaged; other tensors
(counters) are taken from the last snapshot. The result loads with the strict loader.

    python scripts/average_weights.py RUN/model-1000.pth RUN/model-1100.pth RUN/model-1200.pth \
        --out RUN/model-swa.pth
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from xmem.model.checkpoint import build_network, read_state_dict

logger = logging.getLogger("average_weights")


def average(paths: list[Path]) -> dict[str, torch.Tensor]:
    """The mean of the snapshots' floating-point tensors (float32), the last one's others."""
    states = [read_state_dict(p) for p in paths]
    first = states[0]
    for path, state in zip(paths[1:], states[1:], strict=True):
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise SystemExit(f"error: {path} is not a snapshot of the same model as {paths[0]}")
    out = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            out[key] = torch.stack([s[key].float() for s in states]).mean(dim=0)
        else:
            out[key] = last
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("snapshots", type=Path, nargs="+", help="model-N.pth files of one run")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(args.snapshots) < 2:
        raise SystemExit("error: give at least two snapshots")
    state = average(args.snapshots)
    build_network(state, str(args.out))  # the strict loader accepts it
    torch.save(state, args.out)
    logger.info("wrote %s: the mean of %d snapshots", args.out, len(args.snapshots))


if __name__ == "__main__":
    main()
