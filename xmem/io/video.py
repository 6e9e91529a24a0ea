"""Video files as a :class:`~xmem.io.source.FrameSource`, decoded with PyAV.

Opening a video decodes every frame once (without colour conversion) to count the frames
and record their timestamps, so a truncated file is reported before any work starts.
Reading forward decodes sequentially; reading backwards seeks to the keyframe before each
chunk of at most :data:`CHUNK` frames, decodes that chunk forward and yields it reversed,
so memory stays bounded by one chunk whatever the video length.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import av
import av.error
import numpy as np

from xmem.errors import XMemError
from xmem.io._errors import AV_ERRORS, av_reason
from xmem.io.source import FrameSource

logger = logging.getLogger(__name__)

CHUNK = 16  # most frames held in memory when reading backwards
_SKIP_LIMIT = 48  # decode-and-discard forward rather than seek when the gap is this small


class _Resync(Exception):
    """A decoded frame's timestamp did not match the pre-scan; stop trusting seeks."""


class VideoSource(FrameSource):
    """Frames of one video stream; names are ``"00000"``, ``"00001"``, ...

    Not thread-safe; interleaving several :meth:`read` iterators works but is slow.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._frames: Iterator[av.VideoFrame] | None = None  # decoder output at the cursor
        self._next_index = 0  # index of the frame self._frames yields next
        self._epoch = 0  # bumped whenever the cursor is repositioned
        self._pts: list[int | None] = []
        self._prescan()
        self.names = [f"{i:05d}" for i in range(len(self._pts))]
        self._index_of = {pts: i for i, pts in enumerate(self._pts)}
        # Seeking needs a known, strictly increasing timestamp for every frame.
        self._seek_pts = [p for p in self._pts if p is not None]
        self._seekable = len(self._seek_pts) == len(self._pts) and all(
            a < b for a, b in itertools.pairwise(self._seek_pts)
        )
        if not self._seekable:
            logger.warning(
                "video '%s' has missing or unordered timestamps; reading backwards will "
                "re-decode from the start (slow)",
                self.path,
            )

    # -- opening and scanning ------------------------------------------------------------

    def _open(self) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
        try:
            container = av.open(str(self.path), mode="r")
        except AV_ERRORS as exc:
            raise XMemError(f"cannot read video '{self.path}': {av_reason(exc)}") from exc
        if not container.streams.video:
            container.close()
            raise XMemError(f"'{self.path}' has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container, stream

    def _prescan(self) -> None:
        container, stream = self._open()
        size: tuple[int, int] | None = None
        try:
            for frame in container.decode(stream):
                if size is None:
                    size = (frame.width, frame.height)
                elif (frame.width, frame.height) != size:
                    raise XMemError(
                        f"video '{self.path}' changes size at frame {len(self._pts)} "
                        f"({size[0]}x{size[1]} to {frame.width}x{frame.height})"
                    )
                self._pts.append(frame.pts)
        except AV_ERRORS as exc:
            raise XMemError(
                f"video '{self.path}' is truncated or corrupt at frame {len(self._pts)}: "
                f"{av_reason(exc)}"
            ) from exc
        finally:
            announced = stream.frames
            rate = stream.average_rate or stream.guessed_rate
            container.close()
        if size is None:
            raise XMemError(f"video '{self.path}' contains no frames")
        if announced > 0 and len(self._pts) < announced:
            raise XMemError(
                f"video '{self.path}' is truncated or corrupt at frame {len(self._pts)} "
                f"(header announces {announced} frames)"
            )
        self.width, self.height = size
        self.fps = float(rate) if rate else 24.0
        logger.debug(
            "opened video %s: %d frames %dx%d at %.3f fps",
            self.path,
            len(self._pts),
            self.width,
            self.height,
            self.fps,
        )

    def twin(self) -> VideoSource:
        """An independent reader of the same video that shares this one's frame index.

        The twin skips the opening scan (every frame decoded to index the timestamps); it has
        its own decoder, opened on first read, so the two may be used from different threads.
        Closing one does not close the other.
        """
        twin = copy.copy(self)  # the index (_pts, _index_of, _seek_pts) is never modified
        twin._container, twin._stream, twin._frames = None, None, None
        twin._next_index, twin._epoch = 0, 0
        return twin

    def close(self) -> None:
        self._frames = None
        if self._container is not None:
            self._container.close()
            self._container = None
            self._stream = None

    # -- cursor management ---------------------------------------------------------------

    def _restart(self) -> None:
        """Reopen the file and put the cursor on frame 0."""
        self.close()
        self._container, self._stream = self._open()
        self._frames = self._container.decode(self._stream)
        self._next_index = 0

    def _try_seek(self, anchor: int, target: int) -> bool:
        """Seek to the keyframe at/before frame ``anchor``; True if the cursor lands <= target.

        Output before the first keyframe (leading pictures of an open GOP) is discarded.
        """
        self._frames = None  # the old decoder output is invalid once we seek
        if self._container is None or self._stream is None:
            self._container, self._stream = self._open()
        container, stream = self._container, self._stream
        try:
            container.seek(self._seek_pts[anchor], stream=stream, backward=True)
            frames = container.decode(stream)
            for frame in frames:
                index = self._index_of.get(frame.pts)
                if index is None or index > target:
                    return False
                if frame.key_frame:
                    self._frames = itertools.chain([frame], frames)
                    self._next_index = index
                    return True
        except AV_ERRORS as exc:
            logger.debug("seek to frame %d of %s failed: %s", anchor, self.path, exc)
        return False

    def _position(self, target: int) -> None:
        """Make frame ``target`` the next one the cursor yields."""
        self._epoch += 1
        while True:
            try:
                near = self._frames is not None and (
                    self._next_index <= target <= self._next_index + _SKIP_LIMIT
                )
                if near:
                    pass  # decode forward and discard the gap below
                elif self._seekable and target > 0:
                    back = 0
                    while True:
                        anchor = max(0, target - back)
                        if anchor == 0:
                            self._restart()
                            break
                        if self._try_seek(anchor, target):
                            break
                        back = max(2 * back, CHUNK)
                else:
                    self._restart()
                while self._next_index < target:
                    self._pull(self._next_index)
                    self._next_index += 1
                return
            except _Resync:
                self._frames = None  # forces a restart in non-seekable mode

    def _pull(self, index: int) -> av.VideoFrame:
        """Next decoded frame from the cursor, which must be frame ``index``."""
        assert self._frames is not None
        try:
            frame = next(self._frames)
        except StopIteration:
            raise XMemError(
                f"video '{self.path}' ended early at frame {index}; was it modified?"
            ) from None
        except AV_ERRORS as exc:
            raise XMemError(
                f"video '{self.path}' is truncated or corrupt at frame {index}: {av_reason(exc)}"
            ) from exc
        if self._seekable and frame.pts != self._pts[index]:
            logger.warning(
                "video '%s': frame %d has unexpected timestamp after seeking; "
                "falling back to sequential decoding",
                self.path,
                index,
            )
            self._seekable = False
            self._frames = None
            raise _Resync
        return frame

    # -- reading -------------------------------------------------------------------------

    def _forward(self, lo: int, hi: int) -> Iterator[tuple[int, np.ndarray]]:
        """Frames ``lo..hi`` inclusive, decoded in increasing order."""
        self._position(lo)
        epoch = self._epoch
        index = lo
        while index <= hi:
            if self._epoch != epoch:  # another reader moved the cursor
                self._position(index)
                epoch = self._epoch
            try:
                frame = self._pull(index)
            except _Resync:
                self._position(index)
                epoch = self._epoch
                continue
            self._next_index = index + 1
            rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            yield index, rgb
            index += 1

    def _read(self, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        i = 0
        while i < len(indices):
            j = i + 1
            while j < len(indices) and indices[j] == indices[j - 1] + 1:
                j += 1
            if j - i > 1:  # increasing run: decode straight through
                yield from self._forward(indices[i], indices[j - 1])
                i = j
                continue
            while j < len(indices) and indices[j] == indices[j - 1] - 1:
                j += 1
            run = indices[i:j]  # decreasing run (or a single index)
            for k in range(0, len(run), CHUNK):
                chunk = run[k : k + CHUNK]
                frames = list(self._forward(chunk[-1], chunk[0]))
                yield from reversed(frames)
                del frames
            i = j
