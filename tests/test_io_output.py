"""Tests for xmem.io.output (staged output) and xmem.io.overlay (overlay videos)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from xmem.errors import XMemError
from xmem.io import StagedDirectory, atomic_output_file, open_frames, render_overlay, write_mask
from xmem.io.overlay import blend, boundary_ids, palette_colours


class Boom(RuntimeError):
    pass


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def unwritable_target(tmp_path: Path) -> Path:
    """A folder path that cannot be written, whether or not we run as root."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        return locked / "out"
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    return blocker / "out"


# -- StagedDirectory ---------------------------------------------------------------------


def test_staged_directory_success_creates_target(tmp_path: Path) -> None:
    target = tmp_path / "new" / "results"
    with StagedDirectory(target) as staged:
        assert staged.path.parent == tmp_path / "new"
        assert staged.path.name.startswith(".results.partial-")
        (staged.path / "a.png").write_bytes(b"a")
        (staged.path / "sub").mkdir()
        (staged.path / "sub" / "b.png").write_bytes(b"b")
        assert not target.exists()
    assert (target / "a.png").read_bytes() == b"a"
    assert (target / "sub" / "b.png").read_bytes() == b"b"
    assert leftovers(tmp_path / "new") == []


def test_staged_directory_merges_into_existing(tmp_path: Path) -> None:
    target = tmp_path / "results"
    (target / "sub").mkdir(parents=True)
    (target / "a.png").write_bytes(b"old")
    (target / "keep.txt").write_bytes(b"keep")
    (target / "sub" / "c.png").write_bytes(b"c")
    with StagedDirectory(target) as staged:
        (staged.path / "a.png").write_bytes(b"new")
        (staged.path / "sub").mkdir()
        (staged.path / "sub" / "b.png").write_bytes(b"b")
    assert (target / "a.png").read_bytes() == b"new"
    assert (target / "keep.txt").read_bytes() == b"keep"
    assert sorted(p.name for p in (target / "sub").iterdir()) == ["b.png", "c.png"]
    assert leftovers(tmp_path) == []


def test_staged_directory_exception_leaves_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "results"
    target.mkdir()
    (target / "a.png").write_bytes(b"old")
    with pytest.raises(Boom):
        with StagedDirectory(target) as staged:
            (staged.path / "a.png").write_bytes(b"new")
            (staged.path / "b.png").write_bytes(b"b")
            raise Boom
    assert sorted(p.name for p in target.iterdir()) == ["a.png"]
    assert (target / "a.png").read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_staged_directory_exception_removes_created_parents(tmp_path: Path) -> None:
    with pytest.raises(Boom):
        with StagedDirectory(tmp_path / "x" / "y" / "results"):
            raise Boom
    assert list(tmp_path.iterdir()) == []


def test_staged_directory_unwritable(tmp_path: Path) -> None:
    target = unwritable_target(tmp_path)
    with pytest.raises(XMemError, match="cannot write to output folder"):
        with StagedDirectory(target):
            pytest.fail("should not get here")


def test_staged_directory_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod cannot block root, so simulate a read-only folder for the access check
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "xmem.io.output.os.access",
        lambda p, mode: Path(p) != locked and real_access(p, mode),
    )
    with pytest.raises(XMemError, match=r"output folder '.*locked'.*permission denied"):
        with StagedDirectory(locked):
            pass
    with pytest.raises(XMemError, match=r"no permission to write in '.*locked'"):
        with StagedDirectory(locked / "out"):
            pass
    assert list(locked.iterdir()) == []


def test_staged_directory_target_is_file(tmp_path: Path) -> None:
    target = tmp_path / "results"
    target.write_text("x")
    with pytest.raises(XMemError, match="not a folder"):
        with StagedDirectory(target):
            pass


# -- atomic_output_file ------------------------------------------------------------------


def test_atomic_output_file_success_and_failure(tmp_path: Path) -> None:
    target = tmp_path / "video.mp4"
    with atomic_output_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp != target
        tmp.write_bytes(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(Boom):
        with atomic_output_file(target) as tmp:
            tmp.write_bytes(b"second")
            raise Boom
    assert target.read_bytes() == b"first"
    assert leftovers(tmp_path) == []


def test_atomic_output_file_unwritable(tmp_path: Path) -> None:
    with pytest.raises(XMemError, match="cannot write output file"):
        with atomic_output_file(unwritable_target(tmp_path) / "video.mp4"):
            pytest.fail("should not get here")


# -- overlay -----------------------------------------------------------------------------


def test_boundary_and_blend() -> None:
    ids = np.zeros((8, 8), dtype=np.uint8)
    ids[2:6, 2:6] = 1
    edge = boundary_ids(ids)
    assert edge[0, 0] == 0 and edge[3, 3] == 0  # far outside / deep inside
    assert edge[2, 3] == 1 and edge[1, 3] == 1  # both sides of the contour
    colours = palette_colours([0, 0, 0, 200, 100, 0])
    frame = np.full((8, 8, 3), 100, dtype=np.uint8)
    out = blend(frame, ids, colours, alpha=0.5)
    assert out.dtype == np.uint8 and out.shape == (8, 8, 3)
    assert tuple(out[0, 0]) == (100, 100, 100)
    assert tuple(out[3, 3]) == (150, 100, 50)
    assert tuple(out[2, 3]) == (100, 50, 0)


@pytest.mark.parametrize(
    ("size", "codec"), [((64, 48), "libx264"), ((63, 47), "libx264"), ((63, 47), "mpeg4")]
)
def test_render_overlay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], codec: str
) -> None:
    if codec == "mpeg4":  # the fallback when FFmpeg lacks libx264
        monkeypatch.setattr("xmem.io.overlay.OVERLAY_CODECS", ("libnope", "mpeg4"))
    w, h = size
    n = 12
    frames_dir, masks_dir = tmp_path / "frames", tmp_path / "masks"
    frames_dir.mkdir()
    masks_dir.mkdir()
    mask_paths = []
    for i in range(n):
        Image.fromarray(np.full((h, w, 3), i * 20, dtype=np.uint8)).save(
            frames_dir / f"{i:05d}.png"
        )
        ids = np.zeros((h, w), dtype=np.uint8)
        ids[5:20, i : i + 10] = 1
        ids[25:40, 30:50] = 2
        write_mask(masks_dir / f"{i:05d}.png", ids)
        mask_paths.append(masks_dir / f"{i:05d}.png")
    out = tmp_path / "overlay.mp4"
    with open_frames(frames_dir) as frames:
        render_overlay(frames, mask_paths, out, fps=10)
    assert leftovers(tmp_path) == []
    with av.open(str(out)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        rate = container.streams.video[0].average_rate
        codec_name = container.streams.video[0].codec_context.name
    assert codec_name == ("h264" if codec == "libx264" else "mpeg4")
    assert len(decoded) == n
    assert decoded[0].shape == (h + h % 2, w + w % 2, 3)  # padded to even for yuv420p
    assert float(rate) == pytest.approx(10.0)
    # object 2 is tinted red-ish green ((0,128,0) at alpha .5 over gray 0 -> (0, 64, 0))
    assert decoded[0][32, 40, 1] > decoded[0][32, 40, 0] + 30


def test_render_overlay_size_mismatch(tmp_path: Path) -> None:
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(frames_dir / "a.png")
    write_mask(tmp_path / "m.png", np.zeros((8, 8), dtype=np.uint8))
    with open_frames(frames_dir) as frames, pytest.raises(XMemError, match=r"m\.png"):
        render_overlay(frames, [tmp_path / "m.png"], tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()
    assert leftovers(tmp_path) == []
