"""``xmem benchmark`` and its parts: the synthetic video, the measurements, JSON, plot, CLI."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.nets import tiny_network
from xmem.bench.measure import run_benchmark
from xmem.bench.plot import plot_benchmark
from xmem.bench.records import OTHER, BenchmarkResult, write_json
from xmem.cli.main import main
from xmem.data.synthetic import (
    SyntheticVideo,
    synthetic_first_mask,
    synthetic_frames,
    write_synthetic_video,
)
from xmem.inference.config import InferenceConfig
from xmem.inference.options import TrackOptions
from xmem.inference.speed import SpeedOptions
from xmem.inference.timing import STAGES
from xmem.inference.tracker import Tracker
from xmem.model.network import random_network
from xmem.runtime.machine import current_rss_mb

pytestmark = pytest.mark.usefixtures("one_thread")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N, H, W, OBJECTS = 12, 64, 96, 2


# -- the synthetic video -----------------------------------------------------------------


def test_synthetic_frames_are_deterministic_and_lazy() -> None:
    frames = synthetic_frames(N, H, W, OBJECTS, seed=3)
    assert not isinstance(frames, list | tuple)  # a generator: nothing held for the video
    first = list(frames)
    again = list(synthetic_frames(N, H, W, OBJECTS, seed=3))
    other = list(synthetic_frames(N, H, W, OBJECTS, seed=4))
    assert len(first) == N
    assert all(f.dtype == np.uint8 and f.shape == (H, W, 3) for f in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], first[-1])  # things move


@pytest.mark.parametrize(("h", "w", "n"), [(H, W, 2), (16, 16, 255), (120, 214, 7), (480, 32, 9)])
def test_every_object_is_in_the_first_mask(h: int, w: int, n: int) -> None:
    mask = synthetic_first_mask(h, w, n)
    assert mask.dtype == np.uint8 and mask.shape == (h, w)
    assert set(np.unique(mask).tolist()) == set(range(n + 1))


def test_objects_move_smoothly_and_stay_in_the_frame() -> None:
    video = SyntheticVideo(H, W, OBJECTS, seed=1)
    centres = []
    for t in range(200):
        ids = video.ids(t)
        assert ids.max() <= OBJECTS
        ys, xs = np.nonzero(ids == OBJECTS)  # drawn last: never hidden
        centres.append((ys.mean(), xs.mean()))
    steps = np.abs(np.diff(np.array(centres), axis=0))
    assert steps.max() < 0.05 * max(H, W) + 1  # small steps, also when bouncing
    assert steps.sum() > 0.2 * max(H, W)  # but they do move


def test_masks_match_the_frames() -> None:
    """The object's texture is where its id is: ground truth and pixels agree."""
    video = SyntheticVideo(H, W, 1, seed=2)
    rgb, ids = video.render(7)
    np.testing.assert_array_equal(rgb, video.frame(7))
    np.testing.assert_array_equal(ids, video.ids(7))
    background = SyntheticVideo(H, W, 1, seed=2)._background
    changed = (rgb != background).any(axis=2)
    assert changed[ids == 0].sum() == 0
    assert changed[ids == 1].mean() > 0.9


def test_write_synthetic_video(tmp_path: Path) -> None:
    path = write_synthetic_video(tmp_path / "s.mp4", 5, H, W, OBJECTS)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (H, W, 3)
    # lossy, but close to the generated frames
    expected = next(iter(synthetic_frames(1, H, W, OBJECTS)))
    assert np.abs(frames[0].astype(int) - expected).mean() < 8
    with pytest.raises(ValueError, match="even"):
        write_synthetic_video(tmp_path / "odd.mp4", 2, H + 1, W, OBJECTS)


# -- run_benchmark -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkResult:
    workdir = tmp_path_factory.mktemp("bench")
    out = run_benchmark(
        Tracker(tiny_network(), TrackOptions(InferenceConfig(mem_every=3), size=-1)),
        frames=N,
        height=H,
        width=W,
        objects=OBJECTS,
        warmup=2,
        model="tiny",
        progress=False,
        workdir=workdir,
    )
    assert list(workdir.iterdir()) == []  # the temporary video is gone
    return out


