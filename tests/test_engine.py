"""InferenceCore behaviour beyond the original: arbitrary ids, late and deleted objects,
overlapping masks, reduced precision, bounded memory on long videos."""

from __future__ import annotations

import pytest
import torch

from tests.nets import DEVICE
from xmem.inference.config import InferenceConfig
from xmem.inference.core import InferenceCore
from xmem.model.network import XMem


def video_frame(t: int, h: int = 48, w: int = 64) -> torch.Tensor:
    """A moving bright square on a gradient, normalised-ish."""
    img = torch.linspace(-1, 1, w).expand(3, h, w).clone()
    x = 8 + (t % 30)
    img[:, 10:26, x : x + 16] = 2.0
    return img


def square_mask(t: int, obj: int = 1, h: int = 48, w: int = 64) -> torch.Tensor:
    m = torch.zeros(h, w, dtype=torch.long)
    x = 8 + (t % 30)
    m[10:26, x : x + 16] = obj
    return m


def test_arbitrary_ids_and_output_layout(tiny_net: XMem) -> None:
    core = InferenceCore(tiny_net)
    mask = square_mask(0, obj=200)
    mask[30:40, 0:10] = 7
    prob = core.step(video_frame(0), mask)
    assert core.object_ids == [7, 200]
    assert prob.shape == (3, 48, 64)
    assert (prob.argmax(0) == 1)[30:40, 0:10].all() and (prob.argmax(0) == 2)[12:24, 10:22].all()
    prob = core.step(video_frame(1))
    assert prob.shape == (3, 48, 64) and torch.isfinite(prob).all()
    torch.testing.assert_close(prob.sum(0), torch.ones(48, 64))


def test_frames_before_the_first_mask_are_background(tiny_net: XMem) -> None:
    core = InferenceCore(tiny_net)
    prob = core.step(video_frame(0))
    assert prob.shape == (1, 48, 64) and (prob == 1).all()
    assert core.frame_index == -1


def test_objects_added_late_form_a_new_group(tiny_net: XMem) -> None:
    core = InferenceCore(tiny_net, InferenceConfig(mem_every=2))
    core.step(video_frame(0), square_mask(0, 3))
    for t in range(1, 4):
        core.step(video_frame(t))
    late = torch.zeros(48, 64, dtype=torch.long)
    late[35:45, 40:60] = 9
    prob = core.step(video_frame(4), late)  # only the new object: object 3 keeps its prediction
    assert core.object_ids == [3, 9]
    assert [g.objects for g in core.objects.groups] == [[3], [9]]
    assert (prob.argmax(0)[35:45, 40:60] == 2).all()
    assert core.memory.sensory is not None and core.memory.sensory.shape[1] == 2
    prob = core.step(video_frame(5))
    assert prob.shape[0] == 3
    assert set(core.memory.work_mem.buckets) == {0, 1}


def test_delete_objects(tiny_net: XMem) -> None:
    core = InferenceCore(tiny_net, InferenceConfig(mem_every=1))
    mask = square_mask(0, 1)
    mask[35:45, 40:60] = 2
    core.step(video_frame(0), mask)
    late = torch.zeros(48, 64, dtype=torch.long)
    late[0:5, 0:5] = 5
    core.step(video_frame(1), late)
    core.step(video_frame(2))
    core.delete_objects([2])
    assert core.object_ids == [1, 5]
    assert core.memory.work_mem.buckets[0].value.shape[0] == 1
    sensory = core.memory.sensory
    assert sensory is not None and sensory.shape[1] == 2
    assert core.step(video_frame(3)).shape[0] == 3
    core.delete_objects([5])
    assert set(core.memory.work_mem.buckets) == {0}
    core.delete_objects([1])
    assert core.object_ids == [] and core.memory.num_elements == {"working": 0, "long_term": 0}
    with pytest.raises(KeyError):
        core.delete_objects([1])


def test_overlapping_per_object_masks_keep_both_objects(tiny_net: XMem) -> None:
    core = InferenceCore(tiny_net)
    masks = torch.zeros(2, 48, 64)
    masks[0, 10:30, 10:30] = 1
    masks[1, 20:40, 20:40] = 1  # overlaps object 4 on 20:30 × 20:30
    prob = core.step(video_frame(0), masks, objects=[4, 8])
    assert core.object_ids == [4, 8]
    overlap = prob[1:, 20:30, 20:30]
    assert (overlap > 0.4).all()  # both objects hold the shared pixels
    assert core.step(video_frame(1)).shape[0] == 3


def test_bad_masks_are_rejected(tiny_net: XMem) -> None:
    core = InferenceCore(tiny_net)
    with pytest.raises(ValueError, match="mask is"):
        core.step(video_frame(0), torch.zeros(10, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="objects"):
        core.step(video_frame(0), torch.zeros(2, 48, 64))
    with pytest.raises(ValueError, match="positive"):
        core.step(video_frame(0), torch.zeros(1, 48, 64), objects=[-1])


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_has_no_nan(tiny_net: XMem, precision: str) -> None:
    if precision == "fp16" and DEVICE == "cpu":
        try:
            with torch.autocast("cpu", dtype=torch.float16):
                torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 1, 1))
        except RuntimeError:
            pytest.skip("fp16 autocast unsupported on this CPU build")
    config = InferenceConfig(
        mem_every=1, min_mid_term_frames=2, max_mid_term_frames=3, num_prototypes=8
    )
    core = InferenceCore(tiny_net, config, precision=precision)
    ref = InferenceCore(tiny_net, config)
    for t in range(8):
        mask = square_mask(0) if t == 0 else None
        prob = core.step(video_frame(t), mask)
        prob_ref = ref.step(video_frame(t), mask)
        assert torch.isfinite(prob).all() and prob.dtype == torch.float32
    assert (prob.argmax(0) == prob_ref.argmax(0)).float().mean() > 0.9


@pytest.mark.slow
def test_memory_is_bounded_over_2000_frames(tiny_net: XMem) -> None:
    """mem_every 1, long-term pruning, objects added late in several groups."""
    config = InferenceConfig(
        mem_every=1,
        min_mid_term_frames=2,
        max_mid_term_frames=4,
        num_prototypes=8,
        max_long_term_elements=48,
        top_k=10,
    )
    core = InferenceCore(tiny_net, config)
    h, w = 32, 32  # 2×2 = 4 elements per memory frame
    hw = 4
    peak_late = {"working": 0, "long_term": 0}
    for t in range(2100):
        mask = None
        if t in (0, 500, 1200):
            mask = torch.zeros(h, w, dtype=torch.long)
            mask[4:12, 4 + t % 10 : 12 + t % 10] = 1 + t // 100  # ids 1, 6, 13
        prob = core.step(video_frame(t, h, w), mask, end=t == 2099)
        assert torch.isfinite(prob).all()
        counts = core.memory.num_elements
        groups = len(core.objects.groups)
        assert counts["working"] <= groups * config.max_mid_term_frames * hw
        assert counts["long_term"] <= groups * config.max_long_term_elements
        if t > 1500:
            for k in peak_late:
                peak_late[k] = max(peak_late[k], counts[k])
    assert core.object_ids == [1, 6, 13] and len(core.objects.groups) == 3
    # every group's long-term memory filled up and was pruned, never grown past its bound
    assert peak_late["long_term"] <= 3 * config.max_long_term_elements
    assert peak_late["working"] <= 3 * config.max_mid_term_frames * hw
    for g in core.objects.groups:
        assert core.memory.long_mem.size(g.gid) > config.max_long_term_elements - 2 * 8
