"""Training items: clips read from a dataset's sequences, augmented and assembled.

The datasets (clips of videos, of deformed static images, or of synthetic videos) are in
:mod:`xmem.train.clips`; they share :class:`ClipDataset` and :func:`~xmem.train.augment.make_item`.

Every item is a dict of tensors of fixed shapes, ready for a ``DataLoader`` with default
collation::

    rgb    float32 T×3×S×S   ImageNet-normalised frames (S = crop)
    masks  float32 T×K×S×S   {0, 1}; slot k is object k (K = max_objects); unused slots are 0
    valid  bool    K         which slots hold an object (at least one; all are visible in
                             frame 0, where the tracker is given their masks)

Objects never overlap (each pixel has one id). An object that is not visible in the first frame
of the clip is not given, so it is background in every frame; so are void pixels (DAVIS id 255).

Determinism: item ``i`` depends only on ``(seed, epoch, i)`` (call :meth:`set_epoch` before
each epoch): every random draw comes from a ``numpy.random.Generator`` seeded with them, never
from a global RNG, so two datasets with the same seed give identical items, in any process and
in any ``DataLoader`` worker. (``set_epoch`` reaches the workers when they are started for the
epoch, i.e. without ``persistent_workers``.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from xmem.data import EvalSequence
from xmem.errors import XMemError
from xmem.io.frames import list_images, load_rgb
from xmem.train.augment import AugmentConfig, augment_clip, make_item, min_visible_pixels
from xmem.train.hard_cases import add_hard_case

logger = logging.getLogger(__name__)

_ATTEMPTS = 6  # clips tried for one item before giving up (each needs an object in frame 0)


def sample_frame_indices(
    n_annotated: int,
    num_frames: int,
    max_jump: int,
    rng: np.random.Generator,
    *,
    reverse_prob: float = 0.5,
) -> list[int]:
    """Positions (into a list of ``n_annotated`` usable frames) of a training clip.

    The positions increase, consecutive ones at most ``max_jump`` apart: the gaps are drawn
    uniformly in ``1..max_jump``, shrunk at random until the clip fits, and the clip starts
    anywhere it fits. With probability ``reverse_prob`` the order is reversed (the clip plays
    backward). A list shorter than ``num_frames`` is used whole, in order, with random frames
    repeated (consecutive positions then differ by 0 or 1).
    """
    if n_annotated < 1:
        raise ValueError("no frame to sample from")
    if num_frames < 1 or max_jump < 1:
        raise ValueError(f"num_frames and max_jump must be ≥ 1, got {num_frames}, {max_jump}")
    if num_frames == 1:
        return [int(rng.integers(n_annotated))]
    if n_annotated < num_frames:
        extra = rng.integers(0, n_annotated, num_frames - n_annotated)
        positions = np.sort(np.concatenate([np.arange(n_annotated), extra]))
    else:
        top = min(max_jump, n_annotated - num_frames + 1)  # no single gap can be larger
        gaps = rng.integers(1, top + 1, num_frames - 1)
        excess = int(gaps.sum()) - (n_annotated - 1)
        while excess > 0:
            shrinkable = np.flatnonzero(gaps > 1)
            chosen = rng.choice(shrinkable, min(excess, shrinkable.size), replace=False)
            gaps[chosen] -= 1
            excess -= chosen.size
        span = int(gaps.sum())
        start = int(rng.integers(0, n_annotated - span))
        positions = start + np.concatenate([[0], np.cumsum(gaps)])
    if rng.random() < reverse_prob:
        positions = positions[::-1]
    return [int(p) for p in positions]


@lru_cache(maxsize=256)
def frame_files(folder: Path) -> tuple[Path, ...]:
    """The frames of ``folder`` (cached: a training run reads the same folders again)."""
    return tuple(list_images(folder))


def read_frame(seq: EvalSequence, t: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB and object ids (void → 0) of annotated frame ``t`` of ``seq``, checked to match."""
    files = frame_files(seq.frames)
    if len(files) != len(seq):
        raise XMemError(f"sequence '{seq.name}': '{seq.frames}' changed since it was listed")
    rgb = load_rgb(files[t])
    ids, _ = seq.annotation(t)
    if ids.shape != rgb.shape[:2]:
        raise XMemError(
            f"sequence '{seq.name}': annotation '{seq.mask_path(t)}' is "
            f"{ids.shape[1]}×{ids.shape[0]} but frame '{files[t]}' is "
            f"{rgb.shape[1]}×{rgb.shape[0]}"
        )
    return rgb, ids


