"""The ``xmem.track`` generator: frame inputs, order, laziness, sizes, late objects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import xmem
from tests.scene import H, N, W, encode_video, frame, ids
from xmem.inference.options import TrackOptions
from xmem.inference.speed import SpeedOptions, prepare_network
from xmem.inference.tracker import DECODE_AHEAD, FrameResult, Tracker
from xmem.io.source import FrameSource
from xmem.model.network import XMem

pytestmark = pytest.mark.usefixtures("one_thread")


FRAMES = [frame(t) for t in range(N)]
ORIGINAL = TrackOptions(size=-1)  # the frames' own resolution


def run(network: XMem, frames: object, annotations: dict, **kwargs: object) -> list[FrameResult]:
    return list(xmem.track(network, frames, annotations, ORIGINAL, **kwargs))  # type: ignore[arg-type]


def masks(results: list[FrameResult]) -> np.ndarray:
    return np.stack([r.mask for r in results])


@pytest.fixture(scope="module")
def forward(tiny_net: XMem) -> list[FrameResult]:
    """The reference run: a list of arrays, annotation on frame 0, original resolution."""
    return run(tiny_net, FRAMES, {0: ids(0)})


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    for t, rgb in enumerate(FRAMES):
        Image.fromarray(rgb).save(folder / f"{t:05d}.png")  # lossless: same pixels as FRAMES
    return folder


@pytest.fixture(scope="module")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_video(tmp_path_factory.mktemp("video") / "clip.mp4", FRAMES, crf=15)


# -- output layout and order -------------------------------------------------------------


def test_one_result_per_frame_in_order(forward: list[FrameResult]) -> None:
    assert [r.index for r in forward] == list(range(N))
    for r in forward:
        assert isinstance(r, FrameResult)
        assert r.mask.shape == (H, W) and r.mask.dtype == np.uint8
        assert r.object_ids == (1,)
        assert r.prob is None
        assert set(np.unique(r.mask)) <= {0, 1}
        assert (r.mask == 1).any(), f"object lost at frame {r.index}"
    # the annotated frame reproduces its annotation
    np.testing.assert_array_equal(forward[0].mask, ids(0))


def test_large_object_ids_give_int32_masks(tiny_net: XMem) -> None:
    big = ids(0).astype(np.int32) * 300
    results = run(tiny_net, FRAMES[:3], {0: big})
    assert [r.object_ids for r in results] == [(300,)] * 3
    assert results[0].mask.dtype == np.int32
    np.testing.assert_array_equal(results[0].mask, big)


# -- laziness ----------------------------------------------------------------------------


class CountingPairs:
    """An iterable of ``(index, frame)`` pairs that records how many were pulled."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.pulled = 0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for t, rgb in enumerate(self.frames):
            self.pulled += 1
            yield t, rgb


