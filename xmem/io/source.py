"""The :class:`FrameSource` interface shared by image folders and video files."""

from __future__ import annotations

import abc
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from xmem.errors import XMemError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")

_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(name: str) -> tuple[tuple[object, ...], str]:
    """Sort key that orders embedded numbers by value, so ``frame_2 < frame_10``.

    Zero-padded names such as ``00000`` keep their lexicographic order; ties between
    equal numeric values (``a01`` / ``a1``) are broken by the plain name.
    """
    parts = _DIGITS.split(name)
    key = tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts))
    return key, name


logger = logging.getLogger(__name__)


def visible_files(folder: Path, extensions: Sequence[str], kind: str) -> list[Path]:
    """Regular, non-hidden files of ``folder`` (sorted by name); hidden files and subfolders
    are ignored, any file with another extension is a stray file (XMemError)."""
    files: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_dir():
            logger.debug("ignoring %s", entry)
            continue
        if entry.suffix.lower() not in extensions:
            raise XMemError(
                f"stray file '{entry.name}' in {kind} folder '{folder}'; remove it or move it "
                f"elsewhere ({kind} must be {', '.join(extensions)} files)"
            )
        files.append(entry)
    return files


class FrameSource(abc.ABC):
    """A finite sequence of RGB frames of one size.

    Attributes:
        names: frame stems in display order (for videos ``"00000"``, ``"00001"``, ...).
        height, width: frame size in pixels.
        fps: frames per second (24.0 for image folders).
        path: where the frames come from.
    """

    names: list[str]
    height: int
    width: int
    fps: float

    def __len__(self) -> int:
        return len(self.names)

    def read(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for every index, in exactly the order given.

        ``frame`` is an RGB ``uint8`` array of shape ``(height, width, 3)``. Decoding is
        lazy: a frame is decoded when the iterator reaches it.
        """
        indices = [int(i) for i in indices]
        n = len(self)
        for i in indices:
            if not 0 <= i < n:
                raise IndexError(f"frame index {i} out of range for {n} frames")
        return self._read(indices)

    @abc.abstractmethod
    def _read(self, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Implementation of :meth:`read`; indices are already validated."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release any open file handles. Safe to call more than once."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
