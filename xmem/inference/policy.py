"""XMem's step policy as a pure function: what the engine does with one frame.

The plan depends only on the inference options, the frame's position and what is known about
the frame (a mask given, the declared last frame); the engine carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from xmem.inference.config import InferenceConfig


@dataclass(frozen=True)
class FramePlan:
    """What happens to one frame.

    memorise: the frame is written to working memory (a memory frame).
    segment: masks are predicted by reading memory.
    deep_update: on a memory frame, the value encoder refreshes the hidden state.
    decoder_update: when segmenting, the decoder updates the hidden state.
    """

    memorise: bool
    segment: bool
    deep_update: bool
    decoder_update: bool


def plan_frame(
    config: InferenceConfig,
    *,
    frame_index: int,
    last_memory_frame: int,
    last_deep_update_frame: int,
    has_memory: bool,
    mask_given: bool,
    all_objects_given: bool,
    last: bool,
) -> FramePlan:
    """The plan for frame ``frame_index`` (counted from the first annotated frame).

    A frame is memorised every ``mem_every`` frames or when a mask is given, never on the
    declared ``last`` frame. It is segmented when there is memory to read, unless a mask is
    given for every object. The deep update happens on memory frames: on every one when
    ``deep_update_every < 0``, else once ``deep_update_every`` frames have passed since the
    last one. The decoder updates the hidden state on the other frames (on every frame when
    the deep update has its own period), never on the last frame.
    """
    memorise = not last and (frame_index - last_memory_frame >= config.mem_every or mask_given)
    deep_update_on_memory_frames = config.deep_update_every < 0
    if deep_update_on_memory_frames:
        deep_update = memorise
    else:
        deep_update = memorise and frame_index - last_deep_update_frame >= config.deep_update_every
    return FramePlan(
        memorise=memorise,
        segment=has_memory and not all_objects_given,
        deep_update=deep_update,
        decoder_update=not last and not (deep_update_on_memory_frames and deep_update),
    )


__all__ = ["FramePlan", "plan_frame"]
