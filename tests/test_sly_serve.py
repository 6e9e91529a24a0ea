"""``xmem serve`` end to end: the real network (recipe weights, full architecture) behind the
real SDK under uvicorn, driven over HTTP against the platform emulator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("supervisely")

import requests  # noqa: E402
from supervisely.geometry.bitmap import Bitmap  # noqa: E402
from supervisely.geometry.helpers import deserialize_geometry  # noqa: E402

import xmem  # noqa: E402
from tests.recipe import official_shapes, recipe_state_dict  # noqa: E402
from tests.sly_platform import SuperviselyEmulator, default_frame  # noqa: E402
from xmem.errors import ConfigError  # noqa: E402
from xmem.integrations.supervisely.options import ServeOptions  # noqa: E402
from xmem.model.network import XMem  # noqa: E402

H, W, FRAMES, VIDEO = 64, 96, 10, 7


def source_mask() -> np.ndarray:
    """The bright square of the emulator's frame 0 (side 16, top-left (21, 0)), a bit larger."""
    mask = np.zeros((H, W), bool)
    mask[19:39, 0:20] = True
    return mask


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TASK = 7701


def serve_env(emulator: SuperviselyEmulator, data: Path) -> dict[str, str]:
    """As the platform starts an app session: production mode with a task id (the SDK then
    calls ``tasks.info`` and ``tasks.data.get``), the SDK's own retry settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISELY_PUBLIC_API")}
    env.pop("DEBUG_WITH_SLY_NET", None)
    env.update(
        SERVER_ADDRESS=emulator.address,
        API_TOKEN="env-token",
        TASK_ID=str(TASK),
        ENV="production",
        SLY_APP_DATA_DIR=str(data),
        SMART_CACHE_CONTAINER_DIR=str(data / "cache"),
        SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK="1",
        OMP_NUM_THREADS="1",
    )
    return env


@pytest.fixture(scope="module")
def emulator() -> Iterator[SuperviselyEmulator]:
    with SuperviselyEmulator() as emu:
        emu.add_video(VIDEO, FRAMES, W, H)
        emu.add_task(TASK)
        emu.add_figure(
            71, VIDEO, 17, 0, "bitmap", {"bitmap": Bitmap(source_mask()).to_json()["bitmap"]}
        )
        yield emu


@pytest.fixture(scope="module")
def served(
    emulator: SuperviselyEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("serve")
    weights = folder / "recipe.pth"
    torch.save(recipe_state_dict(official_shapes()), weights)
    port = free_port()
    command = [sys.executable, "-m", "xmem", "serve", "--weights", str(weights), "--device",
               "cpu", "--size", "-1", "--min-part", "0", "--port", str(port)]  # fmt: skip
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        command, env=serve_env(emulator, folder), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 300  # generous: a loaded 2-core machine starts it slowly
        while True:
            assert process.poll() is None, (folder / "serve.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/is_ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < end, "the app did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.slow  # starts `xmem serve` in a new process
def test_served_app_tracks_exactly_like_the_engine(
    served: str, emulator: SuperviselyEmulator, recipe_net: XMem
) -> None:
    body: dict[str, Any] = {
        "context": {"trackId": "e2e", "videoId": VIDEO, "frameIndex": 0, "frames": 20,
                    "figureIds": [71]},
        "api_token": "user-token",
    }  # fmt: skip
    reply = requests.post(f"{served}/track", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    end = time.monotonic() + 120
    while not any(
        n["data"]["progress"]["current"] == n["data"]["progress"]["total"]
        for n in emulator.notifications("videos:fetch-figures-in-range")
    ):
        assert not emulator.notifications("videos:tracking-error"), emulator.notifications()
        assert time.monotonic() < end
        time.sleep(0.1)
    last = emulator.notifications("videos:fetch-figures-in-range")[-1]["data"]
    assert last["progress"] == {"current": FRAMES - 1, "total": FRAMES - 1}  # clipped to 10
    tracking = [c for c in emulator.calls() if not c.method.startswith("tasks.")]
    assert {c.api_key for c in tracking} == {"user-token"}  # start-up calls use the env token

    # the same frames through the package directly
    frames = [(i, default_frame(VIDEO, i, W, H)) for i in range(FRAMES)]
    given = xmem.ObjectMasks((1,), source_mask()[None])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the server (OMP_NUM_THREADS=1): the same arithmetic
    try:
        # prepared (batch norm folded, channels-last) as the server does by default
        results = list(xmem.track(recipe_net, frames, {0: given}, xmem.TrackOptions(size=-1)))
    finally:
        torch.set_num_threads(threads)
    expected = {r.index: r.mask == 1 for r in results}
    got = {i: np.zeros((H, W), np.uint8) for i in range(1, FRAMES)}
    for figure in emulator.created_figures():
        assert figure["objectId"] == 17 and figure["geometryType"] == "bitmap"
        deserialize_geometry("bitmap", figure["geometry"]).draw(got[figure["meta"]["frame"]], 1)
    for i in range(1, FRAMES):
        assert np.array_equal(got[i].astype(bool), expected[i]), f"frame {i} differs"
    assert any(m.any() for m in expected.values())


@pytest.mark.slow  # starts `xmem serve` in a new process
def test_served_app_answers_health_and_info(served: str, emulator: SuperviselyEmulator) -> None:
    alive = requests.get(f"{served}/is_alive", timeout=5).json()
    assert alive["running"] is True and alive["mode"] == "production"
    assert [c.body["id"] for c in emulator.calls("tasks.info")] == [TASK]
    info = requests.post(f"{served}/get_session_info", json={}, timeout=5).json()
    assert info["device"] == "cpu" and info["tracking_algorithms"] == ["xmem"]
    assert info["model"] == "recipe" and info["weights"].endswith("recipe.pth")
    assert info["precision"] == "fp32" and info["session_id"] == TASK
    log = (Path(info["weights"]).parent / "serve.log").read_text()
    assert "deployed on cuda" not in log and "recipe.pth" in log


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xmem", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # starts `xmem serve` in a new process
def test_serve_without_a_server_address_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SERVER_ADDRESS"}
    done = run_cli("--weights", str(tmp_path / "none.pth"), env=env)
    assert done.returncode == 2 and "SERVER_ADDRESS" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # starts `xmem serve` in a new process
def test_serve_with_missing_weights_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "SERVER_ADDRESS": "http://127.0.0.1:9", "SLY_APP_DATA_DIR": str(tmp_path)}
    done = run_cli("--weights", str(tmp_path / "none.pth"), env=env)
    assert done.returncode == 2 and "none.pth" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # starts `xmem serve` in a new process
@pytest.mark.parametrize(
    "flag, value",
    [("--min-part", "1.5"), ("--max-concurrent", "0"), ("--person-references", "-1")],
)
def test_serve_rejects_bad_app_options_by_their_flag(tmp_path: Path, flag: str, value: str) -> None:
    env = {**os.environ, "SERVER_ADDRESS": "http://127.0.0.1:9", "SLY_APP_DATA_DIR": str(tmp_path)}
    done = run_cli(flag, value, env=env)
    assert done.returncode == 2 and f"error: {flag} must be" in done.stderr
    assert "Traceback" not in done.stderr


def test_app_options_name_their_fields() -> None:
    with pytest.raises(ConfigError, match="min_part must be a fraction") as e:
        ServeOptions(min_part=-0.1)
    assert e.value.fields == ("min_part",)
    with pytest.raises(ConfigError, match="chunk must be at least 1"):
        ServeOptions(chunk=0)
    assert ServeOptions().min_part == 0.05