class CountingSource(FrameSource):
    """An in-memory FrameSource that records how many frames were decoded."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.names = [f"{t:05d}" for t in range(len(frames))]
        self.height, self.width = frames[0].shape[:2]
        self.fps = 24.0
        self.decoded = 0

    def _read(self, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        for i in indices:
            self.decoded += 1
            yield i, self.frames[i]


@pytest.mark.parametrize("overlap", [False, True], ids=["in-line", "decoding-thread"])
def test_generator_is_lazy(tiny_net: XMem, overlap: bool) -> None:
    pairs = CountingPairs(FRAMES * 3)
    speed = SpeedOptions(overlap_io=overlap)
    results = xmem.track(tiny_net, pairs, {0: ids(0)}, TrackOptions(size=-1, speed=speed))
    assert pairs.pulled == 0  # nothing happens before the first next()
    first, second = next(results), next(results)
    assert (first.index, second.index) == (0, 1)
    # one frame of look-ahead (to know which frame is the last), and the decoding queue
    ahead = 1 + (DECODE_AHEAD + 1 if overlap else 0)
    assert pairs.pulled <= 2 + ahead
    results.close()  # stops the decoding thread: nothing more is read
    pulled = pairs.pulled
    time.sleep(0.3)
    assert pairs.pulled == pulled <= 2 + ahead


def test_frame_source_is_read_lazily(tiny_net: XMem) -> None:
    source = CountingSource(FRAMES)
    results = xmem.track(tiny_net, source, {N - 1: ids(N - 1)}, ORIGINAL, reverse=True)
    assert source.decoded == 0
    assert [next(results).index for _ in range(2)] == [N - 1, N - 2]
    assert source.decoded <= 2 + 1 + DECODE_AHEAD + 1  # look-ahead and decoding queue
    results.close()


@pytest.mark.parametrize("overlap", [False, True], ids=["in-line", "decoding-thread"])
def test_a_frame_range_with_its_frames(
    tiny_net: XMem, forward: list[FrameResult], overlap: bool
) -> None:
    """``indices`` tracks part of a source (only those frames are decoded), and
    ``return_frames`` hands back each frame as read: no caller decodes the video twice."""
    source = CountingSource(FRAMES)
    options = TrackOptions(size=-1, speed=SpeedOptions(overlap_io=overlap))
    tracker = Tracker(tiny_net, options)
    results = list(tracker.track(source, {0: ids(0)}, indices=range(0, 4), return_frames=True))
    assert [r.index for r in results] == [0, 1, 2, 3] and source.decoded == 4
    for r in results:
        assert r.frame is not None and np.array_equal(r.frame, FRAMES[r.index])
        np.testing.assert_array_equal(r.mask, forward[r.index].mask)
    back = list(tracker.track(source, {3: ids(3)}, indices=range(1, 4), reverse=True))
    assert [r.index for r in back] == [3, 2, 1] and back[0].frame is None


def test_a_frame_range_needs_a_source(tiny_net: XMem) -> None:
    with pytest.raises(ValueError, match="indices=... needs a video path or a FrameSource"):
        list(Tracker(tiny_net, ORIGINAL).track(FRAMES, {0: ids(0)}, indices=[0, 1]))


# -- frame inputs ------------------------------------------------------------------------


def test_frames_as_index_frame_pairs(tiny_net: XMem, forward: list[FrameResult]) -> None:
    from_generator = run(tiny_net, ((t, f) for t, f in enumerate(FRAMES)), {0: ids(0)})
    from_list = run(tiny_net, list(enumerate(FRAMES)), {0: ids(0)})
    for results in (from_generator, from_list):
        assert [r.index for r in results] == list(range(N))
        np.testing.assert_array_equal(masks(results), masks(forward))


def test_pairs_keep_their_own_indices(tiny_net: XMem) -> None:
    """Annotations are matched by the index of each pair, not by position."""
    pairs = [(10 + t, f) for t, f in enumerate(FRAMES[:4])]
    results = run(tiny_net, pairs, {11: ids(1)})
    assert [r.index for r in results] == [10, 11, 12, 13]
    assert not results[0].mask.any()
    np.testing.assert_array_equal(results[1].mask, ids(1))


def test_frames_as_folder_path(
    tiny_net: XMem, frame_folder: Path, forward: list[FrameResult]
) -> None:
    for path in (frame_folder, str(frame_folder)):
        results = run(tiny_net, path, {0: ids(0)})
        assert [r.index for r in results] == list(range(N))
        np.testing.assert_array_equal(masks(results), masks(forward))


def test_frames_as_video_path(tiny_net: XMem, video_file: Path) -> None:
    results = run(tiny_net, video_file, {0: ids(0)})
    assert [r.index for r in results] == list(range(N))
    for r in results:
        assert r.mask.shape == (H, W) and r.object_ids == (1,)
        assert (r.mask == 1).any()
    np.testing.assert_array_equal(results[0].mask, ids(0))


def test_frames_as_stacked_array(tiny_net: XMem, forward: list[FrameResult]) -> None:
    results = run(tiny_net, np.stack(FRAMES), {0: ids(0)})
    np.testing.assert_array_equal(masks(results), masks(forward))


# -- order and annotations ---------------------------------------------------------------


def test_reverse_from_the_last_frame(tiny_net: XMem) -> None:
    results = run(tiny_net, FRAMES, {N - 1: ids(N - 1)}, reverse=True)
    assert [r.index for r in results] == list(range(N - 1, -1, -1))
    np.testing.assert_array_equal(results[0].mask, ids(N - 1))
    for r in results:
        assert r.object_ids == (1,)
        assert (r.mask == 1).any(), f"object lost at frame {r.index}"


def test_reverse_video_path(tiny_net: XMem, video_file: Path) -> None:
    results = run(tiny_net, video_file, {N - 1: ids(N - 1)}, reverse=True)
    assert [r.index for r in results] == list(range(N - 1, -1, -1))
    assert all((r.mask == 1).any() for r in results)


def test_reverse_needs_random_access(tiny_net: XMem) -> None:
    pairs = ((t, f) for t, f in enumerate(FRAMES))
    with pytest.raises(ValueError, match="reverse"):
        run(tiny_net, pairs, {0: ids(0)}, reverse=True)


def test_frames_before_the_first_annotation_are_empty(tiny_net: XMem) -> None:
    results = run(tiny_net, FRAMES, {3: ids(3)})
    assert [r.index for r in results] == list(range(N))
    for r in results[:3]:
        assert r.object_ids == ()
        assert r.mask.shape == (H, W) and not r.mask.any()
    np.testing.assert_array_equal(results[3].mask, ids(3))
    for r in results[3:]:
        assert r.object_ids == (1,) and (r.mask == 1).any()


def test_new_object_on_a_later_frame(tiny_net: XMem) -> None:
    """YouTube-VOS style: frame 5's annotation holds only a new object."""
    results = run(tiny_net, FRAMES, {0: ids(0, 1), 5: ids(5, 2)})
    for r in results[:5]:
        assert r.object_ids == (1,)
        assert set(np.unique(r.mask)) <= {0, 1}
    for r in results[5:]:
        assert r.object_ids == (1, 2)
        assert (r.mask == 1).any(), f"object 1 lost at frame {r.index}"
        assert (r.mask == 2).any(), f"object 2 lost at frame {r.index}"
    # at frame 5 the new object is exactly its annotation; object 1 keeps its prediction
    np.testing.assert_array_equal(results[5].mask == 2, ids(5, 2) == 2)


