"""Shared pieces of the GUI tests: a tiny clip and network, the server on a thread, the CLI."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from PIL import Image

from tests.nets import tiny_network
from tests.scene import H, W, encode_video, frame, ids
from xmem.cli.main import build_parser, main
from xmem.cli.options import load_tracker
from xmem.gui.jobs import Tracker
from xmem.gui.workspace import Workspace
from xmem.io.masks import write_mask

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

SIZE = 64  # the clip's own size: fast, and the same for the GUI and `xmem track`
N = 8  # frames of the clip (tests/scene.py's first 8)


@dataclass(frozen=True)
class Inputs:
    root: Path
    weights: Path
    video: Path
    first_mask: Path  # object 1 on frame 0, as a palette PNG


def make_inputs(root: Path) -> Inputs:
    root.mkdir(parents=True, exist_ok=True)
    weights = root / "tiny.pth"
    torch.save(tiny_network().state_dict(), weights)
    video = encode_video(root / "clip.mp4", [frame(t) for t in range(N)])
    first = root / "first" / "00000.png"
    first.parent.mkdir()
    write_mask(first, ids(0, 1))
    return Inputs(root, weights, video, first)


def gui_args(weights: Path, *extra: str) -> object:
    return build_parser().parse_args(
        ["gui", "--weights", str(weights), "--size", str(SIZE), "--device", "cpu", *extra]
    )


def make_tracker(weights: Path) -> Tracker:
    """The network and options exactly as `xmem gui --weights W --size 64` builds them."""
    tracker = load_tracker(gui_args(weights), torch.device("cpu"))  # type: ignore[arg-type]
    assert tracker.options.size == SIZE and tracker.options.precision == "fp32"
    return tracker


def cli_track(inputs: Inputs, masks: Path, out: Path, *extra: str) -> list[np.ndarray]:
    """`xmem track` on the clip; the masks of every frame."""
    code = main(
        [
            "track",
            str(inputs.video),
            "--masks",
            str(masks),
            "--out",
            str(out),
            "--weights",
            str(inputs.weights),
            "--size",
            str(SIZE),
            "--device",
            "cpu",
            *extra,
        ]
    )
    assert code == 0
    return [read_ids(out / f"{t:05d}.png") for t in range(N)]


def read_ids(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "P", f"{path} is not a palette PNG"
        return np.asarray(img).copy()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(workspace: Workspace, token: str | None = None) -> Iterator[str]:
    """The GUI's app under uvicorn on a thread; yields its URL."""
    import uvicorn

    from xmem.gui.server import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(workspace, token), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        workspace.close()


def wait_job(workspace: Workspace, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = workspace.job_status()
        if not status.running:
            return status.__dict__
        assert time.monotonic() < deadline, f"job still running: {status}"
        time.sleep(0.02)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll ``check`` until it holds; a regression fails here instead of hanging the suite."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still waiting after {timeout:.0f} s: {what}"
        time.sleep(0.01)


def slow_tracking(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make every tracked frame take ``seconds`` longer (Tracker.track waits before each
    result), so that a test can act while a job runs."""
    real = Tracker.track

    def slow(*args: object, **kwargs: object) -> Iterator[object]:
        for result in real(*args, **kwargs):  # type: ignore[arg-type]
            time.sleep(seconds)
            yield result

    monkeypatch.setattr(Tracker, "track", slow)


# -- the HTTP API through a TestClient ----------------------------------------------------


def open_clip(client: TestClient, inputs: Inputs, root: Path) -> dict:
    r = client.post("/api/open", json={"source": str(inputs.video), "project": str(root)})
    assert r.status_code == 200, r.text
    return r.json()["project"]


def put_mask(client: TestClient, index: int, mask: np.ndarray) -> None:
    r = client.put(f"/api/annotation/{index}", content=mask.astype(np.uint8).tobytes())
    assert r.status_code == 200, r.text


def get_mask(client: TestClient, index: int) -> tuple[np.ndarray, bool]:
    r = client.get(f"/api/mask/{index}")
    assert r.status_code == 200
    return np.frombuffer(r.content, np.uint8).reshape(H, W), r.headers["X-XMem-Human"] == "1"


def run_job(client: TestClient, workspace: Workspace, path: str, body: dict) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    status = wait_job(workspace)
    assert not status["error"], status["message"]
    return status
