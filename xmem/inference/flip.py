"""Test-time flip: each frame segmented as it is and as its mirror image, the two averaged.

Two engines track the video side by side, one on the frames and one on their horizontal
mirror. On every frame each predicts its masks (:meth:`InferenceCore.segment`); the mean of
the two (the mirror's flipped back) is the frame's result, and it is that mean, not each
engine's own guess, that both write to memory (:meth:`InferenceCore.commit`). So the two
memories never disagree about what was tracked, and a mistake one view makes alone is halved
before it can be remembered. It costs twice the compute of one engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from xmem.inference.core import InferenceCore, not_started
from xmem.inference.image import unpad


class FlipEnsemble:
    """An engine made of two: ``main`` on the frames, ``mirror`` on their mirror images.

    It steps like an :class:`InferenceCore` (``step``, ``object_ids``, ``prob_to_ids``,
    ``memory_frames``, ``delete_objects``, ``clear``); objects are added, corrected and deleted
    in both.
    """

    def __init__(self, main: InferenceCore, mirror: InferenceCore) -> None:
        self.main = main
        self.mirror = mirror

    @property
    def device(self) -> torch.device:
        return self.main.device

    @property
    def object_ids(self) -> list[int]:
        return self.main.object_ids

    def prob_to_ids(self, prob: Tensor) -> Tensor:
        return self.main.prob_to_ids(prob)

    def memory_frames(self) -> dict[int, dict[str, int]]:
        return self.main.memory_frames()

    def clear(self) -> None:
        self.main.clear()
        self.mirror.clear()

    def delete_objects(self, ids: Sequence[int]) -> None:
        self.main.delete_objects(ids)
        self.mirror.delete_objects(ids)

    @torch.inference_mode()
    def step(
        self,
        image: Tensor,
        mask: Tensor | None = None,
        objects: Sequence[int] | None = None,
        end: bool = False,
        pin: bool = False,
    ) -> Tensor:
        """:meth:`InferenceCore.step`, by both views: the mean of their probabilities."""
        seen = self.main.segment(image, mask, objects, end, pin)
        if seen is None:
            return not_started(image, self.device)
        mirrored_mask = mask.flip(-1) if mask is not None else None
        mirrored = self.mirror.segment(image.flip(-1), mirrored_mask, objects, end, pin)
        assert mirrored is not None, "both views start on the same frame"
        mean = (unpad(seen.prob, seen.pad) + unpad(mirrored.prob, mirrored.pad).flip(-1)) / 2
        self.mirror.commit(mirrored, mean.flip(-1))
        return self.main.commit(seen, mean)
