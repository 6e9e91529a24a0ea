"""Gap filling on a dataset (issue 24): with the first and last frames given, J&F of the
forward pass alone, the backward pass alone, and their merge (``xmem track --fill``).

Both passes are run once per sequence (:func:`xmem.inference.fill.fill_gap` returns them with
the merge); frames are scored as ``xmem eval`` scores them (neither the first nor the last):

    python scripts/fill_eval.py ../shared/data/davis2016 --split dev --adapt 0
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from tqdm import tqdm

from xmem.data import load_dataset
from xmem.eval.metrics import frame_scores
from xmem.inference.fill import fill_gap
from xmem.inference.options import TrackOptions
from xmem.inference.tracker import Tracker
from xmem.io.frames import open_frames
from xmem.model.weights import from_pretrained

WAYS = ("forward", "backward", "merged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--weights", default="xmem-lite0")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--adapt", type=int, default=None, help="default: the model's own")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tracker = Tracker(
        from_pretrained(args.weights), TrackOptions(size=args.size, adapt_steps=args.adapt)
    )
    dataset = load_dataset(args.dataset, split=args.split)
    table: dict[str, dict[str, float]] = {}
    for seq in tqdm(dataset.sequences, desc="sequences"):
        first, last = 0, len(seq) - 1
        truth = [seq.annotation(t)[0] for t in range(len(seq))]
        objects = [int(i) for i in np.unique(truth[first]) if i != 0]
        js: dict[str, list[float]] = {w: [] for w in WAYS}
        fs: dict[str, list[float]] = {w: [] for w in WAYS}
        with open_frames(seq.frames) as source:
            for f in fill_gap(tracker, source, first, last, truth[first], truth[last]):
                if f.forward is None or f.backward is None:
                    continue  # a keyframe
                for way, pred in zip(WAYS, (f.forward, f.backward, f.result.mask), strict=True):
                    j, fm = frame_scores(truth[f.result.index], pred, objects)
                    js[way].extend(j.tolist())
                    fs[way].extend(fm.tolist())
        table[seq.name] = {w: 50 * (np.mean(js[w]) + np.mean(fs[w])) for w in WAYS}
    print(f"| sequence | {' | '.join(WAYS)} |")
    print(f"|---|{'---|' * len(WAYS)}")
    for name, row in table.items():
        print(f"| {name} | {' | '.join(f'{row[w]:.1f}' for w in WAYS)} |")
    means = {w: np.mean([row[w] for row in table.values()]) for w in WAYS}
    print(f"| **mean** | {' | '.join(f'**{means[w]:.1f}**' for w in WAYS)} |")


if __name__ == "__main__":
    main()
