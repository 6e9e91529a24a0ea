"""Working / long-term stores and the memory manager's transitions."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from xmem.memory.config import MemoryConfig
from xmem.memory.manager import MemoryManager, SimilarityBuffer
from xmem.memory.store import KeyValueMemoryStore


def elements(
    m: int, ck: int = 4, n: int = 2, cv: int = 3, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    key = torch.randn(ck, m, generator=g)
    return key, torch.ones(1, m), torch.ones(ck, m), torch.randn(n, cv, m, generator=g)


def test_add_and_usage_counting() -> None:
    store = KeyValueMemoryStore(count_usage=True)
    store.add(0, *elements(5))
    store.add(0, *elements(3, seed=1))
    assert store.size(0) == 8 and store.total_size == 8
    store.update_usage(0, torch.arange(8.0))
    store.update_usage(0, torch.arange(8.0))
    # life starts at 1e-7 and grows by one per read
    torch.testing.assert_close(store.usage(0), 2 * torch.arange(8.0) / (2 + 1e-7))


def test_remove_range_keeps_the_rest_in_order() -> None:
    store = KeyValueMemoryStore(count_usage=True)
    key, s, e, v = elements(10)
    store.add(0, key, s, e, v)
    store.remove_range(0, 2, 7)
    b = store.buckets[0]
    keep = [0, 1, 7, 8, 9]
    torch.testing.assert_close(b.key, key[:, keep])
    torch.testing.assert_close(b.value, v[:, :, keep])
    assert b.use_count is not None and b.use_count.shape == (5,)


def test_prune_drops_exactly_the_excess_even_with_ties() -> None:
    store = KeyValueMemoryStore(count_usage=True)
    store.add(0, *elements(10))
    usage = torch.tensor([5.0, 0, 0, 0, 3, 0, 9, 0, 1, 2])
    store.update_usage(0, usage)
    store.prune(0, 7)  # drop 3 of the five zero-usage elements (the original dropped all five)
    assert store.size(0) == 7
    kept = (store.usage(0) * (1 + 1e-7)).round()
    assert sorted(kept.tolist()) == [0, 0, 0, 1, 2, 3, 5, 9][1:]
    store.prune(0, 7)  # at the limit: nothing to do (the original crashed here)
    assert store.size(0) == 7


def test_prune_without_usage_drops_oldest() -> None:
    store = KeyValueMemoryStore(count_usage=False)
    key, s, e, v = elements(6)
    store.add(0, key, s, None, v)
    store.prune(0, 4)
    torch.testing.assert_close(store.buckets[0].key, key[:, 2:])


def test_remove_objects_and_groups() -> None:
    store = KeyValueMemoryStore(count_usage=False)
    key, s, e, v = elements(4, n=3)
    store.add(0, key, s, e, v)
    store.add(1, key, s, e, v[:1])
    store.remove_objects(0, [0, 2])
    torch.testing.assert_close(store.buckets[0].value, v[[0, 2]])
    store.remove_objects(1, [])
    assert 1 not in store and store.total_size == 4


def manager(similarity: SimilarityBuffer | None = None, **kw: Any) -> MemoryManager:
    options: dict[str, Any] = dict(
        top_k=5,
        enable_long_term=True,
        enable_long_term_count_usage=True,
        min_mid_term_frames=2,
        max_mid_term_frames=4,
        num_prototypes=3,
        max_long_term_elements=8,
    )
    options.update(kw)
    return MemoryManager(MemoryConfig(**options), similarity)


def frame(
    seed: int, ck: int = 4, hw: int = 4, values: dict[int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
    """A memory frame whose value channel 0 equals key channel 0 (to check alignment)."""
    g = torch.Generator().manual_seed(seed)
    key = 10 * torch.randn(ck, 2, hw // 2, generator=g)  # far apart: affinities ~ one-hot
    vals = {}
    for group, n in (values or {0: 2}).items():
        v = torch.zeros(n, 3, 2, hw // 2)
        v[:, 0] = key[0]
        vals[group] = v
    return key, torch.ones(1, 2, hw // 2), torch.ones(ck, 2, hw // 2), vals


def assert_aligned(mm: MemoryManager) -> None:
    for store in (mm.work_mem, mm.long_mem):
        for b in store.buckets.values():
            assert b.shrinkage is not None
            assert b.value.shape[-1] == b.key.shape[-1] == b.shrinkage.shape[-1]
            torch.testing.assert_close(
                b.value[:, 0], b.key[0].expand_as(b.value[:, 0]), atol=1e-3, rtol=1e-3
            )


def test_consolidation_moves_most_used_candidates_to_long_term() -> None:
    mm = manager()
    q = torch.randn(4, 2, 2)
    for t in range(3):
        mm.write(*frame(t))
        mm.read(q, torch.ones_like(q), [0])
    usage_before = mm.work_mem.usage(0)
    key_before = mm.work_mem.buckets[0].key.clone()
    mm.write(*frame(3))  # 4 frames = T_max: consolidate frames 1..2 (T_min - 1 = 1 kept)
    assert mm.work_mem.size(0) == 2 * 4 and mm.long_mem.size(0) == 3
    cand = usage_before[4:12]
    expected = key_before[:, 4:12][:, cand.topk(3).indices]
    torch.testing.assert_close(mm.long_mem.buckets[0].key, expected)
    assert_aligned(mm)


def test_long_term_with_late_groups_stays_aligned_and_bounded() -> None:
    mm = manager()
    q = torch.randn(4, 2, 2)
    groups = {0: 2}
    for t in range(40):
        if t == 5:
            groups[1] = 1  # an object appears later: a second group
        if t == 9:
            groups[2] = 2
        mm.write(*frame(t, values=dict(groups)))
        out = mm.read(q, torch.ones_like(q), sorted(groups))
        assert out.shape[0] == sum(groups.values()) and torch.isfinite(out).all()
        for g in groups:
            assert mm.work_mem.size(g) <= 4 * 4
            assert mm.long_mem.size(g) <= 8
    assert all(mm.long_mem.size(g) > 0 for g in groups)  # every group was pruned and still reads
    assert_aligned(mm)


def test_without_long_term_working_memory_is_a_bounded_fifo() -> None:
    mm = manager(enable_long_term=False)
    first = frame(0)
    mm.write(*first)
    for t in range(1, 12):
        mm.write(*frame(t))
    b = mm.work_mem.buckets[0]
    assert b.size == 4 * 4
    torch.testing.assert_close(b.key[:, :4], first[0].flatten(1))  # first frame pinned
    torch.testing.assert_close(b.key[:, -4:], frame(11)[0].flatten(1))


def test_read_cache_gives_what_a_fresh_read_gives() -> None:
    """Between writes a manager keeps the memory side of the similarity and a Q×M buffer.
    Every read must equal a read that recomputes everything, through new groups, working
    memory growth, consolidation, long-term pruning and deleted objects."""
    cached, fresh = manager(), manager()
    groups = {0: 2}
    g = torch.Generator().manual_seed(5)
    for t in range(30):
        if t == 4:
            groups[1] = 1
        if t % 2 == 0:  # two reads per write: the second uses the cache
            for mm in (cached, fresh):
                mm.write(*frame(t, values=dict(groups)))
        if t == 21:
            for mm in (cached, fresh):
                mm.remove_objects([0, 2], {0: [0], 1: [0]})
            groups[0] = 1
        q, e = torch.randn(4, 2, 2, generator=g), torch.rand(4, 2, 2, generator=g)
        fresh._operands.clear()
        fresh._similarity = SimilarityBuffer()
        expected = fresh.read(q, e, sorted(groups))
        assert torch.equal(cached.read(q, e, sorted(groups)), expected), t
    assert cached.long_mem.size(0) > 0 and cached.long_mem.size(1) > 0  # the sparse path ran
    for store in ("work_mem", "long_mem"):
        for gid in groups:
            a, b = getattr(cached, store).buckets[gid], getattr(fresh, store).buckets[gid]
            assert torch.equal(a.use_count, b.use_count)  # type: ignore[arg-type]
    cached.remove_objects([0], {0: [0], 1: []})  # a deleted group's cached operand is freed
    assert {gid for gid, _ in cached._operands} == {0}


def test_similarity_buffer_is_reused_once_memory_stops_growing() -> None:
    mm = manager()
    q = torch.randn(4, 2, 2)
    pointers = set()
    for t in range(20):
        mm.write(*frame(t))
        mm.read(q, torch.ones_like(q), [0])
        if t >= 10:
            assert mm._similarity._buffer is not None
            pointers.add(mm._similarity._buffer.data_ptr())
    assert len(pointers) == 1


def test_memories_that_share_a_similarity_buffer_read_as_their_own() -> None:
    """Two memories reading one after the other (a flip's two views) share one buffer and
    read exactly what each reads with a buffer of its own."""
    shared = SimilarityBuffer()
    pairs = [(manager(similarity=shared), manager()) for _ in range(2)]
    g = torch.Generator().manual_seed(7)
    for t in range(20):
        for i, (a, b) in enumerate(pairs):
            if t % 2 == 0:
                for mm in (a, b):
                    mm.write(*frame(t + 100 * i))
            q, e = torch.randn(4, 2, 2, generator=g), torch.rand(4, 2, 2, generator=g)
            assert torch.equal(a.read(q, e, [0]), b.read(q, e, [0])), (t, i)
    assert pairs[0][0].long_mem.size(0) > 0  # the sparse path, which uses the buffer, ran
    assert shared._buffer is not None


@pytest.mark.parametrize("long_term", [True, False])
def test_a_pinned_frame_stays_in_working_memory(long_term: bool) -> None:
    """Pinned frames (issue 24) survive every consolidation or trim, memory stays bounded
    and keys stay aligned with values; at most T_max − T_min − 1 frames are pinned."""
    mm = manager(min_mid_term_frames=2, max_mid_term_frames=6, enable_long_term=long_term)
    assert mm.max_pinned == 3
    q = torch.randn(4, 2, 2)
    pinned_keys = []
    for t in range(40):
        key, shrinkage, selection, values = frame(t)
        mm.write(key, shrinkage, selection, values)
        mm.read(q, torch.ones_like(q), [0])
        if t in (3, 9, 15, 21):
            pinned = mm.pin_last(0)
            assert pinned == (t != 21)  # the fourth is refused
            if pinned:
                pinned_keys.append(key.flatten(1))
        assert mm.work_mem.size(0) <= 6 * 4
        assert_aligned(mm)
    work = mm.work_mem.buckets[0].key
    first = frame(0)[0].flatten(1)
    torch.testing.assert_close(work[:, :4], first)  # the first frame, as the original keeps
    for k, key in enumerate(pinned_keys, start=1):
        torch.testing.assert_close(work[:, 4 * k : 4 * (k + 1)], key)
    held = mm.frames(0)
    assert held["pinned"] == 3 and 4 <= held["working"] <= 6
    assert held["long_term"] == mm.long_mem.size(0) and (held["long_term"] > 0) == long_term


def test_reading_queries_in_chunks_reads_as_one_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sparse top-k read takes QUERY_CHUNK queries at a time: with chunks of 3 of the 4
    queries (two uneven chunks) every read and usage count is the one-product read's, up to
    float rounding (a smaller product may sum in another order)."""
    import xmem.memory.manager as manager_module

    whole, chunked = manager(), manager()
    g = torch.Generator().manual_seed(11)
    for t in range(24):
        if t % 2 == 0:
            for mm in (whole, chunked):
                mm.write(*frame(t))
        q, e = torch.randn(4, 2, 2, generator=g), torch.rand(4, 2, 2, generator=g)
        expected = whole.read(q, e, [0])
        monkeypatch.setattr(manager_module, "QUERY_CHUNK", 3)
        got = chunked.read(q, e, [0])
        monkeypatch.setattr(manager_module, "QUERY_CHUNK", 512)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5, msg=str(t))
    assert chunked.long_mem.size(0) > 0  # the sparse path ran
    a, b = whole.work_mem.buckets[0].use_count, chunked.work_mem.buckets[0].use_count
    assert a is not None and b is not None
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
