"""Memory manager: reading, writing, and the working ↔ long-term transitions.

Holds the three memories of XMem for one video: sensory (hidden state per object), working
memory (recent memory frames) and long-term memory (consolidated prototypes). Per object group
it follows the original algorithm exactly; its memory is bounded on any video length:
working memory ≤ T_max frames per group, long-term memory ≤ LT_max elements per group.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from xmem.memory.config import MemoryConfig
from xmem.memory.ops import (
    READS,
    TopK,
    memory_operand,
    query_operand,
    readout,
    similarity,
    similarity_qm,
    sparse_readout,
    sparse_usage,
    topk_affinity,
    topk_read,
)
from xmem.memory.store import Bucket, KeyValueMemoryStore

logger = logging.getLogger(__name__)

# queries whose similarities to the memory are computed at a time (sparse top-k read): a
# frame of 240p has 405 (one chunk, as unchunked), one of 480p 1620
QUERY_CHUNK = 512


def max_pinned(min_mid_term_frames: int, max_mid_term_frames: int) -> int:
    """Frames that may be pinned per group: working memory (T_max frames) must keep at least
    one frame to consolidate besides the kept ones and the last T_min − 1, or it would grow."""
    return max(0, max_mid_term_frames - min_mid_term_frames - 1)


class SimilarityBuffer:
    """The CPU buffer that a memory read writes its similarities into (up to QUERY_CHUNK×M),
    grown when too small. On the CPU a fresh result costs a page fault per 4 KiB (a third of
    the product's time); the buffer costs peak memory instead. Memories that never read at
    the same time (the two views of a test-time flip) can share one."""

    def __init__(self) -> None:
        self._buffer: Tensor | None = None

    def view(self, q: int, m: int, like: Tensor) -> Tensor:
        """A Q×M float32 view, on ``like``'s device."""
        if self._buffer is None or self._buffer.numel() < q * m:
            self._buffer = like.new_empty(q * m, dtype=torch.float32)
        return self._buffer[: q * m].view(q, m)


class MemoryManager:
    """The memory of one video, kept and read as ``config`` says (an ``InferenceConfig`` is
    a :class:`MemoryConfig`); ``similarity`` is the CPU similarity buffer, its own unless
    shared."""

    def __init__(
        self, config: MemoryConfig | None = None, similarity: SimilarityBuffer | None = None
    ) -> None:
        c = self.config = config or MemoryConfig()
        self.top_k = c.top_k  # k
        self.enable_long_term = c.enable_long_term
        self.min_mid_term_frames = c.min_mid_term_frames  # T_min
        self.max_mid_term_frames = c.max_mid_term_frames  # T_max
        self.num_prototypes = c.num_prototypes  # P
        self.max_long_term_elements = c.max_long_term_elements  # LT_max
        self._read = READS[c.memory_read]
        self.work_mem = KeyValueMemoryStore(count_usage=c.enable_long_term)
        self.long_mem = KeyValueMemoryStore(count_usage=c.enable_long_term_count_usage)
        # elements (h·w positions) per memory frame, fixed by the first write
        self.frame_elements: int | None = None
        self._sensory: Tensor | None = None  # 1×N×CH×h×w in object-slot order
        # Kept between reads while the memory is unchanged (4 of 5 frames by default): per
        # group, the memory side of the similarity over long-term + working memory; and, on
        # the CPU, one similarity buffer reused by every read (see _sim_out).
        self._operands: dict[tuple[int, bool], Tensor] = {}  # (group, with selection)
        self._similarity = similarity or SimilarityBuffer()
        # per group, memory frames at the front of working memory that are never consolidated
        # or trimmed: the first one (as the original) and the pinned ones (:meth:`pin_last`)
        self._kept: dict[int, int] = {}

    @property
    def max_pinned(self) -> int:
        return max_pinned(self.min_mid_term_frames, self.max_mid_term_frames)

    def kept_frames(self, group: int) -> int:
        return self._kept.get(group, 1)

    def pin_last(self, group: int) -> bool:
        """Keep the last memory frame of ``group`` for the rest of the video (moved next to the
        kept frames at the front of working memory). False when :attr:`max_pinned` frames
        are pinned already, or the group has no frame besides its first."""
        hw = self.frame_elements
        kept = self.kept_frames(group)
        if hw is None or kept - 1 >= self.max_pinned or self.work_mem.size(group) <= kept * hw:
            return False
        size = self.work_mem.size(group)
        order = torch.arange(size, device=self.work_mem.buckets[group].key.device)
        order = torch.cat([order[: kept * hw], order[size - hw :], order[kept * hw : size - hw]])
        self.work_mem.buckets[group].select(order)
        self._kept[group] = kept + 1
        self._forget(group)
        return True

    def frames(self, group: int) -> dict[str, int]:
        """What ``group`` holds, in frames: working memory frames (of which pinned) and
        long-term prototypes."""
        hw = self.frame_elements or 1
        return {
            "working": self.work_mem.size(group) // hw,
            "pinned": self.kept_frames(group) - 1 if group in self.work_mem else 0,
            "long_term": self.long_mem.size(group),
        }

    # ---------------------------------------------------------------- reading
    def has_memory(self, group: int) -> bool:
        return group in self.work_mem

    def read(
        self, query_key: Tensor, query_selection: Tensor | None, groups: Sequence[int]
    ) -> Tensor:
        """Read the memory of ``groups`` (in that order) for one query frame.

        query_key, query_selection: CK×h×w. Returns readout N×CV×h×w for the objects of the
        groups, concatenated in group order. Updates usage counters.
        """
        h, w = query_key.shape[-2:]
        qk = query_key.flatten(1)
        qe = query_selection.flatten(1) if query_selection is not None else None
        outputs = [self._read_group(g, qk, qe) for g in groups]
        out = torch.cat(outputs, dim=0)
        return out.view(out.shape[0], out.shape[1], h, w)

    def _read_group(self, group: int, qk: Tensor, qe: Tensor | None) -> Tensor:
        work = self.work_mem.buckets[group]
        long = self.long_mem.buckets.get(group) if self.enable_long_term else None
        parts: list[Bucket] = [long, work] if long is not None else [work]
        m_long = long.size if long is not None else 0
        if self._read is not topk_read or self.top_k is None or self.top_k >= m_long + work.size:
            out, used = self._read(parts, qk, qe, self.top_k)
            self._update_usage(group, used, m_long)
            return out
        # top-k, kept sparse: the same affinity without the dense M×Q products
        operand = self._memory_operand(group, parts, qe is not None)
        affinity = self._topk_affinity(operand, query_operand(qk, qe), self.top_k)
        m = operand.shape[0]
        self._update_usage(group, sparse_usage(affinity, m), m_long)
        value = torch.cat([p.value for p in parts], dim=-1)  # N×CV×M
        n, cv = value.shape[:2]
        return sparse_readout(affinity, value.flatten(0, 1)).view(n, cv, -1)

    def _topk_affinity(self, operand: Tensor, query: Tensor, top_k: int) -> TopK:
        """:func:`topk_affinity` of the similarity of the memory side ``operand`` (M×·) and
        the query side ``query`` (·×Q), QUERY_CHUNK queries at a time: each query's top-k
        needs only its own row of similarities, so the Q×M matrix is never whole (at 480p
        it would take up to 170 MB)."""
        pieces = []
        for start in range(0, query.shape[-1], QUERY_CHUNK):
            chunk = query[:, start : start + QUERY_CHUNK]
            sim = similarity_qm(operand, chunk, out=self._sim_out(chunk, operand))
            pieces.append(topk_affinity(sim, top_k))
        if len(pieces) == 1:
            return pieces[0]
        return TopK(*(torch.cat(p, dim=0) for p in zip(*pieces, strict=True)))

    def _memory_operand(self, group: int, parts: list[Bucket], selection: bool) -> Tensor:
        operand = self._operands.get((group, selection))
        if operand is None:
            key = torch.cat([p.key for p in parts], dim=-1)
            shrinks = [p.shrinkage for p in parts if p.shrinkage is not None]
            shrinkage = torch.cat(shrinks, dim=-1) if len(shrinks) == len(parts) else None
            operand = self._operands[group, selection] = memory_operand(key, shrinkage, selection)
        return operand

    def _forget(self, group: int) -> None:
        self._operands.pop((group, True), None)
        self._operands.pop((group, False), None)

    def _sim_out(self, qk: Tensor, operand: Tensor) -> Tensor | None:
        """A Q×M float32 view of the CPU similarity buffer (:class:`SimilarityBuffer`). CUDA's
        caching allocator already reuses blocks, and a buffer held there would only raise
        the peak."""
        if qk.device.type != "cpu":
            return None
        return self._similarity.view(qk.shape[-1], operand.shape[0], qk)

    def _update_usage(self, group: int, used: Tensor, m_long: int) -> None:
        self.work_mem.update_usage(group, used[m_long:])
        if m_long:
            self.long_mem.update_usage(group, used[:m_long])

    # ---------------------------------------------------------------- writing
    def write(
        self,
        key: Tensor,
        shrinkage: Tensor,
        selection: Tensor | None,
        values: Mapping[int, Tensor],
    ) -> None:
        """Add one memory frame. key CK×h×w, shrinkage 1×h×w, selection CK×h×w or None;
        values: group → N_g×CV×h×w. Then consolidate or trim where a group is full."""
        hw = key.shape[-2] * key.shape[-1]
        if self.frame_elements is None:
            self.frame_elements = hw
        elif hw != self.frame_elements:
            raise ValueError(
                f"memory frames must keep one size: {hw} elements, expected {self.frame_elements}"
            )
        k, s = key.flatten(1), shrinkage.flatten(1)
        e = selection.flatten(1) if selection is not None else None
        for group, value in values.items():
            self._forget(group)
            self.work_mem.add(group, k, s, e, value.flatten(2))
            if self.work_mem.size(group) < self.max_mid_term_frames * hw:
                continue
            if self.enable_long_term:
                if self.long_mem.size(group) >= self.max_long_term_elements - self.num_prototypes:
                    self.long_mem.prune(group, self.max_long_term_elements - self.num_prototypes)
                self._consolidate(group)
            elif self.work_mem.size(group) > self.max_mid_term_frames * hw:
                # no long-term memory: keep the first (and pinned) frames and the latest ones
                excess = self.work_mem.size(group) - self.max_mid_term_frames * hw
                kept = self.kept_frames(group) * hw
                self.work_mem.remove_range(group, kept, kept + excess)

    def _consolidate(self, group: int) -> None:
        """Turn the middle of working memory into P prototypes in long-term memory.

        Candidates: every element after the first memory frame (and the pinned ones) and before
        the last T_min − 1 frames. Prototype keys are the most used candidates; values and
        shrinkage are an affinity-weighted sum over all candidates (potentiation).
        """
        hw = self.frame_elements
        assert hw is not None
        work = self.work_mem.buckets[group]
        start, end = self.kept_frames(group) * hw, work.size - (self.min_mid_term_frames - 1) * hw
        if end <= start:
            return
        cand_key = work.key[:, start:end]
        cand_shrinkage = work.shrinkage[:, start:end] if work.shrinkage is not None else None
        cand_selection = work.selection[:, start:end] if work.selection is not None else None
        cand_usage = self.work_mem.usage(group)[start:end]
        k = min(self.num_prototypes, end - start)
        index = torch.topk(cand_usage, k=k, dim=-1, sorted=True).indices
        proto_key = cand_key[:, index]
        proto_selection = cand_selection[:, index] if cand_selection is not None else None
        sim = similarity(cand_key, cand_shrinkage, proto_key, proto_selection)
        affinity = torch.softmax(sim, dim=0)  # over candidates
        proto_value = readout(affinity, work.value[:, :, start:end])
        proto_shrinkage = readout(affinity, cand_shrinkage) if cand_shrinkage is not None else None
        self.work_mem.remove_range(group, start, end)
        self.long_mem.add(group, proto_key, proto_shrinkage, None, proto_value)
        logger.debug("group %d: consolidated %d elements into %d prototypes", group, end - start, k)

    # ---------------------------------------------------------------- sensory memory
    @property
    def sensory(self) -> Tensor | None:
        """The hidden state of every object, 1×N×CH×h×w float32 in object-slot order (None
        before the first object, or for a network without sensory memory)."""
        return self._sensory

    def read_sensory(self, slots: Sequence[int]) -> Tensor | None:
        """The hidden state of the objects at ``slots``: 1×len(slots)×CH×h×w, or None."""
        return self._sensory[:, slots] if self._sensory is not None else None

    def update_sensory(self, hidden: Tensor, slots: Sequence[int] | None = None) -> None:
        """Replace the hidden state of the objects at ``slots`` (None: every object) with
        ``hidden`` (1×len(slots)×CH×h×w, stored as float32)."""
        if self._sensory is None:
            return  # no sensory memory
        if slots is None:
            if hidden.shape != self._sensory.shape:
                raise ValueError(
                    f"hidden state {tuple(hidden.shape)} does not match the sensory memory "
                    f"{tuple(self._sensory.shape)}"
                )
            self._sensory = hidden.float()
        else:
            self._sensory[:, slots] = hidden.float()

    def add_objects(self, n: int, hidden_dim: int, like: Tensor) -> None:
        """Append zero hidden states for ``n`` new objects (``like``: a 1×C×h×w feature map)."""
        if hidden_dim == 0 or n == 0:
            return
        zeros = like.new_zeros((1, n, hidden_dim, *like.shape[-2:]), dtype=torch.float32)
        self._sensory = zeros if self._sensory is None else torch.cat([self._sensory, zeros], 1)

    def remove_objects(self, keep_slots: list[int], keep_rows: Mapping[int, list[int]]) -> None:
        """Keep hidden states at ``keep_slots`` and, per group, the value rows ``keep_rows``."""
        if self._sensory is not None:
            self._sensory = self._sensory[:, keep_slots] if keep_slots else None
        for group, rows in keep_rows.items():
            if not rows:
                self._forget(group)  # the keys of a group that stays are unchanged
                self._kept.pop(group, None)
            self.work_mem.remove_objects(group, rows)
            self.long_mem.remove_objects(group, rows)

    @property
    def num_elements(self) -> dict[str, int]:
        """Element counts of working and long-term memory over all groups."""
        return {"working": self.work_mem.total_size, "long_term": self.long_mem.total_size}
