"""Run 6 of xmem-lite0 on a lent GPU machine (docs/model-card.md): unpack the data, time 40
iterations, train for the time left, return the kept snapshots as float16.

The machine has no PyAV: training never decodes video, so an empty stand-in package named
``av`` (carried in .carry/stub, modules whose every attribute is a dummy class) satisfies the
imports. Made here (.carry is in .git/info/exclude), once:

    mkdir -p .carry/stub/av/video
    for m in __init__ error container video/__init__ video/stream; do
        printf 'def __getattr__(name):\n    return type(name, (Exception,), {})\n' \
            > .carry/stub/av/$m.py
    done

Run from the repository root there, with the packed data in .carry/davis:

    BUDGET=545 WORKERS=15 BATCH=16 FRAMES=8 CROP=224 HARD=0.4 python3 scripts/device/train_on_gpu.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

START = time.time()
BUDGET = float(os.environ.get("BUDGET", "560"))  # seconds for all of it
OUT = Path(os.environ.get("OUT", "/tmp/out"))
DATA = Path("/tmp/davis")
DEVICE = os.environ.get("DEVICE", "cuda")
ENV = dict(os.environ, PYTHONPATH=f"{Path.cwd()}:{Path.cwd()}/.carry/stub", PYTHONUNBUFFERED="1")


def log(*parts: object) -> None:
    print(f"[{time.time() - START:6.1f}s]", *parts, flush=True)


def train_command(run: Path, iterations: int, lr_steps: int, keep: int) -> list[str]:
    e = os.environ.get
    return [
        sys.executable, "-m", "xmem", "train", "--out", str(run), "--stage", "video",
        "--init", "xmem/weights/xmem-lite0.pth", "--data", str(DATA), "--split", "train",
        "--synthetic-prob", "0.2", "--hard-case-prob", e("HARD", "0.4"),
        "--num-frames", e("FRAMES", "6"), "--crop", e("CROP", "224"),
        "--batch-size", e("BATCH", "8"), "--lr", e("LR", "1e-4"), "--backbone-lr-scale", "0.1",
        "--iterations", str(iterations), "--lr-steps", str(lr_steps), "--seed", e("SEED", "23"),
        "--freeze-backbone-bn", "--frozen-blocks", "3", "--channels-last", "--no-amp",
        "--save-every", "50", "--keep-every", str(keep), "--val-every", "0",
        "--image-every", "1000000", "--num-workers", e("WORKERS", "14"), "--log-every", "10",
        "--device", DEVICE, "--no-progress",
    ]  # fmt: skip


def watch(command: list[str], run: Path, deadline: float) -> tuple[int, dict[int, float]]:
    """Run ``command``; its exit code (-1: stopped at ``deadline``) and when each logged
    iteration appeared in the run's metrics."""
    seen: dict[int, float] = {}
    with open(OUT / f"{run.name}.log", "w") as out:
        process = subprocess.Popen(command, env=ENV, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(0.5)
            metrics = run / "metrics.jsonl"
            if metrics.exists():
                for line in metrics.read_text().splitlines():
                    seen.setdefault(json.loads(line)["iteration"], time.time())
            if time.time() > deadline:
                process.terminate()
                process.wait()
                return -1, seen
    return process.returncode, seen


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if not DATA.exists():
        unpack = [sys.executable, "scripts/device/pack_davis.py", "unpack", ".carry/davis"]
        subprocess.run([*unpack, str(DATA)], check=True)
    log("data ready")
    probe = Path("/tmp/probe")
    shutil.rmtree(probe, ignore_errors=True)
    code, seen = watch(train_command(probe, 40, 1000, 0), probe, START + 150)
    if code != 0 or 20 not in seen or 40 not in seen:
        sys.exit(f"the timing run failed ({code}): see {OUT}/probe.log")
    per_iteration = (seen[40] - seen[20]) / 20
    left = BUDGET - (time.time() - START) - 25  # start-up and conversion
    iterations = max(100, int(left / per_iteration * 0.92) // 100 * 100)
    keep = max(100, iterations // 4 // 50 * 50)
    while iterations % keep:
        iterations -= 50
    log(f"{per_iteration:.3f} s/it → {iterations} iterations, keep every {keep}")
    run = Path("/tmp/run")
    steps = int(iterations * 0.75) // 50 * 50
    code, seen = watch(train_command(run, iterations, steps, keep), run, START + BUDGET)
    log("training ended", code, "at iteration", max(seen, default=None))
    shutil.copy(run / "metrics.jsonl", OUT / "metrics.jsonl")
    snapshots = sorted(run.glob("model-*.pth"), key=lambda p: int(p.stem.split("-")[1]))
    for path in snapshots[-5:]:  # the device tool returns at most 8 files of 16 MiB
        state = torch.load(path, map_location="cpu", weights_only=True)
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        torch.save(half, OUT / f"{path.stem}.fp16.pth")
    log("returned", sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()
