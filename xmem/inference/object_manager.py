"""Object ids ↔ tensor slots, and object groups.

Objects first given on the same frame form a group; groups are kept in creation order and
the slot order of all tensors (probabilities, hidden state, readout) is the concatenation of
the groups' objects. Ids are arbitrary positive integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class ObjectGroup:
    gid: int
    objects: list[int] = field(default_factory=list)


class ObjectManager:
    def __init__(self) -> None:
        self.groups: list[ObjectGroup] = []
        self._next_gid = 0

    @property
    def ids(self) -> list[int]:
        """All object ids in slot order."""
        return [obj for g in self.groups for obj in g.objects]

    def __len__(self) -> int:
        return sum(len(g.objects) for g in self.groups)

    def __contains__(self, obj: int) -> bool:
        return any(obj in g.objects for g in self.groups)

    def add(self, ids: Iterable[int]) -> ObjectGroup | None:
        """Register the ids not seen before as a new group (in the order given)."""
        new = [i for i in dict.fromkeys(ids) if i not in self]
        for i in new:
            if not isinstance(i, int) or isinstance(i, bool) or i <= 0:
                raise ValueError(f"object ids must be positive integers, got {i!r}")
        if not new:
            return None
        group = ObjectGroup(self._next_gid, new)
        self._next_gid += 1
        self.groups.append(group)
        return group

    def slot(self, obj: int) -> int:
        return self.ids.index(obj)

    def slots(self, group: ObjectGroup) -> list[int]:
        """Slots of a group's objects."""
        start = 0
        for g in self.groups:
            if g is group:
                return list(range(start, start + len(g.objects)))
            start += len(g.objects)
        raise KeyError(group.gid)

    def remove(self, ids: Sequence[int]) -> tuple[list[int], dict[int, list[int]]]:
        """Forget objects. Returns the slots to keep (old numbering) and, for every group
        that changed, the rows of its values to keep (empty list: group deleted)."""
        unknown = [i for i in ids if i not in self]
        if unknown:
            raise KeyError(f"unknown object ids {unknown}")
        drop = set(ids)
        keep_slots = [s for s, obj in enumerate(self.ids) if obj not in drop]
        keep_rows: dict[int, list[int]] = {}
        for g in self.groups:
            rows = [r for r, obj in enumerate(g.objects) if obj not in drop]
            if len(rows) != len(g.objects):
                keep_rows[g.gid] = rows
            g.objects = [obj for obj in g.objects if obj not in drop]
        self.groups = [g for g in self.groups if g.objects]
        return keep_slots, keep_rows
