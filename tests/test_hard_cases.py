"""Hard cases drawn on training clips (xmem/train/hard_cases.py; issue 23)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmem.train.clips import SyntheticClips
from xmem.train.data import ClipDataset
from xmem.train.hard_cases import HARD_CASES, add_hard_case

SIZE = 96


def _clip(frames: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured clip with one square object (id 1) moving right by 4 pixels a frame."""
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.uniform(0.2, 0.4, (frames, 3, SIZE, SIZE))).float()
    labels = torch.zeros(frames, SIZE, SIZE, dtype=torch.int64)
    for t in range(frames):
        images[t, :, 30:54, 20 + 4 * t : 44 + 4 * t] = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1)
        labels[t, 30:54, 20 + 4 * t : 44 + 4 * t] = 1
    return images, labels


def test_every_kind_keeps_shapes_and_leaves_the_input_alone() -> None:
    images, labels = _clip()
    before = images.clone(), labels.clone()
    for kind in HARD_CASES:
        case = add_hard_case(images, labels, 1, 3, np.random.default_rng(1), kind=kind)
        assert case.kind == kind
        assert case.images.shape == images.shape and case.labels.shape == labels.shape
        assert float(case.images.min()) >= 0 and float(case.images.max()) <= 1
        assert not torch.equal(case.images, images), kind  # something was drawn
    assert torch.equal(images, before[0]) and torch.equal(labels, before[1])


def test_a_lookalike_is_the_target_s_appearance_labelled_background() -> None:
    images, labels = _clip()
    with_copies = 0
    for seed in range(6):
        case = add_hard_case(images, labels, 1, 3, np.random.default_rng(seed), kind="lookalike")
        assert case.n_objects == 1
        red = (case.images[:, 0] > 0.6) & (case.images[:, 1] < 0.3)  # the target's colour
        copies = red & (case.labels == 0)
        changed = (case.images != images).any(1)
        # red background is a pasted copy: new pixels, or the target's own where its copy
        # passes in front of it (the same colour, now background)
        assert not (copies & ~changed & (labels != 1)).any()
        with_copies += bool((copies & changed).any())
        assert set(case.labels.unique().tolist()) <= {0, 1}
    assert with_copies >= 3  # recoloured or faint copies are not red


def test_thin_and_tiny_add_a_tracked_object_of_their_size() -> None:
    images, labels = _clip()
    for seed in range(5):
        thin = add_hard_case(images, labels, 1, 3, np.random.default_rng(seed), kind="thin")
        assert thin.n_objects == 2
        curve = thin.labels == 2
        assert curve.any(dim=(1, 2)).all()  # in every frame
        # 1–3 pixels wide: a band of the curve's area is far larger than the curve
        widened = torch.nn.functional.max_pool2d(curve.float()[:, None], 7, 1, 3)[:, 0] > 0
        assert widened.sum() > 2.5 * curve.sum()
        tiny = add_hard_case(images, labels, 1, 3, np.random.default_rng(seed), kind="tiny")
        area = (tiny.labels[0] == 2).float().mean()
        assert 0.0005 < area < 0.015, area  # 0.15–1 % of the frame, up to resampling
    full = add_hard_case(images, labels, 3, 3, np.random.default_rng(0), kind="tiny")
    assert full.kind == "lookalike" and full.n_objects == 3  # no free slot


def test_smoke_keeps_every_label() -> None:
    images, labels = _clip()
    case = add_hard_case(images, labels, 1, 3, np.random.default_rng(2), kind="smoke")
    assert torch.equal(case.labels, labels)
    assert (case.images - images).abs().mean() > 0.01


def test_hard_cases_are_deterministic_and_off_by_default() -> None:
    images, labels = _clip()
    a = add_hard_case(images, labels, 1, 3, np.random.default_rng(7))
    b = add_hard_case(images, labels, 1, 3, np.random.default_rng(7))
    assert a.kind == b.kind and torch.equal(a.images, b.images)
    with pytest.raises(ValueError, match="unknown hard case"):
        add_hard_case(images, labels, 1, 3, np.random.default_rng(0), kind="fog")

    def clips(prob: float) -> ClipDataset:
        data = SyntheticClips(num_frames=3, crop=64, size=(64, 64), seed=3, samples_per_epoch=4)
        data.hard_case_prob = prob
        return data

    plain, none, every = (
        clips(0.0),
        SyntheticClips(num_frames=3, crop=64, size=(64, 64), seed=3, samples_per_epoch=4),
        clips(1.0),
    )
    for i in range(4):  # 0: the items of before hard cases existed, draw for draw
        assert torch.equal(plain[i]["rgb"], none[i]["rgb"])
    assert any(not torch.equal(plain[i]["rgb"], every[i]["rgb"]) for i in range(4))
