"""Short, one-line descriptions of the exceptions raised by PIL and PyAV."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import av.error
from PIL import ImageFile, UnidentifiedImageError

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


_STRICT = threading.Lock()


@contextmanager
def strict_decoding() -> Iterator[None]:
    """Decode with truncated images as errors, whatever the process-wide PIL setting.

    Some libraries (the Supervisely SDK among them) set ``ImageFile.LOAD_TRUNCATED_IMAGES`` at
    import, which makes PIL pad a truncated file silently. It is turned off around our decoding
    only while it is on, under a lock, and restored.
    """
    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        yield
        return
    with _STRICT:
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved
