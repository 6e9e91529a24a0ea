"""Make the bundled default weights (xmem/weights/xmem-lite0.pth) from a training run.

The network's floating-point tensors are stored as float16 (half the size; the loader copies them
into the float32 network), then the file is loaded back with the package's strict loader and its
outputs on a random clip are compared with the float32 source.

    python scripts/bundle_weights.py runs/s3/model.pth [--model xmem-lite0]
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from xmem import track
from xmem.model.checkpoint import build_network, read_state_dict
from xmem.model.network import MODELS, XMem
from xmem.model.weights import BUNDLED_DEFAULT, BUNDLED_DIR, WEIGHTS

logger = logging.getLogger("bundle_weights")
MAX_BYTES = 25 * 2**20
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample"


def _masks(network: XMem) -> np.ndarray:
    first = np.array(Image.open(SAMPLE / "masks" / "00000.png"))
    return np.stack([r.mask for r in track(network, SAMPLE / "video.mp4", {0: first})])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="model.pth or checkpoint.pth of a training run")
    p.add_argument(
        "--model",
        default=BUNDLED_DEFAULT,
        choices=[i.name for i in WEIGHTS.values() if i.bundled],
        help="which bundled model it is (default: %(default)s)",
    )
    p.add_argument("--out", type=Path, help="default: xmem/weights/MODEL.pth")
    args = p.parse_args()
    out = args.out or BUNDLED_DIR / WEIGHTS[args.model].filename
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    state = read_state_dict(args.source)
    network = build_network(state, str(args.source)).eval()
    if network.config != MODELS[args.model]:
        raise SystemExit(f"error: {args.source} is not an {args.model} model")
    half = {k: v.half() if v.is_floating_point() else v for k, v in network.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(half, tmp)
    size = tmp.stat().st_size
    if size > MAX_BYTES:
        tmp.unlink()
        raise SystemExit(f"error: the weights take {size / 2**20:.1f} MB, over the 25 MB limit")
    os.replace(tmp, out)

    # the float16 file through the strict loader tracks the sample clip like the float32 source
    reloaded = build_network(read_state_dict(out), str(out)).eval()
    agree = (_masks(network) == _masks(reloaded)).mean()
    logger.info(
        "wrote %s: %.1f MB; sample clip masks agree with float32 on %.4f%% of pixels",
        out,
        size / 2**20,
        100 * agree,
    )


if __name__ == "__main__":
    main()
