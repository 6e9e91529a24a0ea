"""Whole-video tracking as a generator: frames in, one result per frame out, as computed.

A :class:`Tracker` holds a network prepared once with its :class:`TrackOptions` and tracks
any number of videos; :func:`track` is the shortcut for one video.

Frames are processed at a reduced size (the shorter side the options give, else the
network's own: 480 for the official weights, as the official evaluation, 240 for
xmem-lite0): images resized bilinearly, given masks with nearest neighbour; probabilities are
upsampled bilinearly to the frame's size before the argmax. Nothing is collected for the whole
video: memory use does not grow with its length.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import (
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from xmem.errors import ConfigError
from xmem.inference.adapt import AdaptConfig, AdaptReport, adapt_network
from xmem.inference.core import InferenceCore
from xmem.inference.flip import FlipEnsemble
from xmem.inference.image import (
    normalise,
    pixels_tensor,
    processing_size,
    resize_image,
    resize_mask,
    upsample_prob,
)
from xmem.inference.options import TrackOptions
from xmem.inference.sizing import default_max_size, size_for_objects
from xmem.inference.speed import prepare_network
from xmem.inference.timing import StageTimer, stage
from xmem.io.frames import open_frames
from xmem.io.prefetch import Prefetch
from xmem.io.source import FrameSource
from xmem.memory.manager import SimilarityBuffer
from xmem.model.network import XMem
from xmem.model.onnx_network import Network, OnnxXMem

logger = logging.getLogger(__name__)

Frames = (
    str | Path | FrameSource | np.ndarray | Sequence[np.ndarray] | Iterable[tuple[int, np.ndarray]]
)


@dataclass(frozen=True)
class FrameResult:
    """The segmentation of one frame.

    index: the frame's index in the video (display order, also when tracking backward).
    mask: H×W object ids at the frame's resolution (uint8 when ids ≤ 255, else int32).
    object_ids: ids of the objects tracked at this frame.
    prob: (1+N)×H×W float32 probabilities (background first, then ``object_ids``), only
        with ``return_prob=True``.
    frame: the RGB uint8 H×W×3 frame as the tracker read it, only with
        ``return_frames=True`` (an overlay or a viewer need not decode the video again).
    """

    index: int
    mask: np.ndarray
    object_ids: tuple[int, ...]
    prob: Tensor | None = None
    frame: np.ndarray | None = None


@dataclass(frozen=True)
class ObjectMasks:
    """Per-object binary masks of one frame, which may overlap (an id map cannot).

    ids: the N object ids (positive, distinct); masks: N×H×W bool (or 0/1) at the frame's
    resolution, in the order of ``ids``.
    """

    ids: tuple[int, ...]
    masks: np.ndarray

    def __post_init__(self) -> None:
        if self.masks.ndim != 3 or self.masks.shape[0] != len(self.ids):
            raise ValueError(
                f"ObjectMasks needs N×H×W masks for its {len(self.ids)} ids, "
                f"got shape {tuple(self.masks.shape)}"
            )
        if len(set(self.ids)) != len(self.ids) or any(i <= 0 for i in self.ids):
            raise ValueError(f"object ids must be distinct and positive, got {list(self.ids)}")


Annotation = np.ndarray | ObjectMasks
T = TypeVar("T")


class _Done:
    """The end of an iterator (``next(it, _DONE)``), told apart from every item by its type."""


_DONE = _Done()
# torch.cuda.Event's constructor is unannotated: the same class, seen as a typed factory
_cuda_event: Callable[[], torch.cuda.Event] = torch.cuda.Event
DECODE_AHEAD = 4  # frames decoded ahead by the decoding thread (``overlap_io``)
# The most frames Tracker.track takes from its input before it yields the next result: that
# frame, the one after it (to know which frame is the last) and, on CUDA with ``overlap_io``,
# one more (each result is read back while the next frame is computed). A caller feeding
# frames as they arrive (the Supervisely app) waits for this many before taking the device.
READ_AHEAD = 3


def _annotation_tensor(
    annotation: Annotation, hw: tuple[int, int], device: torch.device
) -> tuple[Tensor, list[int]]:
    """An annotation at processing size, with the ids it defines (all kept, even if tiny)."""
    if isinstance(annotation, ObjectMasks):
        masks = torch.from_numpy(np.asarray(annotation.masks, dtype=np.uint8)).to(device)
        return resize_mask(masks, hw), list(annotation.ids)
    mask = torch.from_numpy(annotation.astype(np.int64)).to(device)
    # ids of the full-size mask: a tiny object lost by resizing is kept, empty
    objects = [int(i) for i in torch.unique(mask).tolist() if i != 0]
    return resize_mask(mask, hw), objects


def _ids_map(mask: Tensor, objects: Sequence[int]) -> np.ndarray:
    """An annotation at processing size (ids H×W, or N×H×W masks of ``objects``) as an id map
    (later masks over earlier ones where they overlap)."""
    if mask.ndim == 2:
        return mask.cpu().numpy()
    ids = torch.zeros(mask.shape[1:], dtype=torch.int64, device=mask.device)
    for object_id, m in zip(objects, mask, strict=True):
        ids[m > 0] = object_id
    return ids.cpu().numpy()


def _annotation_hw(annotation: Annotation) -> tuple[int, int]:
    if isinstance(annotation, ObjectMasks):
        return annotation.masks.shape[1], annotation.masks.shape[2]
    return annotation.shape[0], annotation.shape[1]


def _object_areas(annotation: Annotation) -> list[int]:
    """The pixel count of each object of an annotation that has pixels."""
    if isinstance(annotation, ObjectMasks):
        counts = np.array([np.count_nonzero(m) for m in annotation.masks])
    else:
        counts = np.bincount(np.asarray(annotation, dtype=np.int64).ravel())[1:]
    return [int(c) for c in counts if c > 0]


def _first_annotation(
    annotations: Mapping[int, Annotation], indices: Sequence[int] | None, reverse: bool
) -> Annotation | None:
    """The annotation that starts tracking: the first annotated frame in processing order."""
    tracked = None if indices is None else set(indices)
    keys = [k for k in annotations if tracked is None or k in tracked]
    if not keys:
        return None
    return annotations[max(keys) if reverse else min(keys)]


def _frame_pairs(
    frames: Frames, reverse: bool, indices: Sequence[int] | None
) -> tuple[Iterable[tuple[int, np.ndarray]], FrameSource | None]:
    if indices is not None and not isinstance(frames, str | Path | FrameSource):
        raise ValueError("indices=... needs a video path or a FrameSource")
    if isinstance(frames, str | Path):
        frames = open_frames(frames)
    if isinstance(frames, FrameSource):
        order = list(indices) if indices is not None else range(len(frames))
        return frames.read(order[::-1] if reverse else order), frames
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4:
            raise ValueError(f"an array of frames must be N×H×W×3, got shape {frames.shape}")
        frames = list(frames)
    if isinstance(frames, Sequence):
        # a list of (index, frame) pairs keeps its indices; plain frames are numbered from 0
        is_pairs = len(frames) > 0 and isinstance(frames[0], tuple)
        pairs = list(frames) if is_pairs else list(enumerate(frames))
        return (pairs[::-1] if reverse else pairs), None
    if reverse:
        raise ValueError("reverse=True needs a video, a FrameSource or a sequence of frames")
    return frames, None


@dataclass(frozen=True)
class _Frame:
    """A frame ready for the engine: uint8 H×W×3 pixels at processing size (CPU, maybe pinned)."""

    index: int
    hw: tuple[int, int]  # the frame's own size
    pixels: Tensor
    last: bool
    rgb: np.ndarray | None  # the frame as read, when results carry it


def _prepared(
    pairs: Iterable[tuple[int, np.ndarray]],
    size: int,
    pin: bool,
    keep: bool,
    timer: StageTimer | None,
) -> Iterator[_Frame]:
    """Check, resize (charged to "preprocess") and stage each frame, one frame ahead (to know
    which is the last). A staged frame never shares memory with the caller's array: a reader
    may reuse its buffer for the next frame."""
    held: _Frame | None = None
    for index, rgb in pairs:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(
                f"frame {index} must be an RGB uint8 H×W×3 array, "
                f"got {rgb.dtype} {tuple(rgb.shape)}"
            )
        h, w = rgb.shape[:2]
        with stage(timer, "preprocess"):
            resized = resize_image(rgb, processing_size(h, w, size))
            pixels = pixels_tensor(resized)
            if pin:
                pixels = pixels.pin_memory()
            elif resized is rgb and rgb.flags.writeable:  # else already a copy
                pixels = pixels.clone()
        if held is not None:
            yield held
        held = _Frame(index, (h, w), pixels, last=False, rgb=rgb if keep else None)
    if held is not None:
        yield dataclasses.replace(held, last=True)


def _timed(items: Iterable[T], timer: StageTimer) -> Iterator[T]:
    """Charge getting each item (decoding, or waiting for the decoding thread) to "io"."""
    it = iter(items)
    while True:
        with timer("io"):
            item: T | _Done = next(it, _DONE)
        if isinstance(item, _Done):
            return
        yield item


class _Readback:
    """A frame's ids map on its way to the host: the copy is asynchronous on CUDA with pinned
    memory, so the next frame can be computed before this one is read."""

    def __init__(
        self,
        frame: _Frame,
        ids: Tensor,
        object_ids: tuple[int, ...],
        prob: Tensor | None,
        pin: bool,
    ) -> None:
        self.index, self.rgb, self.object_ids = frame.index, frame.rgb, object_ids
        self.event: torch.cuda.Event | None = None
        if ids.is_cuda and pin:
            self.ids = torch.empty(ids.shape, dtype=ids.dtype, pin_memory=True)
            self.ids.copy_(ids, non_blocking=True)
            self.event = _cuda_event()
            self.event.record()
        else:
            self.ids = ids.cpu()
        self.prob = prob.cpu() if prob is not None else None

    def result(self) -> FrameResult:
        if self.event is not None:
            self.event.synchronize()
        return FrameResult(self.index, self.ids.numpy(), self.object_ids, self.prob, self.rgb)


def resolve_adapt_steps(network: Network, steps: int | None) -> int:
    """``steps``, or the network's own default when None."""
    if steps is None:
        steps = int(getattr(network, "default_adapt_steps", 0))
    return steps


