"""Sharding work (an evaluation's sequences, training's batches) over processes or GPUs.

Either ``torchrun --nproc_per_node N -m xmem eval …`` starts the processes, or ``--workers N``
spawns N-1 more here (:func:`launch`; this process is rank 0). Each process takes a share of
the sequences balanced by frame count, and the per-sequence results are gathered on rank 0
(gloo on CPU, nccl on GPU), which writes the one report.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)

# Ranks wait for each other only once, at the end; a shard may take hours on a CPU.
TIMEOUT = timedelta(hours=48)


@dataclass(frozen=True)
class Worker:
    """This process's place among the evaluation's processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1


def worker_from_env() -> Worker | None:
    """The worker described by torchrun's environment variables, or None without them."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    world = int(os.environ["WORLD_SIZE"])
    return Worker(
        rank=int(os.environ["RANK"]),
        world_size=world,
        local_rank=int(os.environ.get("LOCAL_RANK", os.environ["RANK"])),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", world)),
    )


def shard(lengths: Sequence[int], world_size: int) -> list[list[int]]:
    """Split item indices into ``world_size`` shards with balanced total length (longest first,
    each to the lightest shard); each shard keeps its items in their original order."""
    loads = [0] * world_size
    shards: list[list[int]] = [[] for _ in range(world_size)]
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        target = min(range(world_size), key=lambda r: (loads[r], r))
        shards[target].append(i)
        loads[target] += lengths[i]
    return [sorted(s) for s in shards]


def init(worker: Worker, device: torch.device, init_method: str | None = None) -> None:
    """Join the process group (nccl for CUDA, gloo otherwise); a no-op for one process.

    ``init_method`` defaults to torchrun's environment variables ("env://").
    """
    if worker.world_size == 1 or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        init_method=init_method or "env://",
        rank=worker.rank,
        world_size=worker.world_size,
        timeout=TIMEOUT,
    )
    logger.debug("rank %d/%d joined (%s)", worker.rank, worker.world_size, backend)


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def finish() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_device(device: torch.device, worker: Worker) -> torch.device:
    """``device`` for this worker: a bare "cuda" becomes ``cuda:<local rank>`` (one GPU each)."""
    if device.type == "cuda" and device.index is None and worker.world_size > 1:
        return torch.device("cuda", worker.local_rank % torch.cuda.device_count())
    return device


def launch(n: int, target: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Run ``target(*args, worker, init_method)`` on ``n`` processes: this one is rank 0 and
    the others are spawned here. Returns rank 0's result once every process has ended; if
    rank 0 fails, the others are terminated."""
    children, init_method, unwatch = _spawn(n, target, args)
    try:
        return target(*args, Worker(0, n, 0, n), init_method)
    except BaseException:
        unwatch.set()
        for child in children:  # they may wait on a collective rank 0 will never join
            child.terminate()
        raise
    finally:
        for child in children:
            child.join()


def _child(
    target: Callable[..., Any], worker: Worker, init_method: str, args: tuple[Any, ...]
) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # rank 0 speaks for all
    raise SystemExit(target(*args, worker, init_method))


def _spawn(
    n: int, target: Callable[..., Any], args: tuple[Any, ...]
) -> tuple[list[mp.process.BaseProcess], str, threading.Event]:
    """Start ranks 1..n-1 running ``target(*args, worker, init_method)``. Returns the processes,
    the ``init_method`` for :func:`init`, and an event that stops the watchdog.

    The watchdog ends this process if a worker dies (its results would never arrive).
    """
    init_method = f"tcp://127.0.0.1:{free_port()}"
    ctx = mp.get_context("spawn")
    children: list[mp.process.BaseProcess] = [
        ctx.Process(target=_child, args=(target, Worker(r, n, r, n), init_method, args))
        for r in range(1, n)
    ]
    for child in children:
        child.daemon = True
        child.start()

    unwatch = threading.Event()

    def watch() -> None:
        while not unwatch.is_set():
            codes = [c.exitcode for c in children]
            failed = [(c.pid, code) for c, code in zip(children, codes, strict=True) if code]
            if failed and not unwatch.is_set():
                pid, code = failed[0]
                logger.error("error: worker process %s died (exit code %s)", pid, code)
                os._exit(1)
            if all(code == 0 for code in codes):
                return
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    return children, init_method, unwatch
