"""Annotation masks: reading, writing and matching them to frames.

A mask is an ``H x W`` ``uint8`` array of object ids (0 = background). On disk masks are
PNG files, preferably palette ('P' mode) images as in DAVIS/YouTube-VOS.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from xmem.errors import XMemError
from xmem.io._errors import PIL_ERRORS, pil_reason, strict_decoding
from xmem.io.source import visible_files

logger = logging.getLogger(__name__)

PALETTE_SIZE = 768  # 256 RGB triplets


@dataclass(frozen=True)
class Mask:
    """An annotation mask.

    Attributes:
        ids: ``uint8`` array of shape ``(H, W)``; 0 is background, ``k`` is object ``k``.
        palette: the PNG's palette as 768 ints (R, G, B for indices 0..255), or None.
    """

    ids: np.ndarray
    palette: list[int] | None


@lru_cache(maxsize=1)
def _voc_palette() -> tuple[int, ...]:
    colours: list[int] = []
    for index in range(256):
        r = g = b = 0
        c = index
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        colours += [r, g, b]
    return tuple(colours)


def default_palette() -> list[int]:
    """The DAVIS / PASCAL VOC palette: 768 ints, index 1 = (128, 0, 0), 2 = (0, 128, 0), ..."""
    return list(_voc_palette())


def _pad_palette(palette: Sequence[int]) -> list[int]:
    values = [int(v) for v in palette][:PALETTE_SIZE]
    return values + [0] * (PALETTE_SIZE - len(values))


def _gray_ids(values: np.ndarray) -> np.ndarray:
    """Grayscale pixel values to ids; a {0, 255} mask is binary and becomes {0, 1}."""
    ids = values.astype(np.uint8)
    if np.isin(ids, (0, 255)).all():
        ids = (ids == 255).astype(np.uint8)
    return ids


def read_mask(path: str | Path) -> Mask:
    """Read a mask PNG.

    'P' images give their palette indices; grayscale images ('L', 'I', 'I;16', or RGB with
    equal channels) give their pixel values, except that a {0, 255} image is a binary mask
    with ids {0, 1}; '1' images give {0, 1}.

    Raises:
        XMemError: the file is unreadable, or is a true-colour / out-of-range image.
    """
    path = Path(path)
    try:
        with strict_decoding(), Image.open(path) as img:
            img.load()
            mode = img.mode
            palette = img.getpalette("RGB") if mode in ("P", "PA") else None
            array = np.asarray(img)
    except PIL_ERRORS as exc:
        raise XMemError(f"cannot read mask '{path}': {pil_reason(exc)}") from exc

    if mode in ("P", "PA"):
        ids = array[..., 0] if array.ndim == 3 else array
        return Mask(ids.astype(np.uint8), _pad_palette(palette) if palette else None)
    if mode == "1":
        return Mask(array.astype(np.uint8), None)
    if mode in ("L", "LA"):
        return Mask(_gray_ids(array[..., 0] if array.ndim == 3 else array), None)
    if mode in ("RGB", "RGBA"):
        rgb = array[..., :3]
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return Mask(_gray_ids(rgb[..., 0]), None)
        raise XMemError(
            f"mask '{path}' is a colour image; masks must be palette or grayscale PNGs "
            "whose pixel values are object ids"
        )
    if mode.startswith("I"):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise XMemError(
                f"mask '{path}' has values outside 0..255; masks must be palette or "
                "8-bit grayscale PNGs"
            )
        return Mask(_gray_ids(array), None)
    raise XMemError(
        f"mask '{path}' has unsupported image mode '{mode}'; masks must be palette or "
        "grayscale PNGs"
    )


def _mask_image(ids: np.ndarray, palette: Sequence[int] | None) -> Image.Image:
    if ids.ndim != 2:
        raise ValueError(f"mask ids must be 2-D, got shape {ids.shape}")
    if ids.dtype != np.uint8:
        if ids.size and (ids.min() < 0 or ids.max() > 255):
            raise ValueError("mask ids must be in 0..255")
        ids = ids.astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(ids))
    img.putpalette(_pad_palette(palette) if palette is not None else default_palette())
    return img


def write_mask(path: str | Path, ids: np.ndarray, palette: Sequence[int] | None = None) -> None:
    """Write ``ids`` (``uint8``, shape ``(H, W)``) as a palette PNG.

    ``palette`` is up to 768 ints (padded with black); the DAVIS palette when None.
    """
    img = _mask_image(ids, palette)
    try:
        img.save(Path(path), format="PNG")
    except OSError as exc:
        raise XMemError(f"cannot write mask '{path}': {pil_reason(exc)}") from exc


def encode_mask(ids: np.ndarray, palette: Sequence[int] | None = None) -> bytes:
    """``ids`` as the bytes of the palette PNG :func:`write_mask` would write."""
    buffer = io.BytesIO()
    _mask_image(ids, palette).save(buffer, format="PNG")
    return buffer.getvalue()


def masks_named_like_frames(
    folder: Path,
    frame_names: Sequence[str],
    no_frame: Callable[[Path], str],
    kind: str = "masks",
) -> dict[int, Path]:
    """The PNGs of ``folder``, each matched to the frame of the same name (``00000.png`` for
    frame ``00000.jpg``): ``{frame index: mask path}`` sorted by frame index (maybe empty).

    Raises:
        XMemError: a stray file (``kind`` names the folder), a PNG that matches no frame (the
            message is ``no_frame(path)``), or two PNGs for one frame.
    """
    index_of = {name: i for i, name in enumerate(frame_names)}
    found: dict[int, Path] = {}
    for entry in visible_files(folder, (".png",), kind):
        if entry.stem not in index_of:
            raise XMemError(no_frame(entry))
        index = index_of[entry.stem]
        if index in found:
            raise XMemError(f"masks '{found[index].name}' and '{entry.name}' name the same frame")
        found[index] = entry
    return dict(sorted(found.items()))


def _check_index(masks: Path, default_index: int, n_frames: int) -> int:
    if not 0 <= default_index < n_frames:
        raise XMemError(
            f"mask '{masks}' should annotate frame {default_index}, but there are only "
            f"{n_frames} frames"
        )
    return default_index


def find_annotations(
    masks: str | Path, frame_names: Sequence[str], default_index: int = 0
) -> dict[int, Path]:
    """Map frame indices to the annotation masks that belong to them.

    ``masks`` is one PNG file or a folder of PNGs. A single file annotates the frame with
    the same name, or frame ``default_index`` if no frame has its name. In a folder every
    PNG must be named like a frame (``00000.png`` for frame ``00000.jpg``).

    Returns:
        ``{frame index: mask path}`` sorted by frame index (never empty).

    Raises:
        XMemError: missing path, stray or unmatched files, or no masks at all.
    """
    masks = Path(masks)
    example = f"{frame_names[0]}.png" if frame_names else "00000.png"
    index_of = {name: i for i, name in enumerate(frame_names)}
    if not masks.exists():
        raise XMemError(f"mask path '{masks}' does not exist")
    if masks.is_file():
        if masks.suffix.lower() != ".png":
            raise XMemError(f"mask '{masks}' is not a PNG file")
        if masks.stem in index_of:
            return {index_of[masks.stem]: masks}
        return {_check_index(masks, default_index, len(frame_names)): masks}

    found = masks_named_like_frames(
        masks,
        frame_names,
        lambda entry: (
            f"mask '{entry}' matches no frame; masks must be named like the frames "
            f"(e.g. '{example}')"
        ),
    )
    if not found:
        raise XMemError(f"masks folder '{masks}' contains no .png masks")
    return found
