"""How close the network's stages come to the CPU's float32 compute limit (docs/benchmark.md).

The limit is the best rate of a large float32 matrix product on this machine (``torch.mm`` with
all of torch's threads). Each stage's work is counted with ``torch.utils.flop_counter`` (a
multiply-add is 2 FLOP) on one 480p frame with one object, and timed over a few repetitions.

    python scripts/cpu_efficiency.py --model xmem
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from xmem.model.fuse import fold_batchnorm
from xmem.model.network import MODELS, XMem

logger = logging.getLogger("cpu_efficiency")


def _best_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_gflops(n: int = 4096, repeat: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / _best_seconds(lambda: a @ b, repeat) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="xmem", choices=sorted(MODELS))
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=864, help="a multiple of 16 (854 pads to 864)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    torch.manual_seed(0)
    cfg = MODELS[args.model]
    net = fold_batchnorm(XMem(cfg).eval())
    image = torch.randn(1, 3, args.height, args.width)
    h16, w16 = args.height // 16, args.width // 16
    readout = torch.randn(1, 1, cfg.value_dim, h16, w16)
    hidden = torch.zeros(1, 1, cfg.hidden_dim, h16, w16)
    masks = torch.rand(1, 1, args.height, args.width)
    with torch.inference_mode():
        kf = net.encode_key(image)
        stages: dict[str, Callable[[], object]] = {
            "key encoder": lambda: net.encode_key(image),
            "decoder": lambda: net.segment((kf.f16, kf.f8, kf.f4), readout, hidden, True),
            "value encoder": lambda: net.encode_value(image, kf.f16, hidden, masks, True),
        }
        peak = gemm_gflops()
        logger.info(
            "float32 matrix product: %.1f GFLOP/s (%d threads)", peak, torch.get_num_threads()
        )
        for name, fn in stages.items():
            with FlopCounterMode(display=False) as counter:
                fn()
            gflop = counter.get_total_flops() / 1e9
            seconds = _best_seconds(fn, args.repeat)
            rate = gflop / seconds
            logger.info(
                "%-13s %6.1f GFLOP in %6.3f s: %6.1f GFLOP/s, %3.0f%% of the limit",
                name,
                gflop,
                seconds,
                rate,
                100 * rate / peak,
            )


if __name__ == "__main__":
    main()
