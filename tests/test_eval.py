"""``xmem eval`` end to end on tiny generated datasets in every layout, sharded runs, bad input."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.nets import tiny_network
from tests.scene import N, frame, ids
from xmem.cli.main import main
from xmem.data import detect_layout, load_dataset
from xmem.eval.report import GLOBAL_COLUMNS
from xmem.io.masks import default_palette
from xmem.runtime.distributed import Worker, launch, shard

pytestmark = pytest.mark.usefixtures("one_thread")


# -- datasets ----------------------------------------------------------------------------


def save_png(path: Path, mask: np.ndarray, palette: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:
        img = Image.fromarray(mask, mode="P")
        img.putpalette(default_palette())
    else:
        img = Image.fromarray((mask > 0).astype(np.uint8) * 255, mode="L")
    img.save(path)


def save_frames(folder: Path, n: int = N) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        Image.fromarray(frame(t)).save(folder / f"{t:05d}.jpg", quality=95)


def make_davis(root: Path) -> Path:
    """'one': one object as 0/255 masks; 'two': two objects in a palette, a void strip."""
    for seq in ("one", "two"):
        save_frames(root / "JPEGImages" / "480p" / seq)
        for t in range(N):
            if seq == "one":
                save_png(root / "Annotations/480p/one" / f"{t:05d}.png", ids(t, 1), palette=False)
            else:
                mask = ids(t, 1, 2)
                mask[:, -3:] = 255  # void
                save_png(root / "Annotations/480p/two" / f"{t:05d}.png", mask)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("one\ntwo\n")
    return root


def make_youtube(root: Path, meta: bool = True) -> Path:
    """Annotations on even frames only; object 2 appears on frame 4."""
    save_frames(root / "JPEGImages" / "vid")
    for t in range(0, N, 2):
        save_png(root / "Annotations" / "vid" / f"{t:05d}.png", ids(t, 1, 2) if t >= 4 else ids(t))
    if meta:
        even = [f"{t:05d}" for t in range(0, N, 2)]
        objects = {
            "1": {"category": "a", "frames": even},
            "2": {"category": "b", "frames": even[2:]},
        }
        (root / "meta.json").write_text(json.dumps({"videos": {"vid": {"objects": objects}}}))
    return root


def make_generic(root: Path) -> Path:
    save_frames(root / "clip" / "images")
    for t in range(N):
        save_png(root / "clip" / "masks" / f"{t:05d}.png", ids(t, 1))
    return root


@dataclass(frozen=True)
class Data:
    davis: Path
    youtube: Path
    generic: Path
    weights: Path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    root = tmp_path_factory.mktemp("eval_data")
    weights = root / "tiny.pth"
    torch.save(tiny_network().state_dict(), weights)
    return Data(
        make_davis(root / "davis"),
        make_youtube(root / "youtube"),
        make_generic(root / "generic"),
        weights,
    )


# -- running the CLI ---------------------------------------------------------------------


@dataclass
class Result:
    code: int
    errors: list[str]
    output: str


def xmem_eval(caplog: pytest.LogCaptureFixture, *args: object) -> Result:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        code = main(["eval", "--no-progress", *map(str, args)])
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    return Result(code, errors, caplog.text)


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def per_object(run: Path) -> dict[str, dict]:
    return {
        f"{r['sequence']}_{o}": v
        for r in results(run)["sequences"]
        for o, v in r["per_object"].items()
    }


# copy-first J by hand: object 1 moves 3 px right per frame, object 2 2 px left; two 16×16
# squares offset by d overlap on 16-d columns, so J = (16 - d) / (16 + d) while d < 16.
def j_shift(d: int) -> float:
    return max(0, 16 - d) / (16 + d) if d < 16 else 0.0


# -- layouts -----------------------------------------------------------------------------


def test_layouts_are_detected(data: Data, tmp_path: Path) -> None:
    assert detect_layout(data.davis) == "davis"
    assert detect_layout(data.youtube) == "youtube"
    assert detect_layout(data.generic) == "generic"
    davis = load_dataset(data.davis, split="val")
    assert [s.name for s in davis.sequences] == ["one", "two"]
    assert davis.sequences[1].objects == (1, 2)  # void (255) is not an object
    assert davis.sequences[0].scored_frames(1) == list(range(1, N - 1))
    yt = load_dataset(data.youtube).sequences[0]
    assert yt.given == {0: (1,), 4: (2,)}
    assert yt.scored_frames(2) == [6, 8, 10]
    # without meta.json the first appearances come from the masks themselves
    no_meta = make_youtube(tmp_path / "yt", meta=False)
    assert load_dataset(no_meta, layout="youtube").sequences[0].given == {0: (1,), 4: (2,)}


def test_copy_first_on_davis_matches_hand_computed_j(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    r = xmem_eval(caplog, data.davis, "--split", "val", "--method", "copy-first", "--out", run)
    assert r.code == 0, r.errors
    objs = per_object(run)
    frames = range(1, N - 1)  # first and last excluded
    expect_1 = np.mean([j_shift(3 * t) for t in frames])
    expect_2 = np.mean([j_shift(2 * t) for t in frames])
    assert objs["one_1"]["J"]["mean"] == pytest.approx(expect_1)
    assert objs["two_1"]["J"]["mean"] == pytest.approx(expect_1)
    assert objs["two_2"]["J"]["mean"] == pytest.approx(expect_2)
    assert objs["one_1"]["frames"] == N - 2
    # recall: frames with J > 0.5 (t = 1 only for object 1)
    assert objs["one_1"]["J"]["recall"] == pytest.approx(1 / (N - 2))
    summary = results(run)["summary"]
    assert summary["J-Mean"] == pytest.approx(np.mean([expect_1, expect_1, expect_2]))
    assert summary["J&F-Mean"] == pytest.approx((summary["J-Mean"] + summary["F-Mean"]) / 2)
    # predictions in the DAVIS results layout, the records, the official CSV files
    assert sorted(p.name for p in (run / "predictions" / "two").iterdir()) == [
        f"{t:05d}.png" for t in range(N)
    ]
    assert (run / "sequences" / "one.json").is_file()
    header = (run / "global_results.csv").read_text().splitlines()[0].split(",")
    assert tuple(header[:7]) == GLOBAL_COLUMNS
    rows = (run / "per-object_results.csv").read_text().splitlines()
    assert rows[0] == "Sequence,J-Mean,F-Mean" and rows[1].startswith("one_1,")
    assert "J&F-Mean" in r.output and "two" in r.output


def test_ground_truth_as_predictions_scores_100(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r = xmem_eval(
        caplog,
        data.davis,
        "--split",
        "val",
        "--predictions",
        data.davis / "Annotations" / "480p",
        "--out",
        tmp_path / "gt",
    )
    assert r.code == 0, r.errors
    s = results(tmp_path / "gt")["summary"]
    assert s["J&F-Mean"] == pytest.approx(1.0) and s["J-Decay"] == pytest.approx(0.0)
    assert s["fps"] is None  # nothing was tracked


def test_youtube_layout_objects_appear_later(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "yt"
    r = xmem_eval(caplog, data.youtube, "--method", "copy-first", "--out", run)
    assert r.code == 0, r.errors
    objs = per_object(run)
    # scored on annotated frames after the object is given, the last one included
    assert objs["vid_1"]["J"]["mean"] == pytest.approx(
        np.mean([j_shift(3 * t) for t in (2, 4, 6, 8, 10)])
    )
    assert objs["vid_2"]["J"]["mean"] == pytest.approx(
        np.mean([j_shift(2 * (t - 4)) for t in (6, 8, 10)])
    )
    pred = run / "predictions" / "Annotations" / "vid"  # the YouTube-VOS submission layout
    assert len(list(pred.iterdir())) == N
    first = np.asarray(Image.open(pred / "00000.png"))
    assert set(np.unique(first)) == {0, 1}  # object 2 is not given yet


def test_generic_layout_with_xmem(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "generic"
    r = xmem_eval(caplog, data.generic, "--weights", data.weights, "--out", run, "--size", "-1")
    assert r.code == 0, r.errors
    rec = results(run)["sequences"][0]
    assert rec["sequence"] == "clip" and rec["fps"] > 0 and rec["frames"] == N
    assert 0 <= rec["J"] <= 1 and 0 <= rec["F"] <= 1
    assert results(run)["summary"]["peak_rss_mb"] > 50
    assert results(run)["settings"]["inference"]["top_k"] == 30


def test_resume_skips_done_sequences(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    args = (data.davis, "--split", "val", "--weights", data.weights, "--size", "-1", "--out", run)
    assert xmem_eval(caplog, *args).code == 0
    record = run / "sequences" / "one.json"
    mask = run / "predictions" / "one" / "00005.png"
    stamp = mask.stat().st_mtime_ns
    edited = json.loads(record.read_text())
    edited["J"] = 0.125  # a marker: a resumed sequence keeps its record
    record.write_text(json.dumps(edited))
    assert xmem_eval(caplog, *args).code == 0
    again = {r["sequence"]: r for r in results(run)["sequences"]}
    assert again["one"]["resumed"] and again["one"]["J"] == 0.125
    assert mask.stat().st_mtime_ns == stamp
    assert xmem_eval(caplog, *args, "--restart").code == 0
    assert {r["sequence"]: r for r in results(run)["sequences"]}["one"]["J"] != 0.125


# -- sharding ----------------------------------------------------------------------------


def test_shard_balances_frames() -> None:
    lengths = [100, 10, 60, 50, 40, 30]
    shards = shard(lengths, 2)
    assert sorted(i for s in shards for i in s) == list(range(6))
    assert sorted(sum(lengths[i] for i in s) for s in shards) == [140, 150]
    assert shard([5], 3) == [[0], [], []]


def test_two_workers_give_the_same_report(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    base = (data.davis, "--split", "val", "--method", "copy-first")
    assert xmem_eval(caplog, *base, "--out", one).code == 0
    r = xmem_eval(caplog, *base, "--out", two, "--workers", "2")
    assert r.code == 0, r.errors
    assert per_object(one) == per_object(two)
    assert {rec["worker"] for rec in results(two)["sequences"]} == {0, 1}
    assert len(results(two)["workers"]) == 2


@pytest.mark.slow
def test_two_workers_track_with_xmem(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    args = (
        data.davis,
        "--split",
        "val",
        "--weights",
        data.weights,
        "--size",
        "-1",
        "--workers",
        "2",
    )
    r = xmem_eval(caplog, *args, "--out", run)
    assert r.code == 0, r.errors
    report = results(run)
    assert {rec["worker"] for rec in report["sequences"]} == {0, 1}
    assert report["summary"]["fps"] > 0 and report["summary"]["objects"] == 3


@pytest.mark.slow
def test_torchrun_two_processes(data: Data, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["-m", "xmem", "eval", str(data.davis), "--split", "val", "--method", "copy-first"]
    cmd += ["--out", str(run), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {rec["worker"] for rec in results(run)["sequences"]} == {0, 1}
    assert proc.stderr.count("J&F-Mean") == 1  # one report, from rank 0


# -- bad input ---------------------------------------------------------------------------


def test_not_a_dataset(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "stuff").mkdir()
    r = xmem_eval(caplog, tmp_path, "--out", tmp_path / "run")
    assert r.code == 2 and "not a dataset in a supported layout" in r.errors[0]
    r = xmem_eval(caplog, tmp_path / "missing", "--out", tmp_path / "run")
    assert r.code == 2 and "does not exist" in r.errors[0]


def test_annotation_without_frame(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_generic(tmp_path / "g")
    (root / "clip" / "images" / "00003.jpg").unlink()
    r = xmem_eval(caplog, root, "--method", "copy-first", "--out", tmp_path / "run")
    assert r.code == 2 and len(r.errors) == 1
    assert "'clip'" in r.errors[0] and "00003.png" in r.errors[0] and "has no frame" in r.errors[0]


def test_missing_ground_truth_in_davis(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_davis(tmp_path / "d")
    (root / "Annotations/480p/two/00004.png").unlink()
    r = xmem_eval(caplog, root, "--split", "val", "--method", "copy-first", "--out", tmp_path / "r")
    assert r.code == 2 and "'two'" in r.errors[0] and "00004.png" in r.errors[0]


def test_prediction_size_mismatch(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    preds = tmp_path / "preds"
    for seq, size in (("one", (10, 10)), ("two", ids(0).shape)):
        for t in range(N):
            save_png(preds / seq / f"{t:05d}.png", np.zeros(size, np.uint8))
    r = xmem_eval(caplog, data.davis, "--split", "val", "--predictions", preds, "--out", tmp_path)
    assert r.code == 2 and "'one'" in r.errors[0] and "10×10" in r.errors[0]
    (preds / "two" / "00003.png").unlink()
    r = xmem_eval(
        caplog, data.davis, "--sequences", "two", "--predictions", preds, "--out", tmp_path
    )
    assert r.code == 2 and "no prediction for frame '00003'" in r.errors[0]


def test_duplicate_and_unknown_sequences(
    data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    split = tmp_path / "split.txt"
    split.write_text("one\ntwo\none\n")
    r = xmem_eval(caplog, data.davis, "--split", split, "--out", tmp_path / "r")
    assert r.code == 2 and "one" in r.errors[0] and "more than once" in r.errors[0]
    r = xmem_eval(caplog, data.davis, "--sequences", "one,nope", "--out", tmp_path / "r")
    assert r.code == 2 and "'nope'" in r.errors[0]
    r = xmem_eval(caplog, data.davis, "--split", "test-dev", "--out", tmp_path / "r")
    assert r.code == 2 and "test-dev" in r.errors[0]


def test_bad_options(data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    r = xmem_eval(caplog, data.davis, "--workers", "0", "--out", tmp_path / "r")
    assert r.code == 2 and "--workers" in r.errors[0]
    r = xmem_eval(caplog, data.davis, "--predictions", tmp_path / "nope", "--out", tmp_path / "r")
    assert r.code == 2 and "does not exist" in r.errors[0]
    r = xmem_eval(caplog, data.davis, "--top-k", "0", "--out", tmp_path / "r")
    assert r.code == 2 and "--top-k" in r.errors[0]


def test_youtube_meta_names_missing_first_annotation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_youtube(tmp_path / "yt")
    (root / "Annotations" / "vid" / "00004.png").unlink()
    r = xmem_eval(caplog, root, "--method", "copy-first", "--out", tmp_path / "r")
    assert r.code == 2 and "'vid'" in r.errors[0] and "00004" in r.errors[0]


def _rank0_fails(seconds: float, worker: Worker, init_method: str) -> int:
    """Rank 0 fails at once; the others wait (as on a collective rank 0 never joins)."""
    if worker.rank == 0:
        raise RuntimeError("rank 0 failed")
    time.sleep(seconds)
    return 0


def test_launch_ends_the_other_ranks_when_rank_0_fails() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="rank 0 failed"):
        launch(2, _rank0_fails, (60.0,))
    assert time.monotonic() - started < 30