def test_one_record_per_frame(result: BenchmarkResult) -> None:
    assert [r.index for r in result.records] == list(range(N))
    for r in result.records:
        assert set(r.stages) == {*STAGES, OTHER}
        assert all(v >= 0 for v in r.stages.values())
        assert sum(r.stages.values()) == pytest.approx(r.seconds, rel=1e-6, abs=1e-6)
        assert r.rss_mb is not None and r.rss_mb > 0
        assert r.cuda_mb is None or r.cuda_mb > 0
    totals = {s: sum(r.stages[s] for r in result.records) for s in STAGES}
    for stage in ("io", "key_encoder", "memory_read", "decoder", "value_encoder"):
        assert totals[stage] > 0, stage
    # frame 0 is encoded (value encoder), not decoded; frame 1 is decoded
    assert result.records[0].stages["decoder"] == 0 < result.records[1].stages["decoder"]


def test_summary(result: BenchmarkResult) -> None:
    s = result.summary
    assert s["frames"] == N and s["warmup"] == 2 and s["objects_tracked"] == OBJECTS
    steady = result.records[2:]
    assert s["fps"] == pytest.approx(len(steady) / sum(r.seconds for r in steady), rel=1e-3)
    assert s["fps_overall"] == pytest.approx(N / sum(r.seconds for r in result.records), rel=1e-3)
    assert set(s["ms_per_stage"]) == {*STAGES, OTHER}
    mean_ms = 1000 * sum(r.stages["decoder"] for r in steady) / len(steady)
    assert s["ms_per_stage"]["decoder"] == pytest.approx(mean_ms, abs=1e-3)
    assert s["peak_rss_mb"] >= s["rss_mb"]["max"] > 0
    assert s["ms_per_frame"]["max"] >= s["ms_per_frame"]["median"] > 0
    if result.configuration["device"] == "cpu":
        assert s["peak_cuda_mb"] is None and s["cuda_mb"] is None
    else:
        assert s["peak_cuda_mb"] > 0


def test_json_has_the_documented_keys(result: BenchmarkResult, tmp_path: Path) -> None:
    write_json(result, tmp_path / "b.json")
    data = json.loads((tmp_path / "b.json").read_text())
    assert set(data) == {"summary", "machine", "configuration", "frames"}
    assert {
        "frames",
        "warmup",
        "seconds",
        "fps",
        "fps_overall",
        "ms_per_frame",
        "ms_per_stage",
        "rss_mb",
        "peak_rss_mb",
        "cuda_mb",
        "peak_cuda_mb",
        "objects_tracked",
        "rss_before_mb",
        "video_write_seconds",
        "video_open_seconds",
    } <= set(data["summary"])
    assert {"cpu", "cores", "torch_threads", "torch", "device", "device_name", "date"} <= set(
        data["machine"]
    )
    c = data["configuration"]
    assert c["model"] == "tiny" and c["model_config"]["key_dim"] == 16
    assert (c["frames"], c["height"], c["width"], c["objects"]) == (N, H, W, OBJECTS)
    assert c["processing_size"] == [H, W] and c["inference"]["mem_every"] == 3
    assert len(data["frames"]) == N
    assert set(data["frames"][0]) == {"index", "seconds", "stages", "rss_mb", "cuda_mb"}
    assert data["machine"]["date"].startswith("20")
    back = BenchmarkResult.from_json(data)  # e.g. to plot a saved run again
    assert back.summary == result.summary and len(back.records) == N
    assert back.records[3].stages["decoder"] == pytest.approx(
        result.records[3].stages["decoder"], abs=1e-6
    )


