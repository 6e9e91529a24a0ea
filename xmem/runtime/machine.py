"""Facts about this machine and process that measured figures depend on."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import sys
from typing import Any

import numpy as np
import torch


def current_rss_mb() -> float | None:
    """Resident set size of this process now, in MB (1 MB = 2**20 bytes).

    Read from ``/proc/self/statm`` (Linux); elsewhere the peak so far (``getrusage``), and
    None where neither is available.
    """
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        return peak_rss_mb()


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process since it started, in MB, or None."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_facts(device: torch.device) -> dict[str, Any]:
    """What the figures depend on: processor, threads, library versions, device, date, and
    the load average (other work on the machine slows the figures down)."""
    facts: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": _cpu_model(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    with contextlib.suppress(OSError, AttributeError):  # not on Windows
        facts["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if device.type == "cuda":
        facts["device_name"] = torch.cuda.get_device_name(device)
        facts["cuda"] = torch.version.cuda
        facts["cuda_memory_mb"] = round(
            torch.cuda.get_device_properties(device).total_memory / 2**20
        )
    return facts
