"""The step policy (``plan_frame``) and the output mapping (``prob_to_ids``): pure functions."""

from __future__ import annotations

import pytest
import torch

from xmem.inference.config import InferenceConfig
from xmem.inference.core import prob_to_ids
from xmem.inference.policy import FramePlan, plan_frame
from xmem.memory.config import MemoryConfig
from xmem.memory.manager import MemoryManager


def plan(config: InferenceConfig | None = None, **state: object) -> FramePlan:
    args: dict = dict(
        frame_index=1,
        last_memory_frame=0,
        last_deep_update_frame=0,
        has_memory=True,
        mask_given=False,
        all_objects_given=False,
        last=False,
    )
    args.update(state)
    return plan_frame(config or InferenceConfig(), **args)


def test_a_memory_frame_every_mem_every_frames() -> None:
    config = InferenceConfig(mem_every=3)
    memorised = [t for t in range(1, 10) if plan(config, frame_index=t).memorise]
    assert memorised == [3, 4, 5, 6, 7, 8, 9]  # counted from the last memory frame (0 here)
    assert not plan(config, frame_index=2).memorise
    assert plan(config, frame_index=2, last_memory_frame=-1).memorise


def test_a_given_mask_makes_a_memory_frame_except_on_the_last_frame() -> None:
    assert plan(mask_given=True).memorise
    assert not plan(mask_given=True, last=True).memorise
    assert not plan(frame_index=5, last=True).memorise


def test_segment_when_memory_exists_and_some_object_is_not_given() -> None:
    assert plan().segment
    assert not plan(has_memory=False).segment
    assert not plan(mask_given=True, all_objects_given=True).segment
    assert plan(mask_given=True).segment  # a new object only: the others are predicted


def test_deep_update_on_memory_frames_by_default() -> None:
    memory_frame = plan(frame_index=5)
    assert memory_frame == FramePlan(
        memorise=True, segment=True, deep_update=True, decoder_update=False
    )
    other = plan(frame_index=2)
    assert other == FramePlan(memorise=False, segment=True, deep_update=False, decoder_update=True)


def test_deep_update_with_its_own_period_waits_for_a_memory_frame() -> None:
    config = InferenceConfig(mem_every=3, deep_update_every=2)
    # due (2 frames since the last) but not a memory frame: no deep update yet
    assert plan(config, frame_index=2).deep_update is False
    p = plan(config, frame_index=3)
    assert p.memorise and p.deep_update and p.decoder_update  # the decoder updates too
    assert not plan(config, frame_index=3, last_deep_update_frame=2).deep_update


def test_nothing_is_updated_on_the_last_frame() -> None:
    p = plan(frame_index=5, last=True)
    assert p == FramePlan(memorise=False, segment=True, deep_update=False, decoder_update=False)


def test_prob_to_ids_maps_rows_to_ids_with_argmax_ties() -> None:
    prob = torch.tensor([[[0.2, 0.5]], [[0.5, 0.5]], [[0.3, 0.0]]])  # 3×1×2
    ids = prob_to_ids(prob, [7, 300])
    assert ids.dtype == torch.int32 and ids.tolist() == [[7, 0]]  # tie → first row
    assert prob_to_ids(prob, [7, 9]).dtype == torch.uint8
    assert prob_to_ids(torch.ones(1, 2, 2), []).eq(0).all()
    with pytest.raises(ValueError, match="do not match"):
        prob_to_ids(prob, [7])


def test_the_memory_manager_owns_sensory_memory() -> None:
    memory = MemoryManager(MemoryConfig())  # the paper's sizes
    assert memory.sensory is None and memory.read_sensory([0]) is None
    memory.add_objects(3, 4, torch.zeros(1, 8, 2, 3))
    assert memory.sensory is not None and memory.sensory.shape == (1, 3, 4, 2, 3)
    memory.update_sensory(torch.ones(1, 2, 4, 2, 3, dtype=torch.float16), [0, 2])
    assert memory.sensory.dtype == torch.float32
    assert memory.sensory[0, :, 0, 0, 0].tolist() == [1, 0, 1]
    assert memory.read_sensory([1, 2])[0, :, 0, 0, 0].tolist() == [0, 1]  # type: ignore[index]
    memory.update_sensory(torch.full((1, 3, 4, 2, 3), 2.0))
    assert (memory.sensory == 2).all()
    with pytest.raises(ValueError, match="does not match"):
        memory.update_sensory(torch.ones(1, 2, 4, 2, 3))
    memory.remove_objects([2], {})
    assert memory.sensory.shape[1] == 1
