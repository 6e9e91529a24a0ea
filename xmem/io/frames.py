"""Frame sources: a folder of images or a video file, opened with :func:`open_frames`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from xmem.errors import XMemError
from xmem.io._errors import PIL_ERRORS, pil_reason, strict_decoding
from xmem.io.source import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    FrameSource,
    natural_sort_key,
    visible_files,
)
from xmem.io.video import VideoSource

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameSource",
    "ImageFolderSource",
    "VideoSource",
    "open_frames",
]

logger = logging.getLogger(__name__)


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` in natural order; rejects stray files and duplicate stems."""
    images = visible_files(folder, IMAGE_EXTENSIONS, "frames")
    if not images:
        raise XMemError(
            f"frames folder '{folder}' contains no images ({', '.join(IMAGE_EXTENSIONS)})"
        )
    by_stem: dict[str, Path] = {}
    for image in images:
        if image.stem in by_stem:
            raise XMemError(
                f"frames '{by_stem[image.stem].name}' and '{image.name}' in '{folder}' have "
                "the same name; keep only one of them"
            )
        by_stem[image.stem] = image
    return sorted(images, key=lambda p: natural_sort_key(p.stem))


def _header_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image, reading only its header."""
    try:
        with Image.open(path) as img:
            return img.size
    except PIL_ERRORS as exc:
        raise XMemError(f"cannot read image '{path}': {pil_reason(exc)}") from exc


def load_rgb(path: Path) -> np.ndarray:
    """Fully decode one image file into an RGB ``uint8`` array of shape ``(H, W, 3)``."""
    try:
        with strict_decoding(), Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except PIL_ERRORS as exc:
        raise XMemError(f"image '{path}' is truncated or corrupt: {pil_reason(exc)}") from exc
    return np.asarray(rgb, dtype=np.uint8)


class ImageFolderSource(FrameSource):
    """Frames stored as image files in one folder, in natural sort order of their names.

    Every file's header is read up front to check that all frames have one size; pixel
    data is decoded lazily by :meth:`read`.
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder)
        self.files = list_images(self.path)
        self.names = [p.stem for p in self.files]
        self.fps = 24.0
        width, height = _header_size(self.files[0])
        for file in self.files[1:]:
            size = _header_size(file)
            if size != (width, height):
                raise XMemError(
                    f"frame '{file}' is {size[0]}x{size[1]} but '{self.files[0].name}' is "
                    f"{width}x{height}; all frames must have the same size"
                )
        self.width, self.height = width, height
        logger.debug("opened %d frames (%dx%d) in %s", len(self.files), width, height, folder)

    def _read(self, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        for i in indices:
            frame = load_rgb(self.files[i])
            if frame.shape[:2] != (self.height, self.width):
                # The header promised another size; only possible if the file changed.
                raise XMemError(
                    f"frame '{self.files[i]}' changed size while reading; "
                    f"expected {self.width}x{self.height}"
                )
            yield i, frame


def open_frames(path: str | Path) -> FrameSource:
    """Open a folder of images or a video file as a :class:`FrameSource`.

    Raises:
        XMemError: the path does not exist, has an unsupported extension, or holds
            unreadable, inconsistent or no frames.
    """
    p = Path(path)
    if not p.exists():
        raise XMemError(f"frames path '{p}' does not exist")
    if p.is_dir():
        return ImageFolderSource(p)
    suffix = p.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return VideoSource(p)
    if suffix in IMAGE_EXTENSIONS:
        raise XMemError(
            f"'{p}' is a single image; pass the folder that contains all frames instead"
        )
    raise XMemError(
        f"unsupported frames file '{p}'; give a folder of images or a video "
        f"({', '.join(VIDEO_EXTENSIONS)})"
    )
