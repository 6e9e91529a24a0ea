"""Fields of the tracking requests, checked one at a time, and the frame range they name.

Every mistake in a request is a :class:`RequestError` with the HTTP status to answer (4xx) and a
message naming the field, so nothing is written to the video for a bad request. The four request
formats built from these fields are in :mod:`.protocol`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class RequestError(Exception):
    """A request the app cannot serve: answered with ``status`` and a JSON error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, "success": False}


def pick(data: Mapping[str, Any], *keys: str, default: Any = ...) -> Any:
    """The value of the first key present (the SDK accepts camelCase and snake_case)."""
    for key in keys:
        if key in data:
            return data[key]
    if default is ...:
        raise RequestError(400, f"'{keys[0]}' is missing from the request context")
    return default


def integer(data: Mapping[str, Any], *keys: str, minimum: int = 0, default: Any = ...) -> int:
    value = pick(data, *keys, default=default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RequestError(400, f"'{keys[0]}' must be an integer ≥ {minimum}, got {value!r}")
    return value


def direction(data: Mapping[str, Any]) -> int:
    """+1 for "forward" (the default), -1 for "backward"."""
    value = data.get("direction", "forward")
    if value not in ("forward", "backward"):
        raise RequestError(400, f"'direction' must be 'forward' or 'backward', got {value!r}")
    return 1 if value == "forward" else -1


def direct_session(context: Mapping[str, Any]) -> str | None:
    """The annotation-tool session to send progress and errors to directly
    (``useDirectProgressMessages`` with a ``sessionId``), or None for notifications."""
    session = pick(context, "sessionId", "session_id", default=None)
    if not context.get("useDirectProgressMessages") or session is None:
        return None
    return str(session)


def context_of(body: Any) -> dict[str, Any]:
    """The ``context`` object of a request body (the SDK's envelope)."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object with a 'context'")
    context = body.get("context")
    if not isinstance(context, dict):
        raise RequestError(400, "the request body has no 'context' object")
    return context


@dataclass(frozen=True)
class FrameRange:
    """The source frame and the frames to track from it, in processing order, clipped."""

    source: int
    step: int  # +1 forward, -1 backward
    count: int  # frames tracked after the source (0 when the source is at the video's edge)

    @classmethod
    def clipped(cls, source: int, step: int, frames: int, frames_count: int | None) -> FrameRange:
        if frames_count is not None:
            if source >= frames_count:
                raise RequestError(
                    400, f"'frameIndex' {source} is outside the video ({frames_count} frames)"
                )
            room = frames_count - 1 - source if step > 0 else source
            frames = min(frames, room)
        return cls(source, step, frames)

    @property
    def indexes(self) -> list[int]:
        """Source first, then the tracked frames away from it."""
        return [self.source + self.step * i for i in range(self.count + 1)]

    @property
    def span(self) -> list[int]:
        """[first, last] frame in display order, as progress notifications carry it."""
        ends = (self.source, self.source + self.step * self.count)
        return [min(ends), max(ends)]


def id_list(data: Mapping[str, Any], key: str) -> list[int]:
    values = data.get(key)
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise RequestError(400, f"'{key}' must be a non-empty list of ids")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise RequestError(400, f"'{key}' must hold integer ids, got {list(values)!r}")
    return list(values)
