"""Overlay videos: frames blended with their masks, for a person to watch."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.container import OutputContainer
from av.video.stream import VideoStream
from tqdm.std import tqdm

from xmem.errors import XMemError
from xmem.io._errors import AV_ERRORS, av_reason
from xmem.io.masks import default_palette, read_mask
from xmem.io.output import atomic_output_file
from xmem.io.source import FrameSource

logger = logging.getLogger(__name__)

OVERLAY_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi")


def palette_colours(palette: Sequence[int]) -> np.ndarray:
    """768-int palette (shorter ones are padded with black) as a ``(256, 3)`` uint8 array."""
    values = np.zeros(768, dtype=np.uint8)
    flat = np.asarray(list(palette)[:768], dtype=np.int64).clip(0, 255)
    values[: flat.size] = flat
    return values.reshape(256, 3)


def boundary_ids(ids: np.ndarray) -> np.ndarray:
    """Object id of the boundary passing through each pixel, 0 where there is none.

    ``ids`` is ``(H, W)`` uint8. A pixel is on a boundary when a 4-neighbour has another
    id; it takes the largest id around it, so boundaries are 2 px wide (one each side).
    """
    padded = np.pad(ids, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    neighbours = (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:])
    differs = np.zeros(ids.shape, dtype=bool)
    largest = centre.copy()
    for n in neighbours:
        differs |= n != centre
        np.maximum(largest, n, out=largest)
    return np.where(differs, largest, 0).astype(np.uint8)


def blend(
    frame: np.ndarray, ids: np.ndarray, colours: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """Tint each object with its colour and outline it in a darker shade.

    Args:
        frame: RGB uint8 ``(H, W, 3)``.
        ids: uint8 ``(H, W)`` object ids, 0 = background.
        colours: uint8 ``(256, 3)`` colour per id.
        alpha: weight of the object colour inside objects.

    Returns:
        RGB uint8 ``(H, W, 3)``.
    """
    out = frame.astype(np.float32)
    fg = ids > 0
    out[fg] = out[fg] * (1.0 - alpha) + colours[ids[fg]].astype(np.float32) * alpha
    edge = boundary_ids(ids)
    on_edge = edge > 0
    out[on_edge] = colours[edge[on_edge]].astype(np.float32) * 0.5
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# Encoders tried in order: H.264 when FFmpeg has libx264, else MPEG-4 part 2.
def check_overlay_path(out: str | Path) -> Path:
    """``out`` as a path, if it names a video file the overlay can be written as."""
    out = Path(out)
    if out.suffix.lower() not in OVERLAY_EXTENSIONS:
        raise XMemError(
            f"overlay '{out}' must be a video file ending in {', '.join(OVERLAY_EXTENSIONS)}"
        )
    return out


OVERLAY_CODECS = ("libx264", "mpeg4")
_CODEC_OPTIONS = {"libx264": {"crf": "20"}}


def _add_stream(container: OutputContainer, rate: Fraction, width: int, height: int) -> VideoStream:
    for codec in OVERLAY_CODECS:
        try:
            stream = container.add_stream(codec, rate=rate, options=_CODEC_OPTIONS.get(codec, {}))
        except (ValueError, av.error.FFmpegError) as exc:
            logger.info("encoder %s unavailable (%s)", codec, av_reason(exc))
            continue
        if not isinstance(stream, VideoStream):  # pragma: no cover - not a video codec
            continue
        if codec != "libx264":
            stream.bit_rate = max(1_000_000, int(width * height * float(rate) * 0.3))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        return stream
    raise XMemError(f"FFmpeg (PyAV) has none of the encoders {', '.join(OVERLAY_CODECS)}")


def _mask_ids(
    mask: str | Path | np.ndarray,
    index: int,
    fixed: np.ndarray | None,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Ids ``(H, W)`` uint8 of one mask and its colours (None: use the default palette)."""
    if isinstance(mask, np.ndarray):
        ids, colours, name = mask, fixed, f"mask of frame {index}"
    else:
        loaded = read_mask(mask)
        ids, name = loaded.ids, f"mask '{mask}'"
        colours = fixed
        if colours is None and loaded.palette is not None:
            colours = palette_colours(loaded.palette)
    if ids.shape != size:
        raise XMemError(f"{name} has shape {ids.shape} but frames are {size[1]}x{size[0]} (W x H)")
    return ids.astype(np.uint8, copy=False), colours


