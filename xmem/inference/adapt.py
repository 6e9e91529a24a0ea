"""Test-time adaptation: fine-tune a copy of the network on the frames a person annotated.

Before a video is tracked, the decoder and the value encoder's heads (its fuser and hidden
reinforcer; the trunks stay frozen, and so does everything that makes keys, so memory keys
keep their meaning) learn this video's objects for ``steps`` steps of the training loss on
pseudo-clips made from the annotated frames (the OSVOS / Lucid Data Dreaming idea, on top of
XMem's memory). Each pseudo-clip is the annotated frame as frame 0 (the given mask) and
copies of it as the frames to segment, each one with:

- its objects cut out and moved over an in-painted background (with ``move_prob``);
- a random crop, flip, affine and elastic warp and colour change (the static training stage's
  augmentation, :meth:`~xmem.train.augment.AugmentConfig.static`);
- with ``hard_case_prob``, look-alike copies of an object pasted as background distractors,
  a crowd of them, or smoke over an object (:mod:`xmem.train.hard_cases`).

The adapted network lives only for that video; the input network and the weights file are
never changed. Batch norms keep their statistics (the network stays in eval mode).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xmem.errors import ConfigError
from xmem.model.network import XMem, backbone_trunks
from xmem.train.augment import AugmentConfig, augment_clip, make_item
from xmem.train.forward import clip_forward
from xmem.train.hard_cases import add_hard_case
from xmem.train.loss import step_loss

logger = logging.getLogger(__name__)

__all__ = [
    "AdaptConfig",
    "AdaptReport",
    "adapt_network",
    "adaptable_parameters",
    "pseudo_batch",
    "pseudo_clip",
]

Example = tuple[np.ndarray, np.ndarray]  # RGB uint8 H×W×3 and object ids H×W (0: background)
_DISTRACTORS = ("lookalike", "crowd", "smoke")


@dataclass(frozen=True)
class AdaptConfig:
    """How to adapt.

    steps: optimiser steps (0: no adaptation).
    lr: AdamW learning rate of the adapted layers.
    batch_size: pseudo-clips per step.
    num_frames: frames per pseudo-clip (frame 0 given, the others segmented).
    max_crop: the square crop's side is the shorter side of the frames, at most this, a
        multiple of 16.
    max_objects: objects per pseudo-clip (drawn at random when the frame has more).
    move_prob: share of segmented frames whose objects are moved over an in-painted background.
    hard_case_prob: share of pseudo-clips with distractors or smoke drawn on.
    seed: the pseudo-clips and the memory frames read follow from it: adaptation is
        deterministic for the same frames and masks.
    """

    steps: int = 0
    lr: float = 2e-5
    batch_size: int = 2
    num_frames: int = 3
    max_crop: int = 192
    max_objects: int = 3
    move_prob: float = 0.5
    hard_case_prob: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError(f"adapt steps must be at least 0, got {self.steps}", "steps")
        for name in ("batch_size", "max_objects"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1", name)
        if self.num_frames < 2:
            raise ConfigError("num_frames must be at least 2 (frame 0 is given)", "num_frames")
        if self.max_crop < 16:
            raise ConfigError("max_crop must be at least 16", "max_crop")
        if self.lr <= 0:
            raise ConfigError("lr must be positive", "lr")
        for name in ("move_prob", "hard_case_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be a probability between 0 and 1", name)


@dataclass(frozen=True)
class AdaptReport:
    """What an adaptation did: steps, seconds, and the mean loss of its first and last steps
    (a quarter of the steps each, at least one)."""

    steps: int
    seconds: float
    first_loss: float
    last_loss: float


def adaptable_parameters(network: XMem) -> list[nn.Parameter]:
    """The parameters that adaptation changes: the decoder's and the value encoder's, its
    trunk left out."""
    trunks = {id(p) for t in backbone_trunks(network) for p in t.parameters()}
    heads = [p for p in network.value_encoder.parameters() if id(p) not in trunks]
    return [*network.decoder.parameters(), *heads]


def _inpaint(rgb: Tensor, hole: Tensor) -> Tensor:
    """Fill ``hole`` (H×W bool) of ``rgb`` (3×H×W float) with the colours around it, coarser
    and coarser until it is full (a pyramid of normalised averages)."""
    known = (~hole).float()[None, None]
    image = rgb[None] * known
    out = rgb[None].clone()
    filled = known.clone()
    h, w = hole.shape
    factor = 2
    while bool((filled < 1).any()) and factor <= 2 * max(h, w):
        size = (max(1, h // factor), max(1, w // factor))
        weight = F.interpolate(known, size=size, mode="area")
        colour = F.interpolate(image, size=size, mode="area") / weight.clamp_min(1e-6)
        weight = F.interpolate((weight > 0).float(), size=(h, w), mode="nearest")
        colour = F.interpolate(colour, size=(h, w), mode="bilinear", align_corners=False)
        new = (filled < 1) & (weight > 0)
        out = torch.where(new, colour, out)
        filled = torch.where(new, torch.ones_like(filled), filled)
        factor *= 2
    return out[0]


def _moved(rgb: np.ndarray, ids: np.ndarray, rng: np.random.Generator) -> Example:
    """The frame with its objects moved together by up to a quarter of the frame over an
    in-painted background."""
    h, w = ids.shape
    dy, dx = (int(v) for v in rng.integers(-(np.array([h, w]) // 4), np.array([h, w]) // 4 + 1))
    objects = torch.from_numpy(ids > 0)
    hole = F.max_pool2d(objects.float()[None, None], 5, stride=1, padding=2)[0, 0] > 0
    image = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float()
    background = _inpaint(image, hole)
    shifted_ids = np.zeros_like(ids)
    ys, xs = np.nonzero(ids)
    ty, tx = ys + dy, xs + dx
    inside = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
    out = background.round().clamp(0, 255).byte().permute(1, 2, 0).numpy().copy()
    out[ty[inside], tx[inside]] = rgb[ys[inside], xs[inside]]
    shifted_ids[ty[inside], tx[inside]] = ids[ys[inside], xs[inside]]
    return out, shifted_ids


def pseudo_clip(
    example: Example, config: AdaptConfig, rng: np.random.Generator
) -> tuple[Tensor, Tensor, Tensor] | None:
    """One pseudo-clip of an annotated frame: normalised images T×3×S×S, object masks
    T×K×S×S and the valid slots K (K = the frame's objects, at most ``config.max_objects``:
    no empty slots, which would cost as much as objects), or None when no object stays
    visible in its first frame."""
    rgb, ids = example
    present = [int(k) for k in np.unique(ids) if k != 0]
    chosen = rng.permutation(present)[: config.max_objects]
    table = np.zeros(int(ids.max()) + 1, np.uint8)
    table[chosen] = np.arange(1, len(chosen) + 1)
    ids = table[ids]
    frames = [(rgb, ids)]
    for _ in range(config.num_frames - 1):
        frames.append(_moved(rgb, ids, rng) if rng.random() < config.move_prob else (rgb, ids))
    crop = min(config.max_crop, min(ids.shape) // 16 * 16)
    images, labels = augment_clip(
        np.stack([f[0] for f in frames]),
        np.stack([f[1] for f in frames]),
        AugmentConfig.static(crop),
        rng,
    )
    n = len(chosen)
    if rng.random() < config.hard_case_prob:
        kind = str(rng.choice(_DISTRACTORS))
        case = add_hard_case(images, labels, n, n, rng, kind=kind)
        images, labels = case.images, case.labels
    item = make_item(images, labels, n, n)
    return None if item is None else (item["rgb"], item["masks"], item["valid"])


def pseudo_batch(
    examples: Sequence[Example], config: AdaptConfig, rng: np.random.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """``config.batch_size`` pseudo-clips of random examples, stacked (object slots padded to
    the most objects of one clip)."""
    items: list[tuple[Tensor, Tensor, Tensor]] = []
    while len(items) < config.batch_size:
        for _ in range(8):  # a crop may miss every object: draw again
            item = pseudo_clip(examples[int(rng.integers(len(examples)))], config, rng)
            if item is not None:
                break
        if item is None:
            raise ConfigError("no object of the annotated frames stays visible when cropped")
        items.append(item)
    slots = max(masks.shape[1] for _, masks, _ in items)  # frames with fewer objects: padded
    rgb = torch.stack([images for images, _, _ in items])
    masks = torch.stack([F.pad(m, (0, 0, 0, 0, 0, slots - m.shape[1])) for _, m, _ in items])
    valid = torch.stack([F.pad(v, (0, slots - v.shape[0])) for _, _, v in items])
    return rgb, masks, valid


def adapt_network(
    network: XMem,
    examples: Sequence[Example],
    config: AdaptConfig,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[XMem, AdaptReport]:
    """A copy of ``network`` adapted to the annotated frames ``examples`` (see the module).

    Args:
        network: the network to start from (not changed).
        examples: (RGB uint8 H×W×3, object ids H×W) pairs at the processing size; at least
            one object in one of them.
        config: how to adapt; ``config.steps`` 0 returns ``network`` itself.
        progress: called with (steps done, steps) after each step.
    """
    if config.steps == 0:
        return network, AdaptReport(0, 0.0, float("nan"), float("nan"))
    if not any(ids.any() for _, ids in examples):
        raise ConfigError("adaptation needs an annotated frame with an object")
    start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    # a caller in inference mode (Tracker.track) would make the copy's tensors inference
    # tensors, which autograd refuses: copy and train outside it
    with torch.inference_mode(False), torch.enable_grad():
        adapted = copy.deepcopy(network).eval()
        adapted.requires_grad_(False)
        trained = adaptable_parameters(adapted)
        for p in trained:
            p.requires_grad_(True)
        optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=0.0)
        for step in range(config.steps):
            batch = pseudo_batch(examples, config, rng)
            rgb, masks, valid = (x.to(adapted.device) for x in batch)
            out = clip_forward(adapted, rgb, masks, valid, generator, deep_update_prob=0.0)
            loss = step_loss(out, masks, valid, fraction=1.0)["loss"]
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)  # what Tensor.backward calls, but annotated
            nn.utils.clip_grad_norm_(trained, 3.0)
            optimizer.step()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(step + 1, config.steps)
    adapted.requires_grad_(False)
    quarter = max(1, len(losses) // 4)
    report = AdaptReport(
        config.steps,
        time.perf_counter() - start,
        float(np.mean(losses[:quarter])),
        float(np.mean(losses[-quarter:])),
    )
    logger.info(
        "adapted the network in %d steps (%.1f s): loss %.3f → %.3f",
        report.steps,
        report.seconds,
        report.first_loss,
        report.last_loss,
    )
    return adapted, report
