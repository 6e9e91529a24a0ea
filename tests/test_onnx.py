"""ONNX export (`xmem weights onnx`) and the ONNX backend: graphs, manifest, parity with
PyTorch per stage and on whole videos, the command line, and the onnxruntime-only example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import xmem  # noqa: E402
from tests.golden import SCENARIOS, run_scenario  # noqa: E402
from tests.recipe import GOLDEN  # noqa: E402
from xmem.cli.main import main  # noqa: E402
from xmem.errors import XMemError  # noqa: E402
from xmem.io.frames import open_frames  # noqa: E402
from xmem.io.masks import read_mask  # noqa: E402
from xmem.model.network import XMem  # noqa: E402
from xmem.model.onnx_export import MANIFEST, TOLERANCE, export_onnx, stage_differences  # noqa: E402
from xmem.model.onnx_network import OnnxXMem, read_manifest  # noqa: E402
from xmem.model.weights import from_pretrained  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample"
FIRST = SAMPLE / "masks" / "00000.png"


@pytest.fixture(scope="module")
def lite0_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model exported by the command line, as a user would."""
    out = tmp_path_factory.mktemp("onnx") / "lite0"
    assert main(["weights", "onnx", "xmem-lite0", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def golden_export(recipe_net: XMem, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official architecture (with the golden recipe weights) exported."""
    out = tmp_path_factory.mktemp("onnx") / "golden"
    export_onnx(recipe_net, out, model="xmem")
    return out


def test_the_manifest_describes_the_graphs(lite0_export: Path) -> None:
    manifest = read_manifest(lite0_export)  # checks every hash
    assert manifest["model"] == "xmem-lite0" and manifest["default_size"] == 240
    assert manifest["default_flip"] is True
    assert manifest["opset"] >= 18 and manifest["precision"] == "fp32"
    assert manifest["source"]["file"] == "xmem-lite0.pth"
    assert set(manifest["graphs"]) == {"key_encoder", "value_encoder", "decoder"}
    assert manifest["graphs"]["decoder"]["inputs"] == ["f16", "f8", "f4", "readout", "hidden"]
    for name, measured in manifest["tolerances"].items():
        assert measured["relative"] <= measured["bound_relative"] == TOLERANCE, name


def test_a_changed_graph_or_no_manifest_is_refused(lite0_export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in lite0_export.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    data = bytearray((copy / "decoder.onnx").read_bytes())
    data[-1] ^= 1
    (copy / "decoder.onnx").write_bytes(bytes(data))
    with pytest.raises(XMemError, match="decoder graph .* does not match its manifest"):
        OnnxXMem(copy)
    (copy / MANIFEST).unlink()
    with pytest.raises(XMemError, match="is not an ONNX export"):
        OnnxXMem(copy)


def test_each_stage_matches_pytorch_at_another_size_and_object_count(lite0_export: Path) -> None:
    """Dynamic axes: the graphs were traced at 96×128 with 2 objects."""
    onnx = OnnxXMem(lite0_export)
    net = from_pretrained("xmem-lite0")
    from xmem.model.fuse import fold_batchnorm

    folded = fold_batchnorm(net)
    for size, objects in (((64, 64), 1), ((144, 208), 5)):
        differences = stage_differences(
            folded, lambda g, feed: onnx.sessions[g].run(None, feed), size, objects
        )
        for name, d in differences.items():
            assert d["relative"] <= TOLERANCE, (name, size, objects, d)


def test_the_sample_clip_tracked_by_both_backends(lite0_export: Path) -> None:
    annotations = {0: read_mask(FIRST).ids}
    options = xmem.TrackOptions(adapt_steps=0)
    video = SAMPLE / "video.mp4"
    torch_masks = [
        r.mask for r in xmem.track(from_pretrained("xmem-lite0"), video, annotations, options)
    ]
    onnx_masks = [r.mask for r in xmem.track(OnnxXMem(lite0_export), video, annotations, options)]
    assert len(onnx_masks) == len(torch_masks) == 60
    agreement = np.mean([(a == b).mean() for a, b in zip(torch_masks, onnx_masks, strict=True)])
    assert agreement >= 0.999, agreement


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_golden_scenarios_by_the_onnx_graphs(golden_export: Path, name: str) -> None:
    """The original code's outputs, with the memory in our engine and the stages in ONNX."""
    ref = np.load(GOLDEN / f"video_{name}.npz")
    prob, _ = run_scenario(OnnxXMem(golden_export), name)
    assert (prob.argmax(1) == ref["argmax"]).mean() >= 0.999
    assert np.abs(prob - ref["prob"].astype(np.float32)).mean() <= 1e-3


def test_track_with_the_onnx_backend(
    lite0_export: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = ["track", str(SAMPLE / "video.mp4"), "--masks", str(FIRST)]
    assert main([*base, "--out", str(tmp_path / "torch"), "--adapt", "0"]) == 0
    onnx = [*base, "--backend", "onnx", "--weights", str(lite0_export)]
    assert main([*onnx, "--out", str(tmp_path / "onnx")]) == 0  # no adaptation by default
    names = sorted(p.name for p in (tmp_path / "torch").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "onnx").iterdir()) and len(names) == 60
    agreement = np.mean(
        [
            (read_mask(tmp_path / "torch" / n).ids == read_mask(tmp_path / "onnx" / n).ids).mean()
            for n in names
        ]
    )
    assert agreement >= 0.999
    caplog.clear()
    assert main([*onnx, "--out", str(tmp_path / "adapt"), "--adapt", "5"]) == 2
    assert "--adapt" in caplog.text and "PyTorch backend" in caplog.text
    assert not (tmp_path / "adapt").exists()


def test_bad_exports_are_refused_cleanly(
    lite0_export: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["weights", "onnx", "xmem-lite0", "--out", str(lite0_export)]) == 2
    assert "not an empty folder" in caplog.text
    assert (
        main(["weights", "onnx", "xmem-lite0", "--out", str(tmp_path / "x"), "--opset", "17"]) == 2
    )
    assert "at least 18" in caplog.text and not (tmp_path / "x").exists()


def test_the_onnxruntime_only_example(lite0_export: Path, tmp_path: Path) -> None:
    """docs/onnx.md's example runs the graphs with onnxruntime and numpy, without torch, and
    follows the objects as the tracker does."""
    frames = tmp_path / "frames"
    frames.mkdir()
    with open_frames(SAMPLE / "video.mp4") as source:
        for index, rgb in source.read(range(len(source))):
            Image.fromarray(rgb).save(frames / f"{source.names[index]}.png")
    script = (
        "import runpy, sys; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__'); "
        "assert 'torch' not in sys.modules, 'the example imported torch'"
    )
    out = tmp_path / "out"
    example = ROOT / "examples" / "onnx_track.py"
    args = [
        sys.executable,
        "-c",
        script,
        str(example),
        str(lite0_export),
        str(frames),
        str(FIRST),
        str(out),
    ]
    subprocess.run(args, check=True, timeout=300)
    ref = {
        r.index: r.mask
        for r in xmem.track(
            from_pretrained("xmem-lite0"),
            SAMPLE / "video.mp4",
            {0: read_mask(FIRST).ids},
            xmem.TrackOptions(adapt_steps=0),
        )
    }
    ious = []
    for path in sorted(out.iterdir()):
        ours, theirs = np.asarray(Image.open(path)), ref[int(path.stem)]
        for o in (1, 2):
            union = ((ours == o) | (theirs == o)).sum()
            ious.append(((ours == o) & (theirs == o)).sum() / union if union else 1.0)
    assert len(ious) == 2 * 60 and np.mean(ious) >= 0.85, np.mean(ious)


def test_weights_are_exported_once_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``--backend onnx --weights NAME``: the first use exports into the cache, later ones
    reuse it; a folder with a manifest is used as it is."""
    from xmem.model import onnx_export

    monkeypatch.setenv("XMEM_CACHE_DIR", str(tmp_path / "cache"))
    made: list[Path] = []

    def fake_export(name: object, out: Path, **kw: object) -> dict[str, object]:
        made.append(Path(out))
        Path(out).mkdir(parents=True)
        (Path(out) / MANIFEST).write_text("{}")
        return {}

    monkeypatch.setattr(onnx_export, "export_weights", fake_export)
    first = onnx_export.exported("xmem-lite0")
    assert onnx_export.exported("xmem-lite0") == first and made == [first]
    assert first.parent == tmp_path / "cache" / "onnx" and first.name.startswith("xmem-lite0-")
    assert onnx_export.exported(first) == first
