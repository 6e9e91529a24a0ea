"""The training data pipeline: datasets of clips and their augmentation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from xmem.errors import ConfigError, XMemError
from xmem.inference.image import IMAGENET_MEAN, IMAGENET_STD
from xmem.io.masks import write_mask
from xmem.train.augment import AffineJitter, AugmentConfig, augment_clip
from xmem.train.clips import MixedClips, StaticClips, SyntheticClips, VideoClips, build_dataset
from xmem.train.config import StageConfig
from xmem.train.data import sample_frame_indices
from xmem.train.paste import paste_object

H, W, N_FRAMES = 64, 96, 12


def _frame(t: int, boxes: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """A textured background with coloured squares (y, x, side) moving right; and their ids."""
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([(x * 2) % 256, (y * 3) % 256, np.full_like(x, 60)], -1).astype(np.uint8)
    ids = np.zeros((H, W), np.uint8)
    for k, (y0, x0, side) in enumerate(boxes, start=1):
        x0 = (x0 + 2 * t) % (W - side)
        rgb[y0 : y0 + side, x0 : x0 + side] = (40 * k + 100, 255 - 50 * k, 30 * k)
        ids[y0 : y0 + side, x0 : x0 + side] = k
    return rgb, ids


def _write(
    images: Path,
    masks: Path,
    boxes: list[tuple[int, int, int]],
    binary: bool,
    annotated: range | list[int],
) -> None:
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for t in range(N_FRAMES):
        rgb, ids = _frame(t, boxes)
        Image.fromarray(rgb).save(images / f"{t:05d}.jpg", quality=95)
        if t in annotated:
            if binary:
                Image.fromarray((ids > 0).astype(np.uint8) * 255).save(masks / f"{t:05d}.png")
            else:
                write_mask(masks / f"{t:05d}.png", ids)


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DAVIS 2016 layout: 3 single-object sequences with 0/255 masks on every frame."""
    root = tmp_path_factory.mktemp("davis")
    for i, box in enumerate([(8, 4, 20), (30, 40, 24), (20, 10, 16)]):
        seq = f"seq{i}"
        _write(
            root / "JPEGImages/480p" / seq,
            root / "Annotations/480p" / seq,
            [box],
            True,
            range(N_FRAMES),
        )
    (root / "ImageSets/2016").mkdir(parents=True)
    (root / "ImageSets/2016/train.txt").write_text("seq0\nseq1\nseq2\n")
    return root


