"""Failures and delays the emulator injects: for one method, from its n-th call, for a
number of calls, and optionally only for calls about one video."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


def video_of(method: str, body: Any) -> int | None:
    """The video a call is about, when it names one."""
    if not isinstance(body, dict):
        return None
    for key in ("videoId", "entityId"):
        if isinstance(body.get(key), int):
            return int(body[key])
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("videoId"), int):
        return int(data["videoId"])
    if method.startswith("videos.") and isinstance(body.get("id"), int):
        return int(body["id"])
    return None


@dataclass
class Fault:
    """Answer ``status`` (None: the real answer) after ``delay`` seconds, for the calls of
    ``method`` (about ``video``, when given) numbered ``first`` … ``first + count - 1``."""

    method: str
    status: int | None = None
    delay: float = 0.0
    first: int = 1  # 1-based, counting only the matching calls
    count: int | None = None  # None: every call from ``first`` on
    video: int | None = None
    seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hit(self, method: str, body: Any) -> bool:
        """Count the call if it matches; True when this call is one the fault applies to."""
        if method != self.method or (
            self.video is not None and video_of(method, body) != self.video
        ):
            return False
        with self._lock:
            self.seen += 1
            n = self.seen
        return n >= self.first and (self.count is None or n < self.first + self.count)
