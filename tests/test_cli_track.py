"""``xmem track`` end to end, in-process: outputs, options, and clean failures on bad input."""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from tests.nets import tiny_network
from tests.scene import H, N, W, encode_video, frame, ids
from xmem.cli.main import main
from xmem.inference.quality import COLUMNS
from xmem.io.frames import open_frames
from xmem.io.overlay import render_overlay

# an input palette that is not the default DAVIS one, to check that outputs keep it
PALETTE = [0, 0, 0, 10, 200, 30, 250, 20, 160, 40, 40, 240] + [0] * (768 - 12)


pytestmark = pytest.mark.usefixtures("one_thread")


# -- inputs ------------------------------------------------------------------------------


def save_mask(path: Path, mask: np.ndarray) -> Path:
    img = Image.fromarray(mask, mode="P")
    img.putpalette(PALETTE)
    img.save(path)
    return path


def save_jpgs(folder: Path, n: int = N) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        Image.fromarray(frame(t)).save(folder / f"{t:05d}.jpg", quality=95)
    return folder


@dataclass(frozen=True)
class Inputs:
    root: Path
    weights: Path
    video: Path
    first_mask: Path  # palette PNG for frame 0 of the video
    last_mask: Path  # palette PNG named like the video's last frame
    jpgs: Path  # folder of N jpg frames
    masks: Path  # folder: 00000.png (object 1), 00005.png (only object 2)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("cli_inputs")
    weights = root / "tiny.pth"
    torch.save(tiny_network().state_dict(), weights)
    video = encode_video(root / "clip.mp4", [frame(t) for t in range(N)])
    first_mask = save_mask(root / "first.png", ids(0, 1))
    (root / "last").mkdir()
    last_mask = save_mask(root / "last" / f"{N - 1:05d}.png", ids(N - 1, 1))
    jpgs = save_jpgs(root / "jpgs")
    masks = root / "masks"
    masks.mkdir()
    save_mask(masks / "00000.png", ids(0, 1))
    save_mask(masks / "00005.png", ids(5, 2))
    return Inputs(root, weights, video, first_mask, last_mask, jpgs, masks)


# -- running the CLI ---------------------------------------------------------------------


@dataclass
class Result:
    code: int
    errors: list[str]
    output: str  # stdout + stderr + every log line


def xmem(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture, *args: object) -> Result:
    caplog.clear()
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        code = main(["track", *map(str, args)])
    captured = capsys.readouterr()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    return Result(code, errors, captured.out + captured.err + caplog.text)