def test_plot_is_a_png(result: BenchmarkResult, tmp_path: Path) -> None:
    path = tmp_path / "b.png"
    plot_benchmark(result, path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 600 and img.height >= 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png"]  # nothing left over


def test_plot_without_matplotlib(
    result: BenchmarkResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from xmem.errors import XMemError

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(XMemError, match=r"pip install 'xmem\[plot\]'"):
        plot_benchmark(result, tmp_path / "b.png")
    assert not (tmp_path / "b.png").exists()


def test_rss_is_readable() -> None:
    rss = current_rss_mb()
    assert rss is not None and 1 < rss < 1e6


def test_random_network_is_seeded_and_leaves_the_global_seed_alone() -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = random_network("xmem-no-sensory", seed=1)
    after = torch.rand(3)
    b = random_network("xmem-no-sensory", seed=1)
    assert torch.equal(after, expected)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not a.training and a.hidden_dim == 0


# -- the command line --------------------------------------------------------------------


@dataclass
class Result:
    code: int
    errors: list[str]
    output: str


def xmem(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture, *args: object) -> Result:
    caplog.clear()
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        code = main(["benchmark", *map(str, args)])
    captured = capsys.readouterr()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    return Result(code, errors, captured.out + captured.err + caplog.text)


def test_cli_writes_json_and_plot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    r = xmem(
        caplog,
        capsys,
        "--model",
        "xmem-no-sensory",
        "--frames",
        "6",
        "--height",
        H,
        "--width",
        W,
        "--size",
        "-1",
        "--warmup",
        "2",
        "--device",
        "cpu",
        "--json",
        tmp_path / "b.json",
        "--plot",
        tmp_path / "b.png",
    )
    assert r.code == 0, r.output
    assert r.errors == []
    assert "frames/s" in r.output and "peak RSS" in r.output and "decoder" in r.output
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["summary"]["frames"] == 6 and data["summary"]["warmup"] == 2
    assert data["configuration"]["model"] == (
        "xmem-no-sensory (random weights), batch norm folded, channels-last encoders"
    )
    assert data["configuration"]["speed"] == dataclasses.asdict(SpeedOptions())
    assert data["configuration"]["model_config"]["hidden_dim"] == 0
    assert (tmp_path / "b.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.png"]


def test_cli_with_a_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    import torch

    torch.save(tiny_network().state_dict(), tmp_path / "tiny.pth")
    r = xmem(
        caplog,
        capsys,
        "--weights",
        tmp_path / "tiny.pth",
        "--frames",
        "3",
        "--height",
        "32",
        "--width",
        "48",
        "--objects",
        "3",
        "--size",
        "-1",
        "--json",
        tmp_path / "b.json",
    )
    assert r.code == 0, r.output
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["configuration"]["model_config"]["key_dim"] == 16
    assert data["summary"]["objects_tracked"] == 3


BAD_ARGS: dict[str, tuple[list[str], str]] = {
    "frames-0": (["--frames", "0"], "--frames"),
    "objects-0": (["--objects", "0"], "--objects"),
    "objects-256": (["--objects", "256"], "--objects"),
    "height-8": (["--height", "8"], "--height"),
    "odd-width": (["--width", "97"], "--width"),
    "warmup-negative": (["--warmup", "-1"], "--warmup"),
    "size-0": (["--size", "0"], "--size"),
    "unknown-model": (["--model", "resnet9000"], "xmem-no-sensory"),
    "model-and-weights": (["--model", "xmem", "--weights", "XMem"], "not both"),
    "plot-suffix": (["--plot", "{tmp}/b.jpg"], ".png"),
    "json-suffix": (["--json", "{tmp}/b.txt"], ".json"),
    "plot-folder-missing": (["--plot", "{tmp}/no/such/b.png"], "does not exist"),
    "json-folder-missing": (["--json", "{tmp}/no/such/b.json"], "does not exist"),
    "json-is-a-folder": (["--json", "{tmp}/d.json"], "folder"),
    "unknown-device": (["--device", "tpu9"], "tpu9"),
    "bad-inference-option": (["--mem-every", "0"], "mem-every"),
}


@pytest.mark.parametrize("name", BAD_ARGS)
def test_cli_bad_arguments(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "d.json").mkdir()
    args, expected = BAD_ARGS[name]
    args = [a.format(tmp=tmp_path) for a in args]
    r = xmem(caplog, capsys, "--frames", "2", "--height", "32", "--width", "48", *args)
    assert r.code == 2, r.output
    assert len(r.errors) == 1 and "\n" not in r.errors[0], r.output
    assert r.errors[0].startswith("error: ") and expected in r.errors[0]
    assert "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json"]  # nothing written