def resolve_flip(network: Network, flip: bool | None) -> bool:
    """``flip``, or the network's own default when None."""
    return bool(getattr(network, "default_flip", False)) if flip is None else flip


def resolve_size(network: Network, size: int | None) -> int:
    """``size``, or the network's own default when None (sizes are checked by
    :class:`TrackOptions`)."""
    if size is None:
        size = int(getattr(network, "default_size", 480))
    return size


class Tracker:
    """A network prepared once for tracking with fixed options; tracks any number of videos.

    Args:
        network: an XMem network (eval mode) on the device to use. The tracker prepares it
            with ``options.speed`` (:func:`~xmem.inference.speed.prepare_network`: a copy, the
            input is untouched; a network already prepared with the same speed options is
            used as is).
        options: how to track (default :class:`TrackOptions`: paper defaults, the network's
            own size, fp32, the default fast paths). With adaptation steps (``adapt_steps``,
            or the network's own) every video is tracked by a copy of the network adapted to
            its first annotated frame
            (:mod:`xmem.inference.adapt`), prepared in the same way; ``network`` is kept
            unprepared for that.
    """

    def __init__(self, network: Network, options: TrackOptions | None = None) -> None:
        self.options = options or TrackOptions()
        self.source_network = network
        self.network = prepare_network(network, self.options.speed)
        self.last_adapt: AdaptReport | None = None  # the last video's adaptation
        self.current: InferenceCore | FlipEnsemble | None = None  # the last video's engine
        self.size = resolve_size(network, self.options.size)  # the shorter side, or -1
        self.video_size = self.size  # the last video's, larger for a small object
        self.adapt_steps = resolve_adapt_steps(network, self.options.adapt_steps)
        self.flip = resolve_flip(network, self.options.flip)
        if isinstance(network, OnnxXMem):
            _check_onnx(self.options, self.adapt_steps)

    @property
    def device(self) -> torch.device:
        return self.network.device

    def engine(
        self, timer: StageTimer | None = None, network: Network | None = None
    ) -> InferenceCore | FlipEnsemble:
        """A fresh engine for one video, with this tracker's network (or ``network``, already
        prepared) and options: two in a :class:`FlipEnsemble` with test-time flip."""
        o = self.options
        network = network if network is not None else self.network

        similarity = SimilarityBuffer()  # the views of a flip read one after the other

        def one() -> InferenceCore:
            return InferenceCore(
                network, o.config, o.precision, timer=timer, speed=o.speed, similarity=similarity
            )

        return FlipEnsemble(one(), one()) if self.flip else one()

    def adapted_engine(
        self,
        pixels: Tensor,
        mask: Tensor,
        objects: Sequence[int],
        timer: StageTimer | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> InferenceCore | FlipEnsemble:
        """A fresh engine whose network is adapted to one annotated frame (uint8 H×W×3
        ``pixels`` and its mask at the processing size, as :meth:`track` prepares them)."""
        examples = [(pixels.cpu().numpy(), _ids_map(mask, objects))]
        assert isinstance(self.source_network, XMem), "adaptation needs the PyTorch network"
        adapted, self.last_adapt = adapt_network(
            self.source_network, examples, AdaptConfig(steps=self.adapt_steps), progress
        )
        return self.engine(timer, prepare_network(adapted, self.options.speed))

    def size_for(self, annotation: Annotation | None) -> int:
        """The processing size of a video whose first annotated frame is ``annotation``:
        the tracker's size, or larger for a small object (:mod:`xmem.inference.sizing`)."""
        if annotation is None:
            return self.size
        max_size = self.options.max_size or default_max_size(self.size)
        hw = _annotation_hw(annotation)
        smallest = min(_object_areas(annotation), default=0)
        size = size_for_objects(self.size, max_size, hw, smallest)
        if size != self.size:
            logger.info(
                "processing at %d instead of %d: the smallest object is %.2f %% of the frame",
                size,
                self.size,
                100 * smallest / math.prod(hw),
            )
        return size

    @torch.inference_mode()
    def track(
        self,
        frames: Frames,
        annotations: Mapping[int, Annotation],
        *,
        indices: Sequence[int] | None = None,
        reverse: bool = False,
        return_prob: bool = False,
        return_frames: bool = False,
        timer: StageTimer | None = None,
        on_adapt: Callable[[int, int], None] | None = None,
        pinned: Collection[int] = (),
    ) -> Generator[FrameResult, None, None]:
        """Track the annotated objects through a video, yielding each frame as it is done.

        Args:
            frames: a video file or frame folder path, a :class:`FrameSource`, a sequence of
                RGB uint8 H×W×3 arrays (or one N×H×W×3 array), or an iterable (e.g. a list
                or a generator) of ``(index, frame)`` pairs.
            annotations: frame index → H×W integer object ids (0 = background) at the frame's
                resolution, or :class:`ObjectMasks` for objects that overlap. The first
                annotated frame starts tracking; a later one adds new objects or corrects the
                objects it contains (the others keep their prediction).
            indices: with a path or a :class:`FrameSource`, the frames to track in order
                (e.g. ``range(40, 100)``); default every frame.
            reverse: process from the last frame to the first (backward propagation).
            return_prob: also return the probabilities of every frame.
            return_frames: also return each frame as read (``FrameResult.frame``).
            timer: optional :class:`~xmem.inference.timing.StageTimer` charged with the time
                of each stage (reading frames, or waiting for the decoding thread, is "io").
            on_adapt: with ``adapt_steps`` > 0, called with (steps done, steps) while the
                network adapts to the first annotated frame (before that frame is tracked).
            pinned: frame indices kept in memory for the rest of the video once tracked
                (at most ``max_mid_term_frames − min_mid_term_frames − 1`` of them;
                :meth:`~xmem.memory.manager.MemoryManager.pin_last`).

        Masks and probabilities are returned at the frame's resolution. Frames before the
        first annotation (in processing order) yield empty masks. With the ``overlap_io``
        fast path frames are decoded and resized by a background thread (:class:`Prefetch`),
        and on CUDA each frame is read back while the next one is computed.
        """
        pairs, source = _frame_pairs(frames, reverse, indices)
        pin = self.options.speed.pin_memory and self.device.type == "cuda"
        self.video_size = self.size_for(_first_annotation(annotations, indices, reverse))
        prepared, decoding = self._decoded(pairs, self.video_size, pin, return_frames, timer)
        try:
            yield from self._results(
                _timed(prepared, timer) if timer is not None else prepared,
                annotations,
                _Run(pin, return_prob, timer, on_adapt, frozenset(pinned)),
            )
        finally:
            if decoding is not None:
                decoding.close()  # stops and joins the decoding thread before the source closes
            if source is not None and isinstance(frames, str | Path):
                source.close()

    def _decoded(
        self,
        pairs: Iterable[tuple[int, np.ndarray]],
        size: int,
        pin: bool,
        return_frames: bool,
        timer: StageTimer | None,
    ) -> tuple[Iterable[_Frame], Prefetch[_Frame] | None]:
        """The frames prepared at ``size``, and the decoding thread that prepares them ahead
        (to close)."""
        overlap = self.options.speed.overlap_io
        prepared = _prepared(pairs, size, pin, return_frames, None if overlap else timer)
        if not overlap:
            return prepared, None
        decoding = Prefetch(prepared, DECODE_AHEAD, join=True, name="xmem-decode")
        return decoding, decoding

    def _results(
        self, prepared: Iterable[_Frame], annotations: Mapping[int, Annotation], run: _Run
    ) -> Iterator[FrameResult]:
        """The engine's loop over prepared frames (see :meth:`track`)."""
        core = self.current = self.engine(run.timer)
        pending = set(annotations)
        lag = self.options.speed.overlap_io and core.device.type == "cuda"
        waiting: _Readback | None = None  # with lag: the previous frame, read after this one starts
        adapt = self.adapt_steps > 0  # on the first annotated frame, before its step
        for frame in prepared:
            pending.discard(frame.index)
            mask, objects = _given(frame, annotations.get(frame.index), core.device, run.timer)
            if mask is not None and objects is not None and adapt:
                core = self.current = self.adapted_engine(
                    frame.pixels, mask, objects, run.timer, run.on_adapt
                )
                adapt = False
            readback = _step(core, frame, mask, objects, run)
            done, waiting = (waiting, readback) if lag else (readback, None)
            if done is not None:
                with stage(run.timer, "postprocess"):
                    result = done.result()
                yield result
        if waiting is not None:
            yield waiting.result()
        if pending:
            logger.warning(
                "annotations for frames %s were not used: no such frame", sorted(pending)
            )


@dataclass(frozen=True)
class _Run:
    """How one :meth:`Tracker.track` call runs, beyond the tracker's options."""

    pin: bool
    return_prob: bool
    timer: StageTimer | None
    on_adapt: Callable[[int, int], None] | None
    pinned: frozenset[int]


def _given(
    frame: _Frame, annotation: Annotation | None, device: torch.device, timer: StageTimer | None
) -> tuple[Tensor | None, list[int] | None]:
    """The annotation of ``frame`` at processing size with its ids, or (None, None)."""
    if annotation is None:
        return None, None
    h, w = frame.hw
    ah, aw = _annotation_hw(annotation)
    if (ah, aw) != (h, w):
        raise ValueError(f"annotation of frame {frame.index} is {aw}×{ah} but the frame is {w}×{h}")
    with stage(timer, "preprocess"):
        return _annotation_tensor(
            annotation, (frame.pixels.shape[0], frame.pixels.shape[1]), device
        )


def _step(
    core: InferenceCore | FlipEnsemble,
    frame: _Frame,
    mask: Tensor | None,
    objects: list[int] | None,
    run: _Run,
) -> _Readback:
    """One frame through the engine, its result on its way to the host."""
    with stage(run.timer, "preprocess"):
        image = normalise(frame.pixels.to(core.device, non_blocking=run.pin))
    prob = core.step(image, mask, objects, end=frame.last, pin=frame.index in run.pinned)
    with stage(run.timer, "postprocess"):
        prob = upsample_prob(prob, frame.hw)
        ids = tuple(core.object_ids) if prob.shape[0] > 1 else ()
        return _Readback(
            frame, core.prob_to_ids(prob), ids, prob if run.return_prob else None, run.pin
        )


def _check_onnx(options: TrackOptions, adapt_steps: int) -> None:
    """What the ONNX backend cannot do, said before any work."""
    if adapt_steps > 0:
        raise ConfigError(
            "adapt_steps: test-time adaptation trains the network, which needs the PyTorch "
            "backend (use adapt_steps 0 with ONNX graphs)",
            "adapt_steps",
        )
    if options.precision != "fp32":
        raise ConfigError("precision: the ONNX graphs run in fp32", "precision")


_LEGACY = ("config", "size", "precision", "speed")


def track(
    network: Network,
    frames: Frames,
    annotations: Mapping[int, Annotation],
    options: TrackOptions | None = None,
    *,
    reverse: bool = False,
    return_prob: bool = False,
    timer: StageTimer | None = None,
    **legacy: Any,
) -> Generator[FrameResult, None, None]:
    """Track the annotated objects through one video: ``Tracker(network, options).track(...)``.

    To track several videos with one network, make a :class:`Tracker` once (it prepares the
    network). The keyword arguments ``config``, ``size``, ``precision`` and ``speed`` of
    earlier versions still work, with a DeprecationWarning: they are :class:`TrackOptions`
    fields now.
    """
    if legacy:
        unknown = sorted(set(legacy) - set(_LEGACY))
        if unknown:
            raise TypeError(f"track() got unexpected keyword arguments {unknown}")
        if options is not None:
            raise TypeError(f"give {sorted(legacy)} in options, not both")
        warnings.warn(
            f"track(..., {', '.join(f'{k}=' for k in sorted(legacy))}) is deprecated: "
            "pass options=TrackOptions(...)",
            DeprecationWarning,
            stacklevel=2,
        )
        options = TrackOptions(**{k: v for k, v in legacy.items() if v is not None})
    return Tracker(network, options).track(
        frames, annotations, reverse=reverse, return_prob=return_prob, timer=timer
    )
