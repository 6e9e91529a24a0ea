"""The project's objects: their ids in the masks, names and display colours, checked."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from xmem.errors import XMemError
from xmem.io.masks import default_palette

MAX_OBJECTS = 255  # masks are 8-bit PNGs
DEFAULT_LABEL = "object"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass
class TrackedObject:
    """One object of the project: its id in the masks, a name, a display colour and its class
    (written to every export)."""

    id: int
    name: str
    color: str
    label: str = DEFAULT_LABEL


def default_color(object_id: int) -> str:
    """The DAVIS palette colour of ``object_id`` as ``#rrggbb`` (what ``xmem track`` writes)."""
    r, g, b = default_palette()[3 * object_id : 3 * object_id + 3]
    return f"#{r:02x}{g:02x}{b:02x}"


def palette_of(objects: Iterable[TrackedObject]) -> list[int]:
    """The DAVIS palette with each object's colour at its id."""
    palette = default_palette()
    for o in objects:
        palette[3 * o.id : 3 * o.id + 3] = [int(o.color[k : k + 2], 16) for k in (1, 3, 5)]
    return palette


def check_name(name: str) -> str:
    """``name`` with its white space collapsed; 1 to 100 characters."""
    name = " ".join(str(name).split())
    if not name or len(name) > 100:
        raise XMemError("an object name must have 1 to 100 characters")
    return name


def check_label(label: str) -> str:
    """A class name: as :func:`check_name`."""
    try:
        return check_name(label)
    except XMemError:
        raise XMemError("a class name must have 1 to 100 characters") from None


def check_color(color: str) -> str:
    """``#rrggbb``, lower case."""
    if not _COLOR.match(str(color)):
        raise XMemError(f"colour must be #rrggbb, got {color!r}")
    return str(color).lower()
