"""Test-time flip (``TrackOptions(flip=True)``): two views of each frame, their mean
remembered by both."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xmem
from tests.scene import N, frame, ids
from xmem.inference.core import InferenceCore
from xmem.inference.flip import FlipEnsemble
from xmem.inference.image import unpad
from xmem.inference.options import TrackOptions
from xmem.inference.tracker import FrameResult, Tracker
from xmem.model.network import XMem

pytestmark = pytest.mark.usefixtures("one_thread")

FRAMES = [frame(t) for t in range(N)]


def run(network: XMem, frames: list[np.ndarray], mask: np.ndarray, flip: bool) -> list[FrameResult]:
    options = TrackOptions(size=-1, flip=flip)
    return list(xmem.track(network, frames, {0: mask}, options, return_prob=True))


def mirrored(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [np.ascontiguousarray(f[:, ::-1]) for f in frames]


def probs(results: list[FrameResult]) -> np.ndarray:
    return np.stack([r.prob.numpy() for r in results if r.prob is not None])


def test_flip_is_exactly_mirror_symmetric(tiny_net: XMem) -> None:
    """The two views swap roles on the mirrored video: its masks are the mirror image of the
    video's, to the bit. One engine alone is not symmetric (the check can fail)."""
    mask = ids(0)
    for flip in (True, False):
        seen = run(tiny_net, FRAMES, mask, flip)
        back = run(tiny_net, mirrored(FRAMES), np.ascontiguousarray(mask[:, ::-1]), flip)
        difference = np.abs(probs(seen) - probs(back)[..., ::-1]).max()
        if flip:
            assert difference == 0
            for a, b in zip(seen, back, strict=True):
                np.testing.assert_array_equal(a.mask, b.mask[:, ::-1])
        else:
            assert difference > 1e-4


def test_the_given_mask_is_the_first_result(tiny_net: XMem) -> None:
    results = run(tiny_net, FRAMES[:4], ids(0), flip=True)
    np.testing.assert_array_equal(results[0].mask, ids(0))
    assert all(r.object_ids == (1,) for r in results)


def test_both_views_remember_the_mean(tiny_net: XMem, monkeypatch: pytest.MonkeyPatch) -> None:
    """What each engine writes to memory is the mean of the two views, mirrored for the
    mirror: not its own prediction."""
    written: dict[int, list[torch.Tensor]] = {}
    segmented: dict[int, list[torch.Tensor]] = {}
    memorise, segment = InferenceCore._memorise, InferenceCore.segment

    def record_memorise(self: InferenceCore, image, kf, prob, plan) -> None:  # type: ignore[no-untyped-def]
        written.setdefault(id(self), []).append(prob.clone())
        memorise(self, image, kf, prob, plan)

    def record_segment(self: InferenceCore, *args, **kwargs):  # type: ignore[no-untyped-def]
        s = segment(self, *args, **kwargs)
        if s is not None:
            segmented.setdefault(id(self), []).append(unpad(s.prob, s.pad).clone())
        return s

    monkeypatch.setattr(InferenceCore, "_memorise", record_memorise)
    monkeypatch.setattr(InferenceCore, "segment", record_segment)
    options = TrackOptions(size=-1, flip=True, config=xmem.InferenceConfig(mem_every=1))
    tracker = Tracker(tiny_net, options)
    list(tracker.track(FRAMES[:5], {0: ids(0)}))
    engine = tracker.current
    assert isinstance(engine, FlipEnsemble)
    main, mirror = written[id(engine.main)], written[id(engine.mirror)]
    assert len(main) == len(mirror) == 4  # every frame but the last
    for t, (a, b) in enumerate(zip(main, mirror, strict=True)):
        torch.testing.assert_close(a, b.flip(-1), rtol=0, atol=0)
        if t > 0:  # a predicted frame: the mean of the views, which differ
            own, other = segmented[id(engine.main)][t], segmented[id(engine.mirror)][t]
            torch.testing.assert_close(a, (own + other.flip(-1)) / 2, rtol=0, atol=0)
            assert (own - other.flip(-1)).abs().max() > 1e-4


def test_flip_is_the_network_default_unless_given(tiny_net: XMem) -> None:
    """Like the size and the adaptation steps: None takes the network's own default (True
    for xmem-lite0), and an explicit value wins either way."""
    assert tiny_net.default_flip is False
    assert isinstance(Tracker(tiny_net, TrackOptions(size=-1)).engine(), InferenceCore)
    assert isinstance(Tracker(tiny_net, TrackOptions(size=-1, flip=True)).engine(), FlipEnsemble)
    tiny_net.default_flip = True
    try:
        assert isinstance(Tracker(tiny_net, TrackOptions(size=-1)).engine(), FlipEnsemble)
        tracker = Tracker(tiny_net, TrackOptions(size=-1, flip=False))
        assert not tracker.flip and isinstance(tracker.engine(), InferenceCore)
    finally:
        del tiny_net.default_flip  # the class's False again


def test_objects_are_deleted_from_both_views(tiny_net: XMem) -> None:
    tracker = Tracker(tiny_net, TrackOptions(size=-1, flip=True))
    two = ids(0) + (ids(5) > 0) * (ids(0) == 0) * 2
    list(tracker.track(FRAMES[:3], {0: two.astype(np.uint8)}))
    engine = tracker.current
    assert isinstance(engine, FlipEnsemble)
    assert engine.object_ids == engine.mirror.object_ids == [1, 2]
    engine.delete_objects([1])
    assert engine.object_ids == engine.mirror.object_ids == [2]
