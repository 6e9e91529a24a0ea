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

    Odd frame sizes are padded by one edge pixel, as yuv420p needs even dimensions.
    """
    out = check_overlay_path(out)
    n = len(frames)
    if len(masks) != n:
        raise XMemError(f"overlay '{out}': got {len(masks)} masks for {n} frames")
    rate = Fraction(fps or frames.fps or 24.0).limit_denominator(1001)
    if rate <= 0:
        raise XMemError(f"overlay '{out}': frame rate must be positive, got {fps}")
    h, w = frames.height, frames.width
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    fixed = palette_colours(palette) if palette is not None else None
    default = palette_colours(default_palette())

    with atomic_output_file(out) as tmp:
        container = None
        bar = tqdm(total=n, desc="overlay", unit="frame", disable=not progress)
        try:
            container = av.open(str(tmp), mode="w")
            stream = _add_stream(container, rate, w + w % 2, h + h % 2)
            for (index, frame), mask in zip(frames.read(range(n)), masks, strict=True):
                ids, colours = _mask_ids(mask, index, fixed, (h, w))
                rgb = blend(frame, ids, default if colours is None else colours, alpha)
                if h % 2 or w % 2:
                    rgb = np.pad(rgb, pad, mode="edge")
                video_frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                video_frame.pts = index
                video_frame.time_base = 1 / rate
                container.mux(stream.encode(video_frame))
                bar.update(1)
            container.mux(stream.encode(None))
            container.close()  # writes the trailer
            container = None
        except AV_ERRORS as exc:
            raise XMemError(f"cannot encode overlay video '{out}': {av_reason(exc)}") from exc
        finally:
            bar.close()
            if container is not None:
                with contextlib.suppress(*AV_ERRORS):
                    container.close()
    logger.debug("wrote overlay video %s (%d frames)", out, n)