def read_ids(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "P"
        return np.asarray(img)


def decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def count_video_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def check_masks(out: Path, names: list[str]) -> list[np.ndarray]:
    """One palette PNG per frame, named like the frames, frame-sized, input palette kept."""
    assert sorted(p.name for p in out.iterdir()) == [f"{n}.png" for n in names]
    masks = []
    for name in names:
        with Image.open(out / f"{name}.png") as img:
            assert img.mode == "P" and img.size == (W, H)
            palette = img.getpalette()
            assert palette is not None and palette[:12] == PALETTE[:12]
            masks.append(np.asarray(img))
    return masks


def video_names(n: int = N) -> list[str]:
    return [f"{t:05d}" for t in range(n)]


# -- successful runs ---------------------------------------------------------------------


def test_video_with_first_frame_mask_and_overlay(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out, overlay = tmp_path / "out", tmp_path / "overlay.mp4"
    r = xmem(
        caplog,
        capsys,
        inputs.video,
        "--masks",
        inputs.first_mask,
        "--out",
        out,
        "--overlay",
        overlay,
        "--weights",
        inputs.weights,
        "--device",
        "cpu",
        "--size",
        "-1",
    )
    assert r.code == 0, r.output
    assert r.errors == []
    masks = check_masks(out, video_names())
    np.testing.assert_array_equal(masks[0], ids(0, 1))
    assert all((m == 1).any() for m in masks)
    assert count_video_frames(overlay) == N
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "overlay.mp4"]  # no leftovers
    # encoded while tracking from the tracker's own frames: the same video as one rendered
    # afterwards from the written masks
    rendered = tmp_path / "rendered.mp4"
    with open_frames(inputs.video) as source:
        render_overlay(source, [out / f"{n}.png" for n in video_names()], rendered)
    assert decoded(overlay).shape == (N, H, W, 3)
    np.testing.assert_array_equal(decoded(overlay), decoded(rendered))


def test_every_option_together(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    r = xmem(
        caplog,
        capsys,
        inputs.video,
        "-m",
        inputs.first_mask,
        "-o",
        out,
        "--overlay",
        tmp_path / "o.mkv",
        "--weights",
        inputs.weights,
        "--top-k",
        "5",
        "--mem-every",
        "2",
        "--deep-update-every",
        "3",
        "--min-mid-term-frames",
        "2",
        "--max-mid-term-frames",
        "3",
        "--num-prototypes",
        "4",
        "--max-long-term-elements",
        "20",
        "--device",
        "cpu",
        "--precision",
        "bf16",
        "--size",
        "48",
        "--flip",
    )
    assert r.code == 0, r.output
    masks = check_masks(out, video_names())
    assert all((m == 1).any() for m in masks)
    assert count_video_frames(tmp_path / "o.mkv") == N


def test_fill_and_report(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    """--fill keeps both annotated frames exactly; --report has a row per frame and object."""
    out, report = tmp_path / "out", tmp_path / "drift.csv"
    r = xmem(caplog, capsys, inputs.jpgs, "-m", inputs.masks, "--out", out, "--fill",
             "--report", report, "--weights", inputs.weights, "--size", "-1")  # fmt: skip
    assert r.code == 0, r.output
    masks = check_masks(out, video_names())
    assert np.array_equal(masks[0], ids(0, 1)) and np.array_equal(masks[5], ids(5, 2))
    assert "suspect frames" in r.output and "wrote drift report" in r.output
    with report.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(COLUMNS)
    assert [int(row["frame"]) for row in rows] == sorted(int(row["frame"]) for row in rows)
    seen = {(int(row["frame"]), int(row["object_id"])) for row in rows}
    # with --fill each annotated frame is whole: object 1 (only on frame 0) ends before frame 5
    assert {(t, 1) for t in range(5)} <= seen and (5, 1) not in seen
    assert {(t, 2) for t in range(1, N)} <= seen
    for row in rows:
        assert 0 <= float(row["score"]) <= 1 and row["suspect"] in ("0", "1")
        assert row["name"] == f"{int(row['frame']):05d}"


def test_disable_long_term(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    r = xmem(
        caplog,
        capsys,
        inputs.video,
        "-m",
        inputs.first_mask,
        "-o",
        out,
        "--weights",
        inputs.weights,
        "--disable-long-term",
        "--mem-every",
        "1",
        "--size",
        "32",
    )
    assert r.code == 0, r.output
    assert all((m == 1).any() for m in check_masks(out, video_names()))


def test_reverse_from_a_mask_named_like_the_last_frame(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    r = xmem(
        caplog,
        capsys,
        inputs.video,
        "-m",
        inputs.last_mask,
        "-o",
        out,
        "--weights",
        inputs.weights,
        "--reverse",
        "--size",
        "-1",
        "--overlay",
        tmp_path / "rev.mp4",
    )
    assert r.code == 0, r.output
    masks = check_masks(out, video_names())
    np.testing.assert_array_equal(masks[-1], ids(N - 1, 1))
    assert all((m == 1).any() for m in masks)
    assert count_video_frames(tmp_path / "rev.mp4") == N


def test_jpg_folder_with_youtube_vos_masks(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    r = xmem(
        caplog,
        capsys,
        inputs.jpgs,
        "-m",
        inputs.masks,
        "-o",
        out,
        "--weights",
        inputs.weights,
        "--size",
        "-1",
    )
    assert r.code == 0, r.output
    masks = check_masks(out, video_names())
    for t, m in enumerate(masks):
        present = set(np.unique(m).tolist())
        assert 1 in present, f"object 1 missing at frame {t}"
        if t < 5:
            assert 2 not in present
        else:
            assert 2 in present, f"object 2 missing at frame {t}"
    np.testing.assert_array_equal(masks[5] == 2, ids(5, 2) == 2)


def test_existing_out_folder_keeps_other_files(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = xmem(
        caplog,
        capsys,
        inputs.video,
        "-m",
        inputs.first_mask,
        "-o",
        out,
        "--weights",
        inputs.weights,
        "--size",
        "-1",
    )
    assert r.code == 0, r.output
    assert (out / "notes.txt").read_text() == "keep me"
    assert len(list(out.glob("*.png"))) == N


# -- bad input ---------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for folders)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def assert_failed_cleanly(r: Result) -> None:
    assert r.code != 0
    assert len(r.errors) == 1, r.output
    assert "\n" not in r.errors[0]
    assert r.errors[0].startswith("error: ")
    assert "Traceback" not in r.output


def jpg_bytes(t: int) -> bytes:
    buffer = BytesIO()
    Image.fromarray(frame(t)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


# Each case builds, in the test's own folder, the arguments of a run that must fail.
# run_bad adds --out and --overlay (which must stay unwritten), and --weights (the tiny
# checkpoint), --device cpu and --size -1 unless the case gives them.
Case = Callable[[Inputs, Path], list[object]]


def _mask_of_wrong_size(i: Inputs, d: Path) -> list[object]:
    return [i.video, "-m", save_mask(d / "small.png", ids(0, 1, shape=(H // 2, W // 2)))]


def _empty_first_mask(i: Inputs, d: Path) -> list[object]:
    return [i.video, "-m", save_mask(d / "empty.png", np.zeros((H, W), np.uint8))]


def _garbage_jpg(i: Inputs, d: Path) -> list[object]:
    frames = shutil.copytree(i.jpgs, d / "frames")
    (frames / "00004.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    return [frames, "-m", i.masks]


def _truncated_jpg_mid_run(i: Inputs, d: Path) -> list[object]:
    frames = shutil.copytree(i.jpgs, d / "frames")
    data = jpg_bytes(6)
    (frames / "00006.jpg").write_bytes(data[: len(data) // 2])
    return [frames, "-m", i.masks]


def _truncated_video(i: Inputs, d: Path) -> list[object]:
    data = i.video.read_bytes()
    (d / "cut.mp4").write_bytes(data[: len(data) // 2])
    return [d / "cut.mp4", "-m", i.first_mask]


def _frames_of_different_sizes(i: Inputs, d: Path) -> list[object]:
    frames = shutil.copytree(i.jpgs, d / "frames")
    Image.fromarray(frame(3)[:, : W // 2]).save(frames / "00003.jpg")
    return [frames, "-m", i.masks]


def _stray_file(i: Inputs, d: Path) -> list[object]:
    frames = shutil.copytree(i.jpgs, d / "frames")
    (frames / "notes.txt").write_text("shot on a Tuesday")
    return [frames, "-m", i.masks]


def _text_checkpoint(i: Inputs, d: Path) -> list[object]:
    (d / "weights.pth").write_text("not a checkpoint\n")
    return [i.video, "-m", i.first_mask, "--weights", d / "weights.pth"]


def _foreign_checkpoint(i: Inputs, d: Path) -> list[object]:
    torch.save({"foo": torch.zeros(3)}, d / "foo.pth")
    return [i.video, "-m", i.first_mask, "--weights", d / "foo.pth"]


def _unknown_weights_name(i: Inputs, d: Path) -> list[object]:
    return [i.video, "-m", i.first_mask, "--weights", "NoSuchModel"]


def _options(*options: object) -> Case:
    return lambda i, d: [i.video, "-m", i.first_mask, *options]


def _missing_input(i: Inputs, d: Path) -> list[object]:
    return [d / "no-such-video.mp4", "-m", i.first_mask]


def _missing_masks(i: Inputs, d: Path) -> list[object]:
    return [i.video, "-m", d / "no-such-masks"]


BAD_INPUTS: dict[str, Case] = {
    "mask-size": _mask_of_wrong_size,
    "empty-first-mask": _empty_first_mask,
    "garbage-jpg": _garbage_jpg,
    "truncated-jpg-mid-run": _truncated_jpg_mid_run,
    "truncated-video": _truncated_video,
    "frames-of-different-sizes": _frames_of_different_sizes,
    "stray-file": _stray_file,
    "text-checkpoint": _text_checkpoint,
    "foreign-checkpoint": _foreign_checkpoint,
    "unknown-weights-name": _unknown_weights_name,
    "mem-every-0": _options("--mem-every", "0"),
    "min-above-max-mid-term": _options("--min-mid-term-frames", "10", "--max-mid-term-frames", "5"),
    "size-0": _options("--size", "0"),
    "size-below-minus-1": _options("--size", "-2"),
    "unknown-device": _options("--device", "tpu9"),
    "overlay-not-a-video": lambda i, d: [i.video, "-m", i.first_mask, "--overlay", d / "o.gif"],
    "missing-input": _missing_input,
    "fill-with-one-annotated-frame": lambda i, d: [i.video, "-m", i.first_mask, "--fill"],
    "fill-and-reverse": lambda i, d: [i.video, "-m", i.masks, "--fill", "--reverse"],
    "missing-masks": _missing_masks,
}


def run_bad(
    case: Case,
    inputs: Inputs,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
    out: Path | None = None,
    overlay: Path | None = None,
) -> Result:
    args = case(inputs, tmp_path)
    if "--weights" not in args:
        args += ["--weights", inputs.weights]
    out = out or tmp_path / "out"
    if "--overlay" not in args:
        args += ["--overlay", overlay or tmp_path / "overlay.mp4"]
    if "--device" not in args:
        args += ["--device", "cpu"]
    if "--size" not in args:
        args += ["--size", "-1"]
    before, inputs_before = snapshot(tmp_path), snapshot(inputs.root)
    r = xmem(caplog, capsys, *args, "--out", out)
    assert_failed_cleanly(r)
    assert snapshot(tmp_path) == before, "a failed run left files behind"
    assert snapshot(inputs.root) == inputs_before
    return r


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_fails_cleanly(
    name: str,
    inputs: Inputs,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
) -> None:
    run_bad(BAD_INPUTS[name], inputs, tmp_path, caplog, capsys)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("overlap", [False, True], ids=["in-line", "overlapped"])
def test_truncated_jpg_is_reported_mid_run(
    inputs: Inputs,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    overlap: bool,
) -> None:
    import xmem.cli.track as cli_track

    written: list[str] = []
    write_mask = cli_track.write_mask

    def spy(path: Path, *args: object) -> None:
        write_mask(path, *args)  # type: ignore[arg-type]
        written.append(Path(path).name)

    def case(inputs: Inputs, tmp_path: Path) -> list:
        return _truncated_jpg_mid_run(inputs, tmp_path) + ([] if overlap else ["--no-overlap-io"])

    monkeypatch.setattr(cli_track, "write_mask", spy)
    r = run_bad(case, inputs, tmp_path, caplog, capsys)
    assert "00006.jpg" in r.errors[0] and "truncated" in r.errors[0]
    # masks were staged before the bad frame was reached (frame 5 waits for the one-frame
    # look-ahead that decodes frame 6), then removed with the staging folder
    before = [f"{t:05d}.png" for t in range(5)]
    if overlap:  # writer threads: jobs not started when the error came are dropped
        assert set(written) <= set(before)
    else:
        assert written == before


def test_failed_run_keeps_existing_out_folder(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "00000.png").write_bytes(b"an older result")
    for case in (_truncated_jpg_mid_run, _foreign_checkpoint, _mask_of_wrong_size):
        run_bad(case, inputs, tmp_path, caplog, capsys, out=out)
        assert sorted(p.name for p in out.iterdir()) == ["00000.png", "notes.txt"]
        assert (out / "00000.png").read_bytes() == b"an older result"
        shutil.rmtree(tmp_path / "frames", ignore_errors=True)


def test_out_folder_below_a_regular_file(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("I am not a folder")
    r = run_bad(_options(), inputs, tmp_path, caplog, capsys, out=tmp_path / "a-file" / "out")
    assert "a-file" in r.errors[0]


def test_overlay_below_a_regular_file(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    """Known only when the overlay is written: the masks must not be left behind either."""
    (tmp_path / "a-file").write_text("I am not a folder")
    overlay = tmp_path / "a-file" / "overlay.mp4"
    r = run_bad(_options(), inputs, tmp_path, caplog, capsys, overlay=overlay)
    assert "a-file" in r.errors[0]
    assert not (tmp_path / "out").exists()


def test_cuda_without_cuda(
    inputs: Inputs,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The opposite of a gpu test: a machine without CUDA, also simulated where there is one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = [inputs.video, "-m", inputs.first_mask, "--weights", inputs.weights]
    before = snapshot(tmp_path)
    r = xmem(caplog, capsys, *args, "--out", tmp_path / "out", "--device", "cuda")
    assert_failed_cleanly(r)
    assert "CUDA" in r.errors[0]
    assert snapshot(tmp_path) == before


def test_overlay_inside_the_out_folder(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    args = [inputs.video, "-m", inputs.first_mask, "--weights", inputs.weights, "--size", "-1"]
    r = xmem(caplog, capsys, *args, "-o", out, "--overlay", out / "overlay.mp4")
    assert r.code == 0, r.output
    assert count_video_frames(out / "overlay.mp4") == N
    (out / "overlay.mp4").unlink()
    check_masks(out, video_names())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_with_overlay_inside_a_new_out_folder(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "new" / "out"
    run_bad(
        _truncated_jpg_mid_run, inputs, tmp_path, caplog, capsys, out=out, overlay=out / "o.mp4"
    )
    assert not (tmp_path / "new").exists()


def test_help_explains_adaptation_and_flip(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["track", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--adapt N", "--flip, --no-flip", "--max-size"):
        assert option in text
    assert "test-time adaptation (--adapt N):" in text and "test-time flip (--flip" in text
