"""The inference engine: XMem's step policy over a stateless network.

One engine tracks one video. Feed frames in order with :meth:`InferenceCore.step`; give masks
on any frame, for new objects or to correct known ones; delete objects at any time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from xmem.errors import ConfigError
from xmem.inference.config import InferenceConfig
from xmem.inference.image import Pad, pad_to_multiple, unpad
from xmem.inference.object_manager import ObjectGroup, ObjectManager
from xmem.inference.policy import FramePlan, plan_frame
from xmem.inference.speed import SpeedOptions, prepared_with, tf32
from xmem.inference.timing import StageTimer, stage
from xmem.memory.manager import MemoryManager, SimilarityBuffer
from xmem.model.aggregate import aggregate
from xmem.model.network import KeyFeatures
from xmem.model.onnx_network import Network

logger = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def not_started(image: Tensor, device: torch.device) -> Tensor:
    """What an engine returns for a frame before the video's first annotation: background
    only, 1×H×W ones."""
    return torch.ones((1, *image.shape[-2:]), device=device)


@dataclass(frozen=True)
class Segmented:
    """A frame segmented by :meth:`InferenceCore.segment`, waiting for
    :meth:`InferenceCore.commit`: the padded batched image, its padding, key features, plan
    and the padded (1+N)×H×W probabilities, background first."""

    image: Tensor
    pad: Pad
    kf: KeyFeatures
    plan: FramePlan
    prob: Tensor
    pin: bool


class InferenceCore:
    """Tracks objects through one video.

    Args:
        network: an XMem network in eval mode; its device is used.
        config: inference options (paper defaults).
        precision: "fp32", "fp16" or "bf16" (autocast for the network; memory reads, the
            soft aggregation and the output stay float32).
        timer: optional :class:`StageTimer` charged with the time of each stage.
        speed: the fast paths (:class:`~xmem.inference.speed.SpeedOptions`); the engine
            applies ``tf32`` and ``object_chunk``. How the network was prepared
            (:func:`~xmem.inference.speed.prepare_network`) is read from the network.
        similarity: the CPU buffer of the memory reads' similarities, kept over
            :meth:`clear`; engines that never step at the same time may share one.
    """

    def __init__(
        self,
        network: Network,
        config: InferenceConfig | None = None,
        precision: str = "fp32",
        timer: StageTimer | None = None,
        speed: SpeedOptions | None = None,
        similarity: SimilarityBuffer | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(sorted(PRECISIONS))}, got {precision!r}",
                "precision",
            )
        self.network = network
        self.config = config or InferenceConfig()
        self.precision = precision
        self.timer = timer
        self.speed = speed or SpeedOptions()
        self.device = network.device
        self.similarity = similarity or SimilarityBuffer()  # the memory's, kept over clear()
        # CUDA graphs reuse their output buffers: whatever outlives a step must be copied
        compiled = prepared_with(network)[2]
        self._copy_network_outputs = compiled == "reduce-overhead" and self.device.type == "cuda"
        self.clear()

    def clear(self) -> None:
        """Forget every object and all memory (start a new video with the same network)."""
        self.objects = ObjectManager()
        self.memory = self._new_memory()
        self.frame_index = -1  # frames processed since the first annotation, minus one
        self.last_memory_frame = 0
        self.last_deep_update_frame = -self.config.deep_update_every

    def _new_memory(self) -> MemoryManager:
        return MemoryManager(self.config, self.similarity)

    @property
    def object_ids(self) -> list[int]:
        """Ids of the tracked objects, in the order of the probability channels after bg."""
        return self.objects.ids

    def prob_to_ids(self, prob: Tensor) -> Tensor:
        """Probabilities as :meth:`step` returns them, (1+N)×H×W at any H, W (e.g. upsampled
        to the frame's size), → H×W object ids of the most likely object (0 = background;
        the first maximum on ties, as argmax); uint8 when every id is ≤ 255, else int32."""
        ids = self.object_ids if prob.shape[0] > 1 else []
        return prob_to_ids(prob, ids)

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        """How the network runs: autocast at the chosen precision, TF32 as the speed options
        say. Memory reads and writes stay outside, in float32 (no TF32 from these options)."""
        with tf32(self.speed.tf32, self.device):
            if self.precision == "fp32":
                yield
                return
            with torch.autocast(self.device.type, dtype=PRECISIONS[self.precision]):
                yield

    @torch.inference_mode()
    def step(
        self,
        image: Tensor,
        mask: Tensor | None = None,
        objects: Sequence[int] | None = None,
        end: bool = False,
        pin: bool = False,
    ) -> Tensor:
        """Process the next frame.

        Args:
            image: 3×H×W float, normalised with ImageNet mean/std, any H, W.
            mask: optional annotation, either an H×W integer map of object ids (0 =
                background) or N×H×W per-object masks in [0, 1] (may overlap) with
                ``objects`` naming its N ids. Given objects override the prediction; the
                others keep it. New ids start new objects.
            objects: with an id map, the ids it defines (default: the ids present in it);
                required with per-object masks.
            end: this is the last frame (it is not written to memory).
            pin: write this frame to memory and keep it there for the rest of the video
                (:meth:`MemoryManager.pin_last`; ignored once the memory holds its most pinned
                frames, and on the last frame).

        Returns:
            Probabilities (1+N)×H×W, float32, background first, then :attr:`object_ids`;
            :meth:`prob_to_ids` turns them into an id map.
        """
        segmented = self.segment(image, mask, objects, end, pin)
        if segmented is None:
            return not_started(image, self.device)
        return self.commit(segmented)

    @torch.inference_mode()
    def segment(
        self,
        image: Tensor,
        mask: Tensor | None = None,
        objects: Sequence[int] | None = None,
        end: bool = False,
        pin: bool = False,
    ) -> Segmented | None:
        """The first half of :meth:`step` (same arguments): the frame's masks, predicted and
        with the given objects put in, not yet written to memory; None before the first
        annotation. :meth:`commit` finishes the step, with these probabilities or others
        (an ensemble's)."""
        given_ids, given = self._parse_mask(mask, objects, image.shape[-2:])
        if len(self.objects) == 0 and not given_ids:
            return None
        self.frame_index += 1
        image, pad = pad_to_multiple(image.to(self.device).float(), 16)
        image = image[None]

        old_groups = [g for g in self.objects.groups if self.memory.has_memory(g.gid)]
        new_group = self.objects.add(given_ids) if given_ids else None
        plan = self._plan(bool(old_groups), given is not None, given_ids, end, pin)
        kf = self._encode_key(image, plan)
        if new_group is not None:
            self.memory.add_objects(len(new_group.objects), self.network.hidden_dim, kf.key)

        # per-object probabilities N+1×H×W (padded), background first
        prob_with_bg = torch.zeros((len(self.objects) + 1, *image.shape[-2:]), device=self.device)
        prob_with_bg[0] = 1
        if plan.segment:
            self._segment(kf, old_groups, plan, prob_with_bg)
        if given is not None:
            prob_with_bg = self._override(prob_with_bg, given, given_ids)
        return Segmented(image, pad, kf, plan, prob_with_bg, pin)

    @torch.inference_mode()
    def commit(self, segmented: Segmented, prob: Tensor | None = None) -> Tensor:
        """The second half of :meth:`step`: write the frame to memory as planned, with the
        probabilities :meth:`segment` predicted or with ``prob`` ((1+N)×H×W at the frame's
        size, e.g. the mean of several views), and return them as :meth:`step` does."""
        s = segmented
        prob_with_bg = s.prob
        if prob is not None:
            prob_with_bg = prob_with_bg.clone()
            unpad(prob_with_bg, s.pad).copy_(prob)
        if s.plan.memorise and len(self.objects) > 0:
            self._memorise(s.image, s.kf, prob_with_bg, s.plan)
            if s.pin:
                self._pin_last()
        return unpad(prob_with_bg, s.pad)

    def _plan(
        self, has_memory: bool, mask_given: bool, given_ids: Sequence[int], end: bool, pin: bool
    ) -> FramePlan:
        """What to do with this frame (:func:`plan_frame`); a pinned frame is memorised."""
        plan = plan_frame(
            self.config,
            frame_index=self.frame_index,
            last_memory_frame=self.last_memory_frame,
            last_deep_update_frame=self.last_deep_update_frame,
            has_memory=has_memory,
            mask_given=mask_given,
            all_objects_given=mask_given and set(self.objects.ids) <= set(given_ids),
            last=end,
        )
        if pin and not end and not plan.memorise:
            plan = dataclasses.replace(plan, memorise=True)
        return plan

    def _encode_key(self, image: Tensor, plan: FramePlan) -> KeyFeatures:
        """The key encoder's features of the (padded, batched) frame."""
        with stage(self.timer, "key_encoder"), self._autocast():
            kf = self.network.encode_key(
                image,
                need_shrinkage=plan.memorise,
                need_selection=self.config.enable_long_term or plan.segment,
            )
        if self._copy_network_outputs:
            kf = kf._replace(**{k: v.clone() for k, v in kf._asdict().items() if v is not None})
        return kf

    def _override(self, prob_with_bg: Tensor, given: Tensor, given_ids: Sequence[int]) -> Tensor:
        """Given objects replace the prediction; the others keep it outside the given masks."""
        given, _ = pad_to_multiple(given.to(self.device).float(), 16)
        prob = prob_with_bg[1:]
        prob[:, given.sum(0) > 0.5] = 0
        for row, obj in enumerate(given_ids):
            prob[self.objects.slot(obj)] = given[row]
        _, prob_with_bg = aggregate(prob, dim=0)
        return prob_with_bg

    def _pin_last(self) -> None:
        """Keep the frame just memorised for the rest of the video, in every group."""
        for group in self.objects.groups:
            if not self.memory.pin_last(group.gid):
                logger.warning(
                    "frame not pinned: it is the first memory frame (kept anyway) or %d frames "
                    "are pinned already",
                    self.memory.max_pinned,
                )
                break

    def memory_frames(self) -> dict[int, dict[str, int]]:
        """Per object id, what its group's memory holds (:meth:`MemoryManager.frames`)."""
        return {
            obj: self.memory.frames(group.gid)
            for group in self.objects.groups
            for obj in group.objects
        }

    def _segment(
        self, kf: KeyFeatures, groups: list[ObjectGroup], plan: FramePlan, prob_with_bg: Tensor
    ) -> None:
        """Read the memory of ``groups`` and decode their objects' masks into
        ``prob_with_bg`` (their rows); the decoder updates their hidden state if planned."""
        slots = [s for g in groups for s in self.objects.slots(g)]
        assert kf.selection is not None
        with stage(self.timer, "memory_read"):
            readout = self.memory.read(kf.key[0], kf.selection[0], [g.gid for g in groups])
        with stage(self.timer, "decoder"), self._autocast():
            new_hidden, _, pred = self.network.segment(
                (kf.f16, kf.f8, kf.f4),
                readout[None],
                self.memory.read_sensory(slots),
                update_hidden=plan.decoder_update,
                chunk=self.speed.object_chunk,
            )
        prob_with_bg[0] = pred[0, 0]
        prob_with_bg[[s + 1 for s in slots]] = pred[0, 1:]
        if plan.decoder_update and new_hidden is not None:
            self.memory.update_sensory(new_hidden, slots)

    def _memorise(
        self, image: Tensor, kf: KeyFeatures, prob_with_bg: Tensor, plan: FramePlan
    ) -> None:
        """Encode the frame's values with its final probabilities and write it to memory;
        the value encoder refreshes every hidden state on a deep update."""
        with stage(self.timer, "value_encoder"), self._autocast():
            value, hidden = self.network.encode_value(
                image,
                kf.f16,
                self.memory.sensory,
                prob_with_bg[None, 1:],
                plan.deep_update,
                chunk=self.speed.object_chunk,
            )
        if self._copy_network_outputs:
            value = value.clone()
            hidden = hidden.clone() if hidden is not None else None
        assert kf.shrinkage is not None
        values = {g.gid: value[0, self.objects.slots(g)] for g in self.objects.groups}
        long_term = self.config.enable_long_term
        selection = kf.selection[0] if kf.selection is not None and long_term else None
        with stage(self.timer, "memory_update"):
            self.memory.write(kf.key[0], kf.shrinkage[0], selection, values)
        self.last_memory_frame = self.frame_index
        if plan.deep_update:
            if hidden is not None:
                self.memory.update_sensory(hidden)
            self.last_deep_update_frame = self.frame_index

    def _parse_mask(
        self, mask: Tensor | None, objects: Sequence[int] | None, hw: torch.Size
    ) -> tuple[list[int], Tensor | None]:
        """Annotation → (ids, per-object masks N×H×W float)."""
        if mask is None:
            if objects:
                raise ValueError("objects were named without a mask")
            return [], None
        if tuple(mask.shape[-2:]) != tuple(hw):
            raise ValueError(f"mask is {tuple(mask.shape[-2:])} but the image is {tuple(hw)}")
        if mask.ndim == 2:
            if mask.is_floating_point():
                raise ValueError("an H×W mask must hold integer object ids")
            present = [int(i) for i in torch.unique(mask).tolist() if i != 0]
            ids = list(objects) if objects is not None else present
            masks = torch.stack([mask == i for i in ids]).float() if ids else None
            return ids, masks
        if mask.ndim != 3 or objects is None or len(objects) != mask.shape[0]:
            raise ValueError("N×H×W masks need `objects` with N ids")
        if len(set(objects)) != len(objects):
            raise ValueError(f"duplicate object ids {list(objects)}")
        return list(objects), mask.float()

    def delete_objects(self, ids: Sequence[int]) -> None:
        """Stop tracking objects: their memory and hidden state are freed."""
        keep_slots, keep_rows = self.objects.remove(ids)
        self.memory.remove_objects(keep_slots, keep_rows)


def prob_to_ids(prob: Tensor, object_ids: Sequence[int]) -> Tensor:
    """(1+N)×H×W probabilities, background first, then ``object_ids`` → H×W ids of the most
    likely object (first maximum on ties, as argmax); uint8 when every id is ≤ 255, else
    int32. ``object_ids`` may be empty (a single background row: all zeros)."""
    if prob.shape[0] != len(object_ids) + 1:
        raise ValueError(
            f"{prob.shape[0]} probability rows do not match {len(object_ids)} objects + background"
        )
    dtype = torch.uint8 if max(object_ids, default=0) <= 255 else torch.int32
    lut = torch.tensor([0, *object_ids], device=prob.device, dtype=dtype)
    return lut[prob.max(0).indices]  # the same indices as argmax, 10× faster on the CPU
