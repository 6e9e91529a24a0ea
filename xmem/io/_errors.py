"""Short, one-line descriptions of the exceptions raised by PIL and PyAV."""

from __future__ import annotations

import av.error
from PIL import UnidentifiedImageError

# Exceptions PIL raises for unreadable, truncated or corrupt image data.
PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)
# Exceptions PyAV raises for unreadable or corrupt media.
AV_ERRORS = (av.error.FFmpegError, OSError)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "unknown error"


def pil_reason(exc: BaseException) -> str:
    """Why PIL failed, in a few words (without repeating the file name)."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image file"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _first_line(str(exc))


def av_reason(exc: BaseException) -> str:
    """Why PyAV/FFmpeg failed, without FFmpeg's errno and file name."""
    return _first_line(str(getattr(exc, "strerror", None) or exc))