def read_clip(seq: EvalSequence, frames: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """T×H×W×3 frames and T×H×W ids of ``frames`` of ``seq`` (repeated frames read once)."""
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for t in frames:
        if t not in cache:
            cache[t] = read_frame(seq, t)
    shapes = {rgb.shape for rgb, _ in cache.values()}
    if len(shapes) > 1:
        raise XMemError(f"sequence '{seq.name}': frames of different sizes in '{seq.frames}'")
    return np.stack([cache[t][0] for t in frames]), np.stack([cache[t][1] for t in frames])


def select_objects(
    ids: np.ndarray, present: Sequence[int], limit: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Keep up to ``limit`` random objects of ``present``, renumbered 1..n in the order drawn;
    all other ids become background. Returns (ids, n)."""
    chosen = rng.permutation(np.asarray(present, np.int64))[:limit]
    table = np.zeros(256, np.uint8)
    table[chosen] = np.arange(1, chosen.size + 1)
    return table[ids], int(chosen.size)


def objects_in(ids: np.ndarray) -> list[int]:
    """The object ids present in ``ids`` (0, the background, left out)."""
    return [k for k in np.unique(ids).tolist() if k != 0]


@dataclass(frozen=True)
class Clip:
    """A clip before augmentation, its objects numbered 1..n."""

    rgb: np.ndarray  # T×H×W×3 uint8
    ids: np.ndarray  # T×H×W uint8, objects 1..n
    n_objects: int
    name: str


class ClipDataset(Dataset[dict[str, Tensor]]):
    """Common part: per-item RNG, augmentation, hard cases, visibility checks and retries.

    ``hard_case_prob``: the share of items on which :func:`~xmem.train.hard_cases.add_hard_case`
    draws a hard case after augmentation (0: none, and no random draw for it).
    """

    def __init__(
        self,
        *,
        num_frames: int,
        crop: int,
        max_objects: int,
        seed: int,
        samples_per_epoch: int | None,
        config: AugmentConfig,
    ) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        if max_objects < 1:
            raise ValueError(f"max_objects must be at least 1, got {max_objects}")
        if max_objects > 254:
            raise ValueError(f"max_objects must be at most 254, got {max_objects}")
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        if samples_per_epoch is not None and samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be positive, got {samples_per_epoch}")
        if config.crop != crop:
            raise ValueError(f"the augmentation crops {config.crop} pixels but crop is {crop}")
        self.num_frames = num_frames
        self.crop = crop
        self.max_objects = max_objects
        self.seed = seed
        self.samples_per_epoch = samples_per_epoch
        self.config = config
        self.hard_case_prob = 0.0  # set by build_dataset from the stage's checked config
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make items depend on ``epoch`` too (call it before iterating each epoch)."""
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}")
        self.epoch = epoch

    def _size(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.samples_per_epoch if self.samples_per_epoch is not None else self._size()

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> Clip:
        """A clip (before augmentation) with at least one object in its first frame."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        index %= n
        rng = np.random.default_rng([self.seed, self.epoch, index])
        tried = []
        for attempt in range(_ATTEMPTS):
            clip = self._compose(index, attempt, rng)
            images, labels = augment_clip(clip.rgb, clip.ids, self.config, rng)
            n_objects = clip.n_objects
            # drawn only when asked for, so that items without hard cases stay as they were
            if self.hard_case_prob and rng.random() < self.hard_case_prob:
                case = add_hard_case(images, labels, n_objects, self.max_objects, rng)
                images, labels, n_objects = case.images, case.labels, case.n_objects
            item = make_item(
                images, labels, n_objects, self.max_objects, min_visible_pixels(self.crop)
            )
            if item is not None:
                return item
            tried.append(clip.name)
            logger.debug("item %d: no object left visible in %s; trying again", index, clip.name)
        raise XMemError(
            f"no object stays visible in the first frame of {self.crop}×{self.crop} crops of "
            f"{', '.join(sorted(set(tried)))}: objects too small?"
        )


def augment_config(crop: int, augment: bool | AugmentConfig, kind: str) -> AugmentConfig:
    """``augment`` itself, the plain config (False) or the default of ``kind`` (True)."""
    if isinstance(augment, AugmentConfig):
        return augment
    if not augment:
        return AugmentConfig.plain(crop)
    return AugmentConfig.static(crop) if kind == "static" else AugmentConfig.video(crop)