# -- sizes -------------------------------------------------------------------------------


def test_downsampled_processing_returns_full_resolution(tiny_net: XMem) -> None:
    results = list(xmem.track(tiny_net, FRAMES, {0: ids(0)}, TrackOptions(size=32)))
    assert [r.index for r in results] == list(range(N))
    for r in results:
        assert r.mask.shape == (H, W)
        assert (r.mask == 1).any()
    given = ids(0) == 1
    got = results[0].mask == 1
    iou = (given & got).sum() / (given | got).sum()
    assert iou > 0.8


def test_annotation_of_another_size_is_rejected(tiny_net: XMem) -> None:
    wrong = np.zeros((H // 2, W // 2), dtype=np.uint8)
    wrong[4:10, 4:10] = 1
    with pytest.raises(ValueError, match="48×32 but the frame is 96×64"):
        run(tiny_net, FRAMES, {0: wrong})


@pytest.mark.parametrize("size", [0, -2])
def test_invalid_size_is_rejected(tiny_net: XMem, size: int) -> None:
    with pytest.raises(ValueError, match="size"):
        list(xmem.track(tiny_net, FRAMES[:2], {0: ids(0)}, TrackOptions(size=size)))


def test_tiny_object_lost_by_downsampling_is_still_listed(tiny_net: XMem) -> None:
    tiny = ids(0)
    tiny[1, 1] = 2  # one pixel that nearest-neighbour downsampling by 2 skips
    results = list(
        xmem.track(tiny_net, FRAMES[:4], {0: tiny}, TrackOptions(size=32), return_prob=True)
    )
    for r in results:
        assert r.object_ids == (1, 2)
        assert r.prob is not None and r.prob.shape == (3, H, W)


# -- probabilities -----------------------------------------------------------------------


def test_return_prob(tiny_net: XMem) -> None:
    results = list(
        xmem.track(tiny_net, FRAMES[:6], {2: ids(2, 1, 2)}, TrackOptions(size=48), return_prob=True)
    )
    for r in results[:2]:  # nothing tracked yet: background only
        assert r.prob is not None and r.prob.shape == (1, H, W)
        torch.testing.assert_close(r.prob, torch.ones(1, H, W))
    for r in results[2:]:
        assert r.prob is not None
        assert r.prob.shape == (3, H, W) and r.prob.dtype == torch.float32
        assert r.prob.device.type == "cpu"
        assert (r.prob >= 0).all()
        torch.testing.assert_close(r.prob.sum(0), torch.ones(H, W))
        lut = np.array([0, *r.object_ids])
        np.testing.assert_array_equal(lut[r.prob.argmax(0).numpy()], r.mask)


def test_frames_that_are_not_rgb_uint8_are_rejected(tiny_net: XMem) -> None:
    floats = [f.astype(np.float32) / 255 for f in FRAMES[:2]]
    with pytest.raises(ValueError, match="RGB uint8"):
        run(tiny_net, floats, {0: ids(0)})
    with pytest.raises(ValueError, match="N×H×W×3"):
        run(tiny_net, FRAMES[0], {0: ids(0)})


# -- overlapping objects ---------------------------------------------------------------------


def test_object_masks_equal_an_id_map_without_overlap(
    tiny_net: XMem, forward: list[FrameResult]
) -> None:
    given = xmem.ObjectMasks((1,), (ids(0) == 1)[None])
    assert np.array_equal(masks(run(tiny_net, FRAMES, {0: given})), masks(forward))


def test_object_masks_keep_an_object_covered_by_another(tiny_net: XMem) -> None:
    outer = ids(0) == 1
    inner = np.zeros_like(outer)
    ys, xs = np.nonzero(outer)
    inner[ys.min() : ys.min() + 3, xs.min() : xs.min() + 3] = True  # inside the outer object
    given = xmem.ObjectMasks((4, 9), np.stack([outer, inner]))
    results = run(tiny_net, FRAMES, {0: given})
    # an id map would have lost one of them; both are tracked, each with its own channel
    assert all(r.object_ids == (4, 9) for r in results)


@pytest.mark.parametrize(
    "ids_, shape", [((1, 1), (2, H, W)), ((0,), (1, H, W)), ((1, 2), (1, H, W))]
)
def test_object_masks_are_checked(ids_: tuple[int, ...], shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        xmem.ObjectMasks(ids_, np.zeros(shape, bool))


# -- Tracker and TrackOptions --------------------------------------------------------------


def test_a_tracker_tracks_several_videos_like_track(
    tiny_net: XMem, forward: list[FrameResult]
) -> None:
    tracker = Tracker(tiny_net, ORIGINAL)
    assert tracker.network is not tiny_net  # prepared: a copy (batch norm folded)
    for _ in range(2):
        results = list(tracker.track(FRAMES, {0: ids(0)}))
        np.testing.assert_array_equal(masks(results), masks(forward))


def test_a_network_prepared_with_the_same_speed_options_is_used_as_is(tiny_net: XMem) -> None:
    speed = SpeedOptions()
    prepared = prepare_network(tiny_net, speed)
    assert Tracker(prepared, TrackOptions(speed=speed)).network is prepared
    with pytest.raises(ValueError, match="already prepared"):
        Tracker(prepared, TrackOptions(speed=SpeedOptions(channels_last="all")))


def test_the_keyword_options_of_earlier_versions_still_work(
    tiny_net: XMem, forward: list[FrameResult]
) -> None:
    with pytest.warns(DeprecationWarning, match="TrackOptions"):
        results = list(xmem.track(tiny_net, FRAMES, {0: ids(0)}, size=-1, precision="fp32"))
    np.testing.assert_array_equal(masks(results), masks(forward))
    with pytest.raises(TypeError, match="unexpected"):
        xmem.track(tiny_net, FRAMES, {0: ids(0)}, sise=-1)


@pytest.mark.parametrize(
    ("options", "field"), [({"size": 0}, "size"), ({"precision": "fp8"}, "precision")]
)
def test_track_options_name_the_invalid_field(options: dict, field: str) -> None:
    with pytest.raises(xmem.ConfigError, match=f"^{field} ") as caught:
        TrackOptions(**options)
    assert caught.value.fields == (field,)


def test_pinned_frames_stay_in_memory(tiny_net: XMem) -> None:
    """``pinned`` frames are memorised (even off the mem_every schedule) and kept; without
    pins the masks are those of a plain track."""
    tracker = Tracker(tiny_net, TrackOptions(size=-1))
    frames = [frame(t) for t in range(N)]
    plain = [r.mask for r in tracker.track(frames, {0: ids(0, 1, 2)})]
    assert tracker.current is not None
    assert all(m["pinned"] == 0 for m in tracker.current.memory_frames().values())
    unpinned = [r.mask for r in tracker.track(frames, {0: ids(0, 1, 2)}, pinned=())]
    assert all(np.array_equal(a, b) for a, b in zip(plain, unpinned, strict=True))
    list(tracker.track(frames, {0: ids(0, 1, 2)}, pinned={2}))  # 2: not a mem_every frame
    held = tracker.current.memory_frames()
    assert set(held) == {1, 2} and all(m["pinned"] == 1 for m in held.values())
