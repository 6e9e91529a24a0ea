"""Tests for xmem.io.masks: reading/writing mask PNGs and matching them to frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xmem.errors import XMemError
from xmem.io import Mask, default_palette, find_annotations, read_mask, write_mask

H, W = 24, 32


def ids_array() -> np.ndarray:
    ids = np.zeros((H, W), dtype=np.uint8)
    ids[2:10, 3:12] = 1
    ids[12:20, 15:30] = 2
    ids[0, 0] = 3
    return ids


def test_default_palette_first_colours() -> None:
    palette = default_palette()
    assert len(palette) == 768
    colours = [tuple(palette[3 * i : 3 * i + 3]) for i in range(6)]
    assert colours == [
        (0, 0, 0),
        (128, 0, 0),
        (0, 128, 0),
        (128, 128, 0),
        (0, 0, 128),
        (128, 0, 128),
    ]
    assert tuple(palette[3 * 255 :]) == (224, 224, 192)
    palette[0] = 99  # callers get a copy
    assert default_palette()[0] == 0


def test_read_palette_mask_keeps_palette(tmp_path: Path) -> None:
    custom = [(i * 3) % 256 for i in range(768)]
    img = Image.fromarray(ids_array())
    img.putpalette(custom)
    img.save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert isinstance(mask, Mask)
    assert mask.ids.dtype == np.uint8 and mask.ids.shape == (H, W)
    np.testing.assert_array_equal(mask.ids, ids_array())
    assert mask.palette == custom


def test_read_short_palette_is_padded(tmp_path: Path) -> None:
    img = Image.fromarray(ids_array())
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    img.save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.palette is not None and len(mask.palette) == 768
    assert mask.palette[:6] == [0, 0, 0, 255, 0, 0]


def test_read_binary_l_mask(tmp_path: Path) -> None:
    Image.fromarray(ids_array().clip(0, 1) * 255).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.palette is None
    np.testing.assert_array_equal(mask.ids, ids_array().clip(0, 1))


def test_read_multi_valued_l_mask(tmp_path: Path) -> None:
    Image.fromarray(ids_array()).save(tmp_path / "m.png")  # values 0..3, mode L
    assert Image.open(tmp_path / "m.png").mode == "L"
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png").ids, ids_array())


def test_read_one_bit_mask(tmp_path: Path) -> None:
    Image.fromarray(ids_array() > 0).save(tmp_path / "m.png")
    assert Image.open(tmp_path / "m.png").mode == "1"
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png").ids, ids_array().clip(0, 1))


def test_read_gray_rgb_mask(tmp_path: Path) -> None:
    gray = np.repeat(ids_array()[..., None], 3, axis=2)
    Image.fromarray(gray).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png").ids, ids_array())
    Image.fromarray(gray * 85).convert("RGBA").save(tmp_path / "a.png")  # 0/85/170/255
    np.testing.assert_array_equal(read_mask(tmp_path / "a.png").ids, ids_array() * 85)


def test_read_colour_rgb_mask_error(tmp_path: Path) -> None:
    colours = np.array(default_palette(), dtype=np.uint8).reshape(256, 3)
    Image.fromarray(colours[ids_array()]).save(tmp_path / "colour.png")
    with pytest.raises(XMemError, match=r"colour\.png.*palette or grayscale"):
        read_mask(tmp_path / "colour.png")


def test_read_16_bit_masks(tmp_path: Path) -> None:
    Image.fromarray(ids_array().astype(np.uint16)).save(tmp_path / "ok.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "ok.png").ids, ids_array())
    big = ids_array().astype(np.uint16) * 1000
    Image.fromarray(big).save(tmp_path / "big.png")
    with pytest.raises(XMemError, match=r"big\.png"):
        read_mask(tmp_path / "big.png")


def test_read_corrupt_masks(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 4, (200, 200), dtype=np.uint8)
    write_mask(tmp_path / "cut.png", noise)
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(XMemError, match=r"cut\.png"):
        read_mask(tmp_path / "cut.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(XMemError, match=r"junk\.png"):
        read_mask(tmp_path / "junk.png")


def test_write_mask_round_trip(tmp_path: Path) -> None:
    custom = list(range(256)) * 3
    write_mask(tmp_path / "a.png", ids_array(), custom)
    assert Image.open(tmp_path / "a.png").mode == "P"
    mask = read_mask(tmp_path / "a.png")
    np.testing.assert_array_equal(mask.ids, ids_array())
    assert mask.palette == custom

    write_mask(tmp_path / "b.png", ids_array())
    assert read_mask(tmp_path / "b.png").palette == default_palette()


def test_write_mask_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_mask(tmp_path / "a.png", np.zeros((2, 2, 3), dtype=np.uint8))
    with pytest.raises(ValueError):
        write_mask(tmp_path / "a.png", np.full((2, 2), 300))


FRAMES = ["00000", "00001", "00002", "00003"]


def test_find_annotations_single_file(tmp_path: Path) -> None:
    write_mask(tmp_path / "00002.png", ids_array())
    assert find_annotations(tmp_path / "00002.png", FRAMES) == {2: tmp_path / "00002.png"}
    write_mask(tmp_path / "first.png", ids_array())
    assert find_annotations(tmp_path / "first.png", FRAMES) == {0: tmp_path / "first.png"}
    assert find_annotations(tmp_path / "first.png", FRAMES, default_index=3) == {
        3: tmp_path / "first.png"
    }
    with pytest.raises(XMemError, match="only 4 frames"):
        find_annotations(tmp_path / "first.png", FRAMES, default_index=4)


def test_find_annotations_folder(tmp_path: Path) -> None:
    for name in ("00003", "00000"):
        write_mask(tmp_path / f"{name}.png", ids_array())
    (tmp_path / ".hidden.png").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    found = find_annotations(tmp_path, FRAMES)
    assert found == {0: tmp_path / "00000.png", 3: tmp_path / "00003.png"}
    assert list(found) == [0, 3]


def test_find_annotations_folder_unknown_stem(tmp_path: Path) -> None:
    write_mask(tmp_path / "00000.png", ids_array())
    write_mask(tmp_path / "frame7.png", ids_array())
    with pytest.raises(XMemError, match=r"frame7\.png.*named like the frames"):
        find_annotations(tmp_path, FRAMES)


def test_find_annotations_folder_stray_file(tmp_path: Path) -> None:
    write_mask(tmp_path / "00000.png", ids_array())
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(XMemError, match="stray file 'readme.txt'"):
        find_annotations(tmp_path, FRAMES)


def test_find_annotations_empty_and_missing(tmp_path: Path) -> None:
    with pytest.raises(XMemError, match="no .png masks"):
        find_annotations(tmp_path, FRAMES)
    with pytest.raises(XMemError, match="does not exist"):
        find_annotations(tmp_path / "missing", FRAMES)
    (tmp_path / "mask.jpg").write_bytes(b"x")
    with pytest.raises(XMemError, match="not a PNG"):
        find_annotations(tmp_path / "mask.jpg", FRAMES)
