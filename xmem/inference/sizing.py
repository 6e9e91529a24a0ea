"""The processing size of a video: the network's own (or the one asked for), larger when the
object given to follow is small.

At stride 16 an object a few pixels across is one or two cells of the key encoder's grid: the
network cannot place it, and it is lost within frames (issue 23's tiny objects). The smallest
objects the bundled model follows well are DAVIS's 1 % objects at 240 (about 32 pixels across);
a video whose smallest given object is smaller than that at the processing size is processed
at the size that brings it to :data:`SMALL_OBJECT_SIDE`, up to a limit (twice the size by
default) and the frame's own resolution.
"""

from __future__ import annotations

import math

from xmem.inference.image import processing_size

# an object's side, the square root of its area in pixels at the processing size, below
# which the video is processed larger (DAVIS's 1 % objects at 240 are 32 across)
SMALL_OBJECT_SIDE = 32.0


def default_max_size(size: int) -> int:
    """The largest processing size a small object may ask for, when none is given."""
    return 2 * size


def size_for_objects(size: int, max_size: int, hw: tuple[int, int], smallest_area: int) -> int:
    """The processing size (shorter side) for frames of ``hw`` whose smallest given object
    covers ``smallest_area`` pixels at that resolution: ``size``, or larger (at most
    ``max_size`` and the frame's shorter side) when the object would span fewer than
    :data:`SMALL_OBJECT_SIDE` pixels at ``size``. ``size`` -1 (the original resolution) and
    an empty annotation keep ``size``."""
    h, w = hw
    if size < 0 or smallest_area <= 0 or max_size <= size:
        return size
    ph, pw = processing_size(h, w, size)
    side = math.sqrt(smallest_area * (ph * pw) / (h * w))
    if side >= SMALL_OBJECT_SIDE:
        return size
    wanted = math.ceil(size * SMALL_OBJECT_SIDE / side)
    return max(size, min(wanted, max_size, min(h, w)))


__all__ = ["SMALL_OBJECT_SIDE", "default_max_size", "size_for_objects"]