@pytest.fixture(scope="module")
def youtube(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """YouTube-VOS layout: every 5th frame annotated; object 2 of 'b' appears on frame 5."""
    root = tmp_path_factory.mktemp("youtube")
    videos = {}
    for seq, boxes in [("a", [(4, 4, 18), (36, 50, 20)]), ("b", [(10, 10, 22), (34, 60, 18)])]:
        _write(root / "JPEGImages" / seq, root / "Annotations" / seq, boxes, False, [0, 5, 10])
        objects = {"1": {"frames": ["00000", "00005", "00010"]}}
        objects["2"] = {"frames": ["00005", "00010"] if seq == "b" else ["00000", "00005"]}
        videos[seq] = {"objects": objects}
    (root / "meta.json").write_text(json.dumps({"videos": videos}))
    return root


def _check_item(item: dict[str, torch.Tensor], frames: int, crop: int, k: int) -> None:
    assert set(item) == {"rgb", "masks", "valid"}
    assert item["rgb"].shape == (frames, 3, crop, crop) and item["rgb"].dtype == torch.float32
    assert item["masks"].shape == (frames, k, crop, crop)
    assert item["masks"].dtype == torch.float32
    assert item["valid"].shape == (k,) and item["valid"].dtype == torch.bool
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    pixels = item["rgb"] * std + mean
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    masks, valid = item["masks"], item["valid"]
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert masks.sum(1).max() <= 1  # objects never overlap
    assert valid.any()
    n = int(valid.sum())
    assert valid[:n].all()  # used slots come first
    assert (masks[0, :n].flatten(1).sum(1) > 0).all()  # every object is visible in frame 0
    assert masks[:, n:].sum() == 0  # unused slots are empty


def test_sample_frame_indices_order_and_jumps() -> None:
    rng = np.random.default_rng(0)
    reversed_seen = forward_seen = False
    for n, frames, jump in [(12, 8, 3), (100, 8, 20), (8, 8, 5), (30, 4, 1), (50, 3, 50)]:
        for _ in range(50):
            idx = sample_frame_indices(n, frames, jump, rng)
            assert len(idx) == frames and all(0 <= i < n for i in idx)
            steps = np.diff(idx)
            assert (steps > 0).all() or (steps < 0).all()
            assert np.abs(steps).max() <= jump
            forward_seen |= bool(steps[0] > 0)
            reversed_seen |= bool(steps[0] < 0)
    assert forward_seen and reversed_seen
    # short lists: every frame once, in order, some repeated
    idx = sample_frame_indices(3, 8, 20, rng, reverse_prob=0.0)
    assert sorted(set(idx)) == [0, 1, 2] and idx == sorted(idx)
    assert sample_frame_indices(5, 1, 2, rng)[0] in range(5)
    assert sample_frame_indices(1, 4, 2, rng) == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        sample_frame_indices(0, 4, 2, rng)


def test_video_clips_items(davis: Path) -> None:
    ds = VideoClips(davis, num_frames=4, crop=32, max_objects=3, paste_prob=0.5, seed=1)
    assert len(ds) == 3
    for i in range(len(ds)):
        _check_item(ds[i], 4, 32, 3)
    assert len(VideoClips(davis, split="train", crop=32, samples_per_epoch=10)) == 10
    plain = VideoClips(davis, num_frames=2, crop=32, augment=False, paste_prob=0.0)
    _check_item(plain[1], 2, 32, 3)


def test_pasting_makes_multi_object_clips(davis: Path) -> None:
    ds = VideoClips(
        davis, num_frames=3, crop=48, max_objects=3, paste_prob=1.0, samples_per_epoch=12
    )
    counts = [int(ds[i]["valid"].sum()) for i in range(len(ds))]
    assert max(counts) == 3 and min(counts) >= 2
    single = VideoClips(davis, num_frames=3, crop=48, max_objects=3, paste_prob=0.0)
    assert all(int(single[i]["valid"].sum()) == 1 for i in range(len(single)))


def test_determinism_and_epochs(davis: Path) -> None:
    def make() -> VideoClips:
        return VideoClips(davis, num_frames=4, crop=32, seed=7, samples_per_epoch=4)

    a, b = make(), make()
    for i in (0, 3):
        x, y = a[i], b[i]
        assert all(torch.equal(x[key], y[key]) for key in x)
    first = a[1]
    a.set_epoch(1)
    assert not torch.equal(a[1]["rgb"], first["rgb"])
    a.set_epoch(0)
    assert torch.equal(a[1]["rgb"], first["rgb"])
    other_seed = VideoClips(davis, num_frames=4, crop=32, seed=8, samples_per_epoch=4)
    assert not torch.equal(other_seed[1]["rgb"], first["rgb"])


def test_dataloader_collation(davis: Path) -> None:
    ds = VideoClips(davis, num_frames=3, crop=32, max_objects=2, samples_per_epoch=4)
    batches = list(DataLoader(ds, batch_size=2, num_workers=0))
    assert len(batches) == 2
    assert batches[0]["rgb"].shape == (2, 3, 3, 32, 32)
    assert batches[0]["masks"].shape == (2, 3, 2, 32, 32)
    assert batches[0]["valid"].shape == (2, 2)


def test_dataloader_workers_give_the_same_items(davis: Path) -> None:
    ds = VideoClips(davis, num_frames=2, crop=32, max_objects=2, samples_per_epoch=4, seed=3)
    ds.set_epoch(2)
    batches = list(DataLoader(ds, batch_size=2, num_workers=2))
    for i in range(4):
        item = ds[i]
        for key in item:
            assert torch.equal(batches[i // 2][key][i % 2], item[key])


def test_generic_layout(tmp_path: Path) -> None:
    for seq, box in [("one", (5, 5, 20)), ("two", (30, 50, 16))]:
        _write(tmp_path / seq / "images", tmp_path / seq / "masks", [box], False, [0, 3, 6, 9])
    ds = VideoClips(tmp_path, num_frames=3, crop=32, max_jump=3, paste_prob=1.0, max_objects=2)
    assert ds._jumps == [1, 1]
    for i in range(2):
        item = ds[i]
        _check_item(item, 3, 32, 2)
        assert int(item["valid"].sum()) == 2
    _check_item(StaticClips(tmp_path, num_frames=2, crop=32)[5], 2, 32, 3)


def test_youtube_layout(youtube: Path) -> None:
    ds = VideoClips(
        youtube, num_frames=3, crop=32, max_objects=3, paste_prob=0.0, samples_per_epoch=8
    )
    counts = []
    for i in range(len(ds)):
        item = ds[i]
        _check_item(item, 3, 32, 3)
        counts.append(int(item["valid"].sum()))
    assert max(counts) == 2  # the two objects of a sequence, no pasting
    # only annotated frames (every 5th) are usable; max_jump is counted in video frames
    assert ds._usable[1] == (0, 5, 10) and ds._jumps[0] == 4


def test_static_clips(davis: Path, youtube: Path) -> None:
    ds = StaticClips(davis, num_frames=3, crop=32, paste_prob=1.0, max_objects=3)
    assert len(ds) == 3 * N_FRAMES
    for i in (0, 17):
        item = ds[i]
        _check_item(item, 3, 32, 3)
        assert int(item["valid"].sum()) >= 2
        assert not torch.equal(item["rgb"][0], item["rgb"][1])  # independent deformations
    item = StaticClips(youtube, num_frames=2, crop=32, max_objects=2, samples_per_epoch=5)[4]
    _check_item(item, 2, 32, 2)


def test_synthetic_clips() -> None:
    ds = SyntheticClips(num_frames=3, crop=32, max_objects=3, size=(48, 64), samples_per_epoch=3)
    assert len(ds) == 3
    for i in range(3):
        _check_item(ds[i], 3, 32, 3)
    again = SyntheticClips(num_frames=3, crop=32, max_objects=3, size=(48, 64), samples_per_epoch=3)
    assert torch.equal(again[2]["masks"], ds[2]["masks"])


def test_mixed_clips_replace_a_share_of_items_with_synthetic_ones(davis: Path) -> None:
    base = VideoClips(davis, num_frames=3, crop=32, max_objects=3, samples_per_epoch=40)

    def synthetic_share(p: float) -> float:
        mixed = MixedClips(base, p)
        names = [mixed._compose(i, 0, np.random.default_rng(i)).name for i in range(40)]
        return sum(name.startswith("synthetic video") for name in names) / len(names)

    assert synthetic_share(0.0) == 0.0 and synthetic_share(1.0) == 1.0
    assert 0.2 < synthetic_share(0.5) < 0.8
    mixed = MixedClips(base, 0.5)
    assert len(mixed) == 40 and mixed.config == base.config
    for i in range(6):
        _check_item(mixed[i], 3, 32, 3)
    with pytest.raises(ValueError, match="synthetic_prob"):
        MixedClips(base, 1.5)


def test_synthetic_prob_is_a_stage_option(davis: Path) -> None:
    config = StageConfig(data=str(davis), num_frames=3, crop=32, synthetic_prob=0.3)
    assert isinstance(build_dataset(config, 4), MixedClips)
    assert isinstance(build_dataset(StageConfig(data=str(davis), crop=32), 4), VideoClips)
    with pytest.raises(ConfigError, match="synthetic_prob"):
        StageConfig(stage="synthetic", synthetic_prob=0.3)
    with pytest.raises(ConfigError, match="probability"):
        StageConfig(data=str(davis), synthetic_prob=2.0)


def test_augmentation_keeps_images_and_masks_aligned() -> None:
    rgb = np.zeros((4, 60, 80, 3), np.uint8)
    ids = np.zeros((4, 60, 80), np.uint8)
    rgb[:, 15:45, 25:55] = 255
    ids[:, 15:45, 25:55] = 1
    config = AugmentConfig(
        crop=40,
        resize=(1.0, 1.5),
        flip_prob=0.5,
        frame_affine=AffineJitter(degrees=30, scale=(0.8, 1.2), shear=10, translate=0.1),
        elastic=0.02,
    )
    for seed in range(5):
        images, labels = augment_clip(rgb, ids, config, np.random.default_rng(seed))
        assert images.shape == (4, 3, 40, 40) and labels.shape == (4, 40, 40)
        bright, mask = images.mean(1) > 0.5, labels == 1
        for t in range(4):
            union = (bright[t] | mask[t]).sum()
            assert union > 0 and (bright[t] & mask[t]).sum() / union > 0.85
    # shrinking frames (antialiased pre-resize) keeps them aligned too
    big_rgb = np.repeat(np.repeat(rgb, 4, 1), 4, 2)
    big_ids = np.repeat(np.repeat(ids, 4, 1), 4, 2)
    images, labels = augment_clip(big_rgb, big_ids, config, np.random.default_rng(0))
    bright, mask = images.mean(1) > 0.5, labels == 1
    assert (bright & mask).sum() / (bright | mask).sum() > 0.85


def test_paste_occludes_earlier_objects() -> None:
    rgb = np.zeros((2, 40, 40, 3), np.uint8)
    ids = np.ones((2, 40, 40), np.uint8)  # object 1 everywhere
    donor_rgb = np.full((2, 30, 30, 3), 200, np.uint8)
    donor_mask = np.zeros((2, 30, 30), bool)
    donor_mask[:, 5:15, 5:15] = True
    assert paste_object(rgb, ids, donor_rgb, donor_mask, 2, np.random.default_rng(0))
    assert (ids == 2).any(axis=(1, 2)).all()
    assert ((ids == 2) == (rgb[..., 0] == 200)).all()
    assert not paste_object(rgb, ids, donor_rgb, donor_mask & False, 3, np.random.default_rng(0))


def test_broken_datasets(tmp_path: Path, davis: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(XMemError, match="not a dataset"):
        VideoClips(empty)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/readme.txt").write_text("hello")
    with pytest.raises(XMemError):
        StaticClips(tmp_path / "notes")
    with pytest.raises(XMemError, match="does not exist"):
        VideoClips(tmp_path / "missing")
    bad = tmp_path / "bad"
    _write(bad / "JPEGImages/x", bad / "Annotations/x", [(5, 5, 10)], False, [])
    with pytest.raises(XMemError, match="'x'.*no annotation"):
        VideoClips(bad)
    with pytest.raises(XMemError, match="no sequence"):
        VideoClips(davis, sequences=["nope"])
