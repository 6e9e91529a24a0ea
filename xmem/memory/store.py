"""Key-value memory store, used twice: as working memory and as long-term memory.

Elements are kept per *object group* (objects first given on the same frame). Each group has
its own keys, shrinkage, selection, usage counters and values, so keys and values of a group
always stay aligned whatever is consolidated or pruned (the original shares one key tensor
between groups whose values cover different frames, and misaligns them in long-term memory).
With one group this is exactly the original store.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Bucket:
    """The memory of one object group. M elements; N_g objects."""

    key: Tensor  # CK×M
    shrinkage: Tensor | None  # 1×M
    selection: Tensor | None  # CK×M (working memory only)
    value: Tensor  # N_g×CV×M
    use_count: Tensor | None  # M, float32
    life_count: Tensor | None  # M, float32

    @property
    def size(self) -> int:
        return self.key.shape[-1]

    def select(self, index: Tensor) -> None:
        """Keep only the elements at ``index`` (long indices or a bool mask over M)."""
        self.key = self.key[:, index]
        self.value = self.value[:, :, index]
        if self.shrinkage is not None:
            self.shrinkage = self.shrinkage[:, index]
        if self.selection is not None:
            self.selection = self.selection[:, index]
        if self.use_count is not None and self.life_count is not None:
            self.use_count = self.use_count[index]
            self.life_count = self.life_count[index]


def _cat(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None or b is None:
        return None
    return torch.cat([a, b], dim=-1)


class KeyValueMemoryStore:
    """Memory elements of every object group, with optional usage counting."""

    def __init__(self, count_usage: bool) -> None:
        self.count_usage = count_usage
        self.buckets: dict[int, Bucket] = {}

    def __contains__(self, group: int) -> bool:
        return group in self.buckets

    def size(self, group: int) -> int:
        bucket = self.buckets.get(group)
        return 0 if bucket is None else bucket.size

    @property
    def total_size(self) -> int:
        """Elements over all groups."""
        return sum(b.size for b in self.buckets.values())

    def add(
        self,
        group: int,
        key: Tensor,
        shrinkage: Tensor | None,
        selection: Tensor | None,
        value: Tensor,
    ) -> None:
        """Append elements: key CK×M, shrinkage 1×M, selection CK×M, value N_g×CV×M."""
        m = key.shape[-1]
        use = life = None
        if self.count_usage:
            use = torch.zeros(m, device=key.device, dtype=torch.float32)
            life = torch.full((m,), 1e-7, device=key.device, dtype=torch.float32)
        bucket = self.buckets.get(group)
        if bucket is None:
            self.buckets[group] = Bucket(key, shrinkage, selection, value, use, life)
            return
        if bucket.value.shape[0] != value.shape[0]:
            raise ValueError(
                f"group {group} holds {bucket.value.shape[0]} objects, got {value.shape[0]}"
            )
        bucket.key = torch.cat([bucket.key, key], dim=-1)
        bucket.shrinkage = _cat(bucket.shrinkage, shrinkage)
        bucket.selection = _cat(bucket.selection, selection)
        bucket.value = torch.cat([bucket.value, value], dim=-1)
        if use is not None and life is not None:
            assert bucket.use_count is not None and bucket.life_count is not None, (
                "a store counts usage from its first write or never"
            )
            bucket.use_count = torch.cat([bucket.use_count, use])
            bucket.life_count = torch.cat([bucket.life_count, life])

    def update_usage(self, group: int, usage: Tensor) -> None:
        """Add one read's usage (M) to the use counts; every element lives one read longer."""
        if not self.count_usage:
            return
        bucket = self.buckets[group]
        assert bucket.use_count is not None and bucket.life_count is not None
        bucket.use_count += usage.float()
        bucket.life_count += 1

    def usage(self, group: int) -> Tensor:
        """Normalised usage ``use_count / life_count`` (M)."""
        bucket = self.buckets[group]
        if bucket.use_count is None or bucket.life_count is None:
            raise RuntimeError("this store does not count usage")
        return bucket.use_count / bucket.life_count

    def remove_range(self, group: int, start: int, end: int) -> None:
        """Delete elements ``start:end`` of a group."""
        bucket = self.buckets[group]
        keep = torch.ones(bucket.size, dtype=torch.bool, device=bucket.key.device)
        keep[start:end] = False
        bucket.select(keep)

    def prune(self, group: int, max_size: int) -> None:
        """Drop exactly ``size − max_size`` elements: the least used ones, or the oldest when
        usage is not counted. Order of the survivors is kept."""
        bucket = self.buckets[group]
        excess = bucket.size - max_size
        if excess <= 0:
            return
        keep = torch.ones(bucket.size, dtype=torch.bool, device=bucket.key.device)
        if self.count_usage:
            drop = torch.topk(self.usage(group), k=excess, largest=False, sorted=True).indices
            keep[drop] = False
        else:
            keep[:excess] = False
        bucket.select(keep)

    def remove_objects(self, group: int, keep_rows: list[int]) -> None:
        """Keep only value rows ``keep_rows`` of a group; the group is deleted when none remain."""
        if group not in self.buckets:
            return
        if not keep_rows:
            del self.buckets[group]
            return
        bucket = self.buckets[group]
        bucket.value = bucket.value[keep_rows]
