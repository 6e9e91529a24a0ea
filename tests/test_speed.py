"""The fast paths (xmem/inference/speed.py, the I/O overlap of xmem.track, chunked objects)
against the reference path, on the CPU and, when present, on CUDA."""

from __future__ import annotations

import copy
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import xmem
from tests.golden import SCENARIOS, run_scenario
from tests.nets import TINY, tiny_network
from tests.recipe import GOLDEN
from tests.scene import encode_video, frame, ids
from xmem.bench.compare import compare
from xmem.bench.measure import run_benchmark
from xmem.cli.main import build_parser
from xmem.errors import XMemError
from xmem.inference.speed import SpeedOptions, prepare_network, tf32
from xmem.inference.tracker import Tracker
from xmem.io.prefetch import Prefetch
from xmem.io.writer import BackgroundWriter
from xmem.model.network import XMem, object_chunks

EAGER = SpeedOptions.eager()

# -- the network: chunked objects, channels-last -----------------------------------------


def test_object_chunks_cover_every_object_once() -> None:
    assert object_chunks(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert object_chunks(5, 0) == [slice(0, 5)]
    assert object_chunks(3, 8) == [slice(0, 3)]


@pytest.mark.parametrize("deep_update", [True, False])
@torch.inference_mode()
def test_chunked_objects_compute_the_same(deep_update: bool) -> None:
    net = tiny_network(config=TINY).cpu()
    n, h, w = 5, 64, 96
    image = torch.randn(1, 3, h, w)
    kf = net.encode_key(image)
    masks = torch.rand(1, n, h, w)
    hidden = torch.randn(1, n, net.hidden_dim, h // 16, w // 16)
    readout = torch.randn(1, n, net.value_dim, h // 16, w // 16)
    feats = (kf.f16, kf.f8, kf.f4)
    ref_value, ref_hidden = net.encode_value(image, kf.f16, hidden, masks, deep_update)
    ref_seg = net.segment(feats, readout, hidden, update_hidden=deep_update)
    for chunk in (1, 2, 3):
        value, new_hidden = net.encode_value(image, kf.f16, hidden, masks, deep_update, chunk)
        torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(new_hidden, ref_hidden, rtol=1e-5, atol=1e-5)
        seg = net.segment(feats, readout, hidden, update_hidden=deep_update, chunk=chunk)
        for ours, ref in zip(seg, ref_seg, strict=True):
            torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_prepare_network_leaves_its_input_alone() -> None:
    net = tiny_network().cpu()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert prepare_network(net, EAGER) is net  # nothing to do: no copy
    fast = prepare_network(net, replace(SpeedOptions(), channels_last="all"))
    assert fast is not net
    conv = fast.decoder.pred.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.is_contiguous() for p in net.parameters())


@torch.inference_mode()
def test_channels_last_encoders_hand_nchw_features_to_the_decoder() -> None:
    net = prepare_network(tiny_network().cpu(), replace(EAGER, channels_last="encoders"))
    kf = net.encode_key(torch.randn(1, 3, 64, 96))
    assert all(f.is_contiguous() for f in (kf.f16, kf.f8, kf.f4))


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="channels_last"):
        SpeedOptions(channels_last="sometimes")
    with pytest.raises(ValueError, match="compile"):
        SpeedOptions(compile="fast")
    with pytest.raises(ValueError, match="object_chunk"):
        SpeedOptions(object_chunk=-1)


# -- TF32 ------------------------------------------------------------------------------


def test_tf32_is_scoped_and_restored() -> None:
    """The flags are settings, readable without a GPU; the context restores them."""
    matmul = torch.backends.cuda.matmul
    conv = torch.backends.cudnn.conv  # type: ignore[attr-defined]  # not in torch's stubs
    before = (matmul.fp32_precision, conv.fp32_precision)
    with tf32(True, torch.device("cuda")):
        assert (matmul.fp32_precision, conv.fp32_precision) == ("tf32", "tf32")
        with tf32(False, torch.device("cuda")):
            assert (matmul.fp32_precision, conv.fp32_precision) == ("ieee", "ieee")
        assert matmul.fp32_precision == "tf32"
    assert (matmul.fp32_precision, conv.fp32_precision) == before
    with tf32(True, torch.device("cpu")):  # nothing to do on the CPU
        assert (matmul.fp32_precision, conv.fp32_precision) == before


def test_tf32_on_a_torch_without_fp32_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch before 2.9 has only the allow_tf32 flags (the package supports torch ≥ 2.1)."""
    from types import SimpleNamespace

    matmul, cudnn = SimpleNamespace(allow_tf32=False), SimpleNamespace(allow_tf32=True)
    monkeypatch.setattr(torch.backends.cuda, "matmul", matmul)
    monkeypatch.setattr(torch.backends, "cudnn", cudnn)
    with tf32(True, torch.device("cuda")):
        assert matmul.allow_tf32 and cudnn.allow_tf32
        with tf32(False, torch.device("cuda")):
            assert not matmul.allow_tf32 and not cudnn.allow_tf32
        assert matmul.allow_tf32
    assert not matmul.allow_tf32 and cudnn.allow_tf32


# -- xmem.track: decoding thread, read-back, same masks ----------------------------------


def run_track(net: XMem, speed: SpeedOptions, frames: object) -> list[np.ndarray]:
    options = xmem.TrackOptions(size=-1, speed=speed)
    results = xmem.track(net, frames, {0: ids(0)}, options)  # type: ignore[arg-type]
    return [r.mask for r in results]


@pytest.mark.parametrize("source", ["video", "arrays"])
def test_every_speed_option_gives_the_reference_masks(
    tiny_net: XMem, tmp_path: Path, source: str
) -> None:
    frames: object = [frame(t) for t in range(12)]
    if source == "video":
        frames = encode_video(tmp_path / "v.mp4", frames)  # type: ignore[arg-type]
    reference = run_track(tiny_net, EAGER, frames)
    paths = {
        "overlap": replace(EAGER, overlap_io=True, pin_memory=True),
        "defaults": SpeedOptions(),
        "chunk-1": replace(SpeedOptions(), object_chunk=1),
    }
    for name, speed in paths.items():
        masks = run_track(tiny_net, speed, frames)  # the tracker prepares the network
        assert len(masks) == len(reference)
        agreement = np.mean([(a == b).mean() for a, b in zip(masks, reference, strict=True)])
        assert agreement >= 0.999, f"{name}: {agreement:.5f}"


@pytest.mark.parametrize("overlap", [False, True], ids=["in-line", "decoding-thread"])
def test_a_reader_reusing_its_buffer_is_safe(tiny_net: XMem, overlap: bool) -> None:
    """A reader may hand out the same array each time (cv2 style): frames read ahead (the
    look-ahead, the decoding queue) must not change when it is overwritten."""
    source = [frame(t) for t in range(8)]

    def reused() -> Iterator[tuple[int, np.ndarray]]:
        buffer = np.empty_like(source[0])
        for t, rgb in enumerate(source):
            buffer[:] = rgb
            yield t, buffer

    expected = run_track(tiny_net, EAGER, list(enumerate(source)))
    got = run_track(tiny_net, replace(EAGER, overlap_io=overlap), reused())
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_bad_frame_read_ahead_is_reported_at_its_turn(tiny_net: XMem) -> None:
    frames = [frame(t) for t in range(6)]
    frames[4] = frames[4].astype(np.float32)  # type: ignore[call-overload]
    results = xmem.track(tiny_net, frames, {0: ids(0)}, xmem.TrackOptions(size=-1))
    got = []
    with pytest.raises(ValueError, match="frame 4 must be an RGB uint8"):
        for r in results:
            got.append(r.index)
    assert got == [0, 1, 2]  # frame 3 waits for the look-ahead, which checks frame 4


# -- background threads ------------------------------------------------------------------


def test_prefetch_reraises_and_joins() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(Prefetch(produce(), 2))

    pulled: list[int] = []
    busy = threading.Event()

    def slow() -> Iterator[int]:
        for i in range(100):
            pulled.append(i)
            busy.set()
            time.sleep(0.02)
            yield i

    feed = Prefetch(slow(), 3, join=True)
    assert next(iter(feed)) == 0
    busy.wait()
    feed.close()  # returns once the producer has stopped
    count = len(pulled)
    time.sleep(0.1)
    assert len(pulled) == count <= 1 + 3 + 2


def test_background_writer_runs_every_job_and_reports_errors() -> None:
    done: list[int] = []
    lock = threading.Lock()

    def job(i: int) -> None:
        time.sleep(0.005)
        with lock:
            done.append(i)

    with BackgroundWriter(workers=2, depth=3) as writer:
        for i in range(20):
            writer.submit(job, i)
    assert sorted(done) == list(range(20))

    def fail(i: int) -> None:
        raise OSError(f"disk full at {i}")

    with pytest.raises(OSError, match="disk full"), BackgroundWriter(depth=2) as writer:
        for i in range(10):
            writer.submit(fail, i)

    inline: list[str] = []
    with BackgroundWriter(enabled=False) as writer:
        writer.submit(lambda: inline.append(threading.current_thread().name))
    assert inline == [threading.current_thread().name]


# -- torch.compile (CPU inductor: slow to compile, so one short run) --------------------


@pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None,
    reason="torch.compile on the CPU needs a C++ compiler",
)
@pytest.mark.slow  # torch.compile
def test_compiled_network_gives_the_reference_masks(tiny_net: XMem) -> None:
    frames = [frame(t) for t in range(6)]
    reference = run_track(tiny_net, EAGER, frames)
    speed = replace(SpeedOptions(), compile="default")
    masks = run_track(tiny_net, speed, frames)
    agreement = np.mean([(a == b).mean() for a, b in zip(masks, reference, strict=True)])
    assert agreement >= 0.999


# -- options of the commands -------------------------------------------------------------


def test_speed_options_of_the_commands() -> None:
    from xmem.cli.options import speed_options

    parser = build_parser()
    base = ["in.mp4", "-m", "m.png", "-o", "out"]
    assert speed_options(parser.parse_args(["track", *base])) == SpeedOptions()
    assert speed_options(parser.parse_args(["track", *base, "--eager"])) == EAGER
    args = parser.parse_args(
        [
            "track",
            *base,
            "--no-fold-bn",
            "--channels-last",
            "all",
            "--compile",
            "reduce-overhead",
            "--no-tf32",
            "--no-pin-memory",
            "--no-overlap-io",
            "--object-chunk",
            "4",
        ]
    )
    assert speed_options(args) == SpeedOptions(
        fold_bn=False,
        channels_last="all",
        compile="reduce-overhead",
        tf32=False,
        pin_memory=False,
        overlap_io=False,
        object_chunk=4,
    )
    with pytest.raises(XMemError, match="--object-chunk"):
        speed_options(parser.parse_args(["track", *base, "--object-chunk", "-1"]))
    for command in (["eval", "data", "--out", "run"], ["serve"], ["benchmark"]):
        args = parser.parse_args([*command, "--eager"])
        assert speed_options(args) == EAGER


# -- side by side ------------------------------------------------------------------------


def test_side_by_side_benchmark(tiny_net: XMem) -> None:
    common = dict(frames=6, height=64, width=96, objects=2, warmup=1, progress=False)
    eager = Tracker(tiny_net, xmem.TrackOptions(size=-1, speed=EAGER))
    baseline = run_benchmark(eager, keep_masks=True, **common)  # type: ignore[arg-type]
    fast = run_benchmark(
        Tracker(tiny_net, xmem.TrackOptions(size=-1)),
        keep_masks=True,
        stage_times=False,
        **common,  # type: ignore[arg-type]
    )
    assert baseline.masks is not None and len(baseline.masks) == 6
    result = compare(baseline, fast)
    assert result["speedup"] == pytest.approx(fast.summary["fps"] / baseline.summary["fps"], 1e-2)
    assert result["mask_agreement"]["min"] >= 0.99
    assert set(fast.records[-1].stages) == {"other"}  # whole frames only
    assert sum(r.seconds for r in fast.records) > 0


# -- CUDA (marked gpu: skipped without a GPU) ----------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("compile_mode", ["off", "reduce-overhead"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cuda_fast_paths_on_the_golden_scenarios(
    recipe_net: XMem, name: str, precision: str, compile_mode: str
) -> None:
    speed = replace(SpeedOptions(), channels_last="all", compile=compile_mode)
    net = prepare_network(copy.deepcopy(recipe_net).to("cuda"), speed)
    prob, _ = run_scenario(net, name, speed, precision=precision)
    ref = np.load(GOLDEN / f"video_{name}.npz")
    agreement = (prob.argmax(1) == ref["argmax"]).mean()
    assert agreement >= 0.995, f"argmax agreement {agreement:.5f}"


@pytest.mark.gpu
def test_cuda_track_with_pinned_read_back_matches_the_cpu(tiny_net: XMem) -> None:
    frames = [frame(t) for t in range(12)]
    reference = run_track(copy.deepcopy(tiny_net).cpu(), EAGER, frames)
    speed = SpeedOptions()
    masks = run_track(copy.deepcopy(tiny_net).to("cuda"), speed, frames)
    agreement = np.mean([(a == b).mean() for a, b in zip(masks, reference, strict=True)])
    assert agreement >= 0.995