class OverlayWriter:
    """An overlay video encoded frame by frame, as frames and their masks come in display
    order (e.g. the frames :class:`~xmem.inference.tracker.Tracker` returns with its results).

    Args:
        path: the video file to write (.mp4, .mov, .mkv or .avi), written in place: wrap it in
            :func:`~xmem.io.output.atomic_output_file` for an all-or-nothing file.
        width, height: the frames' size (odd sizes are padded by one edge pixel, as yuv420p
            needs even dimensions).
        fps: frame rate.
        palette: object colours (768 ints); None: DAVIS colours.
        alpha: weight of the object colour inside objects.
        name: the file named in errors (default ``path``; e.g. the final name of a staged
            file).

    Use it as a context manager: leaving the block normally writes the trailer; an error
    closes the file as it is.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float,
        palette: Sequence[int] | None = None,
        alpha: float = 0.5,
        name: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = str(name if name is not None else path)
        self.rate = Fraction(fps).limit_denominator(1001)
        if self.rate <= 0:
            raise XMemError(f"overlay '{self.name}': frame rate must be positive, got {fps}")
        self.size = (height, width)
        self.colours = palette_colours(palette if palette is not None else default_palette())
        self.alpha = alpha
        self.frames = 0
        try:
            self._container: OutputContainer | None = av.open(str(self.path), mode="w")
            self._stream = _add_stream(
                self._container, self.rate, width + width % 2, height + height % 2
            )
        except AV_ERRORS as exc:
            self._abandon()
            raise self._error(exc) from exc

    def add(
        self, index: int, frame: np.ndarray, ids: np.ndarray, colours: np.ndarray | None = None
    ) -> None:
        """Encode frame ``index`` (RGB uint8 H×W×3) blended with its object ids (H×W), in the
        writer's colours or ``colours`` ((256, 3) uint8)."""
        h, w = self.size
        if frame.shape[:2] != (h, w) or ids.shape != (h, w):
            raise XMemError(
                f"overlay '{self.name}': frame {index} is {frame.shape[1]}x{frame.shape[0]} "
                f"with a {ids.shape[1]}x{ids.shape[0]} mask, the video is {w}x{h}"
            )
        rgb = blend(
            frame,
            ids.astype(np.uint8, copy=False),
            self.colours if colours is None else colours,
            self.alpha,
        )
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        video_frame.pts = index
        video_frame.time_base = 1 / self.rate
        try:
            assert self._container is not None, "the overlay writer is closed"
            self._container.mux(self._stream.encode(video_frame))
        except AV_ERRORS as exc:
            raise self._error(exc) from exc
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and write the trailer."""
        if self._container is None:
            return
        try:
            self._container.mux(self._stream.encode(None))
            self._container.close()
        except AV_ERRORS as exc:
            raise self._error(exc) from exc
        finally:
            self._container = None
        logger.debug("wrote overlay video %s (%d frames)", self.path, self.frames)

    def __enter__(self) -> OverlayWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self._abandon()

    def _abandon(self) -> None:
        if self._container is not None:
            with contextlib.suppress(*AV_ERRORS):
                self._container.close()
            self._container = None

    def _error(self, exc: BaseException) -> XMemError:
        return XMemError(f"cannot encode overlay video '{self.name}': {av_reason(exc)}")


def render_overlay(
    frames: FrameSource,
    masks: Sequence[str | Path | np.ndarray],
    out: str | Path,
    fps: float | None = None,
    palette: list[int] | None = None,
    alpha: float = 0.5,
    progress: bool = False,
) -> None:
    """Encode ``frames`` blended with ``masks`` as an H.264 video (mpeg4 if no libx264).

    Args:
        frames: the video frames.
        masks: one per frame in display order: a mask PNG path or a uint8 ``(H, W)`` id array.
        out: video path (.mp4, .mov, .mkv or .avi); written atomically.
        fps: frame rate; ``frames.fps`` when None.
        palette: object colours (768 ints); else each PNG's own palette, else DAVIS colours.
        alpha: weight of the object colour inside objects.
        progress: show a progress bar.
    """
    out = check_overlay_path(out)
    n = len(frames)
    if len(masks) != n:
        raise XMemError(f"overlay '{out}': got {len(masks)} masks for {n} frames")
    h, w = frames.height, frames.width
    fixed = palette_colours(palette) if palette is not None else None
    with (
        atomic_output_file(out) as tmp,
        OverlayWriter(tmp, w, h, fps or frames.fps or 24.0, palette, alpha, out) as writer,
        tqdm(total=n, desc="overlay", unit="frame", disable=not progress) as bar,
    ):
        for (index, frame), mask in zip(frames.read(range(n)), masks, strict=True):
            ids, colours = _mask_ids(mask, index, fixed, (h, w))
            writer.add(index, frame, ids, colours)
            bar.update(1)
