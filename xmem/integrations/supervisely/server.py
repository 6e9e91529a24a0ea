"""Starting the app: environment defaults, the shared network and the per-request engine."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import torch

from xmem import Tracker, XMemError
from xmem.integrations.supervisely.app import XMemTracking
from xmem.integrations.supervisely.options import ServeOptions
from xmem.integrations.supervisely.session import Engine
from xmem.runtime.network_thread import NetworkThread, on_thread

logger = logging.getLogger(__name__)


def prepare_environment(server_address: str | None, api_token: str | None) -> None:
    """Set what the SDK reads at start-up: the platform's address (required: the app calls it
    back), the token, and a data folder when the platform gave none."""
    if server_address:
        os.environ["SERVER_ADDRESS"] = server_address
    if api_token:
        os.environ["API_TOKEN"] = api_token
    if not os.environ.get("SERVER_ADDRESS"):
        raise XMemError(
            "the Supervisely server address is unknown: set SERVER_ADDRESS or pass "
            "--server-address (e.g. http://127.0.0.1:8080 for a local instance)"
        )
    if not any(os.environ.get(k) for k in ("SLY_APP_DATA_DIR", "DEBUG_APP_DIR", "TASK_ID")):
        data = Path.home() / ".cache" / "xmem" / "supervisely"
        data.mkdir(parents=True, exist_ok=True)
        os.environ["SLY_APP_DATA_DIR"] = str(data)


def create_app(
    tracker: Tracker,
    *,
    model_name: str = "XMem",
    weights: str | None = None,
    options: ServeOptions | None = None,
    network: NetworkThread | None = None,
) -> XMemTracking:
    """The app with its routes, tracking with ``tracker`` (its network on its device, and
    the run options). ``model_name`` and ``weights`` (the checkpoint file) are reported in the
    session info and the log, with the device and precision. ``network``: the thread that
    loaded ``tracker``; every request's frames are then computed on it
    (:class:`~xmem.runtime.network_thread.NetworkThread` says why that is faster on a CPU)."""
    device = tracker.device
    precision = tracker.options.precision
    app = XMemTracking(
        tracking_engine(tracker, network),
        str(device),
        model_name=model_name,
        weights=weights,
        precision=precision,
        options=options,
    )
    app.serve()
    logger.info(
        "XMem tracking app ready: model %s (weights %s) on %s, %s%s",
        model_name,
        weights or "given in memory",
        device,
        precision,
        f", adapting {tracker.adapt_steps} steps to each request's frame"
        if tracker.adapt_steps
        else "",
    )
    return app


def tracking_engine(tracker: Tracker, network: NetworkThread | None = None) -> Engine:
    """The app's engine: ``tracker.track``, which notes in the log how far the test-time
    adaptation that starts each request has got (``adapt_steps`` > 0), advanced on
    ``network``'s thread when given."""
    engine: Engine = tracker.track
    if tracker.adapt_steps:
        engine = functools.partial(tracker.track, on_adapt=_adapt_note)
    return on_thread(network, engine) if network is not None else engine


def _adapt_note(step: int, steps: int) -> None:
    """Progress of the test-time adaptation that starts a request (--adapt N), in the log."""
    if step == 1 or step == steps or step % 10 == 0:
        logger.info("adapting to the request's frame: step %d / %d", step, steps)


def default_precision(device: torch.device) -> str:
    """fp16 autocast on CUDA (as the published app), fp32 on the CPU."""
    return "fp16" if device.type == "cuda" else "fp32"
