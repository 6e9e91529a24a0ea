"""Masks of a video exported to training formats (issue 24): COCO instance segmentation with
RLE, YOLO segmentation polygons, CVAT for video XML (polygons or masks), DAVIS palette PNGs and
soft masks (the tracker's probability as 8-bit alpha PNGs).

A format is a function ``write(data, folder, progress)`` that fills ``folder`` (staged by the
caller) and returns what it wrote (name → path); :data:`FORMATS` names them. Its input,
:class:`MaskSet`, is what any annotation source (the GUI's project) provides.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xmem.io.source import FrameSource

Progress = Callable[[int], None]  # called with each frame's index when it is done


@dataclass(frozen=True)
class ExportObject:
    """An object of the video: its id in the masks, its own name and its class (label)."""

    id: int
    name: str
    label: str


@dataclass(frozen=True)
class MaskSet:
    """The masks of one video, as the formats read them.

    names: the frames' names in display order; masks: every frame's H×W uint8 object ids in
    that order; soft: a frame's probability per object (uint8 H×W, 255 = certain), given its
    index and ids (an object left out: its mask is used); frames: the video (for formats
    that ship images); palette: the objects' colours; human: the frames a person drew.
    """

    names: list[str]
    width: int
    height: int
    objects: list[ExportObject]
    masks: Callable[[], Iterator[np.ndarray]]
    soft: Callable[[int, np.ndarray], dict[int, np.ndarray]]
    frames: FrameSource
    palette: list[int]
    human: frozenset[int] = frozenset()

    @property
    def labels(self) -> list[str]:
        """The distinct classes, in order of first use."""
        return list(dict.fromkeys(o.label for o in self.objects))


def write_objects(data: MaskSet, folder: Path) -> Path:
    """``objects.json``: each object's id, name and class."""
    path = folder / "objects.json"
    text = json.dumps([asdict(o) for o in data.objects], indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write_images(data: MaskSet, folder: Path, quality: int = 95) -> None:
    """``folder/<frame>.jpg`` for every frame (formats whose training reads images)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, rgb in data.frames.read(range(len(data.names))):
        Image.fromarray(rgb).save(folder / f"{data.names[index]}.jpg", quality=quality)


def formats() -> dict[str, Callable[[MaskSet, Path, Progress], dict[str, str]]]:
    """Format name → writer."""
    from .alpha import write_alpha
    from .coco import write_coco
    from .cvat import write_cvat
    from .davis import write_davis
    from .yolo import write_yolo

    return {
        "davis": write_davis,
        "coco": write_coco,
        "yolo": write_yolo,
        "cvat": write_cvat,
        "cvat-mask": lambda d, f, p: write_cvat(d, f, p, shape="mask"),
        "alpha": write_alpha,
    }


FORMATS = ("davis", "coco", "yolo", "cvat", "cvat-mask", "alpha")
