"""Training datasets: clips of videos, of deformed static images, or of synthetic videos.

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

from xmem.data import EvalSequence, load_dataset
from xmem.data.synthetic import SyntheticVideo
from xmem.errors import XMemError
from xmem.io.frames import list_images, load_rgb
from xmem.train.augment import (
    AugmentConfig,
    augment_clip,
    make_item,
    min_visible_pixels,
    paste_object,
)

__all__ = ["StaticClips", "SyntheticClips", "VideoClips", "sample_frame_indices"]

logger = logging.getLogger(__name__)

_ATTEMPTS = 6  # clips tried for one item before giving up (each needs an object in frame 0)
_FIRST_FRAME_TRIES = 4  # frame samplings tried to find a first frame that shows an object


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
def _frame_files(folder: Path) -> tuple[Path, ...]:
    return tuple(list_images(folder))


def _read_frame(seq: EvalSequence, t: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB and object ids (void → 0) of annotated frame ``t`` of ``seq``, checked to match."""
    files = _frame_files(seq.frames)
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


def _read_clip(seq: EvalSequence, frames: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """T×H×W×3 frames and T×H×W ids of ``frames`` of ``seq`` (repeated frames read once)."""
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for t in frames:
        if t not in cache:
            cache[t] = _read_frame(seq, t)
    shapes = {rgb.shape for rgb, _ in cache.values()}
    if len(shapes) > 1:
        raise XMemError(f"sequence '{seq.name}': frames of different sizes in '{seq.frames}'")
    return np.stack([cache[t][0] for t in frames]), np.stack([cache[t][1] for t in frames])


def _select_objects(
    ids: np.ndarray, present: Sequence[int], limit: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Keep up to ``limit`` random objects of ``present``, renumbered 1..n in the order drawn;
    all other ids become background. Returns (ids, n)."""
    chosen = rng.permutation(np.asarray(present, np.int64))[:limit]
    table = np.zeros(256, np.uint8)
    table[chosen] = np.arange(1, chosen.size + 1)
    return table[ids], int(chosen.size)


def _objects(ids: np.ndarray) -> list[int]:
    return [k for k in np.unique(ids).tolist() if k != 0]


@dataclass(frozen=True)
class _Clip:
    rgb: np.ndarray  # T×H×W×3 uint8
    ids: np.ndarray  # T×H×W uint8, objects 1..n
    n_objects: int
    name: str


class _Clips(Dataset[dict[str, Tensor]]):
    """Common part: per-item RNG, augmentation, visibility checks and retries."""

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

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> _Clip:
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
            item = make_item(
                images, labels, clip.n_objects, self.max_objects, min_visible_pixels(self.crop)
            )
            if item is not None:
                return item
            tried.append(clip.name)
            logger.debug("item %d: no object left visible in %s; trying again", index, clip.name)
        raise XMemError(
            f"no object stays visible in the first frame of {self.crop}×{self.crop} crops of "
            f"{', '.join(sorted(set(tried)))}: objects too small?"
        )


def _config(crop: int, augment: bool | AugmentConfig, kind: str) -> AugmentConfig:
    if isinstance(augment, AugmentConfig):
        return augment
    if not augment:
        return AugmentConfig.plain(crop)
    return AugmentConfig.static(crop) if kind == "static" else AugmentConfig.video(crop)


def _load(
    root: str | Path,
    layout: str | None,
    split: str | None,
    resolution: str,
    sequences: Sequence[str] | None,
) -> tuple[EvalSequence, ...]:
    dataset = load_dataset(
        root, layout=layout, split=split, resolution=resolution, sequences=sequences
    )
    usable = tuple(s for s in dataset.sequences if s.given)
    if not usable:
        raise XMemError(f"dataset '{root}' has no sequence with an annotated object")
    return usable


class VideoClips(_Clips):
    """Clips of ``num_frames`` annotated frames of the videos of a dataset (the video stages).

    Item ``i`` comes from sequence ``i mod n_sequences``. Its frames are drawn by
    :func:`sample_frame_indices` among the sequence's annotated frames from the first one that
    gives an object on (YouTube-VOS annotates every 5th frame: only those are used), and
    ``max_jump`` is counted in frames of the video, i.e. divided by the typical spacing of the
    annotated frames (20 → 4 annotated frames of YouTube-VOS). A sequence with fewer annotated
    frames than ``num_frames`` is used with frames repeated. Up to ``max_objects`` random
    objects of the first chosen frame are kept (objects that appear later are background).
    Then, with probability ``paste_prob`` and while slots remain, an object of a clip of
    another random sequence is pasted on top (see :func:`~xmem.train.augment.paste_object`),
    which makes multi-object clips out of single-object data such as DAVIS 2016.

    Args:
        root: the dataset (DAVIS, YouTube-VOS or generic layout, see
            :func:`xmem.data.load_dataset`; ``split``, ``layout``, ``sequences`` and
            ``resolution`` are passed on).
        num_frames: frames per clip.
        max_jump: largest distance between consecutive chosen frames, in video frames.
        crop: output side in pixels.
        max_objects: object slots per item.
        paste_prob: probability of pasting each further object.
        augment: True for the paper's augmentation (:meth:`AugmentConfig.video`), False for
            resize and crop only, or an :class:`AugmentConfig`.
        seed: with the epoch and the index, determines the item.
        samples_per_epoch: ``len()`` (default: the number of sequences).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        split: str | None = None,
        layout: str | None = None,
        sequences: Sequence[str] | None = None,
        num_frames: int = 8,
        max_jump: int = 20,
        crop: int = 384,
        max_objects: int = 3,
        paste_prob: float = 0.5,
        augment: bool | AugmentConfig = True,
        seed: int = 0,
        samples_per_epoch: int | None = None,
        resolution: str = "480p",
    ) -> None:
        super().__init__(
            num_frames=num_frames,
            crop=crop,
            max_objects=max_objects,
            seed=seed,
            samples_per_epoch=samples_per_epoch,
            config=_config(crop, augment, "video"),
        )
        if max_jump < 1:
            raise ValueError(f"max_jump must be at least 1, got {max_jump}")
        self.root = Path(root)
        self.max_jump = max_jump
        self.paste_prob = paste_prob
        self.sequences = _load(root, layout, split, resolution, sequences)
        self._usable: list[tuple[int, ...]] = []
        self._jumps: list[int] = []
        for seq in self.sequences:
            first = min(seq.given)
            usable = tuple(t for t in seq.annotated if t >= first)
            spacing = float(np.median(np.diff(usable))) if len(usable) > 1 else 1.0
            self._usable.append(usable)
            self._jumps.append(max(1, round(max_jump / spacing)))
        short = [
            s.name for s, u in zip(self.sequences, self._usable, strict=True) if len(u) < num_frames
        ]
        if short:
            logger.warning(
                "%d of %d sequences have fewer than %d annotated frames; their clips repeat "
                "frames (%s%s)",
                len(short),
                len(self.sequences),
                num_frames,
                ", ".join(short[:5]),
                ", …" if len(short) > 5 else "",
            )
        logger.info("%s: %d sequences for training clips", self.root, len(self.sequences))

    def _size(self) -> int:
        return len(self.sequences)

    def _sample(self, k: int, rng: np.random.Generator) -> tuple[list[int], np.ndarray]:
        """Frame indices of a clip of sequence ``k`` whose first frame shows an object, and
        that frame's ids."""
        seq, usable = self.sequences[k], self._usable[k]
        for _ in range(_FIRST_FRAME_TRIES):
            positions = sample_frame_indices(len(usable), self.num_frames, self._jumps[k], rng)
            ids0, _ = seq.annotation(usable[positions[0]])
            if ids0.any():
                return [usable[p] for p in positions], ids0
        # forward from the first frame that gives an object (which shows one)
        positions = sample_frame_indices(
            len(usable), self.num_frames, self._jumps[k], rng, reverse_prob=0.0
        )
        frames = [usable[p - positions[0]] for p in positions]
        return frames, seq.annotation(frames[0])[0]

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> _Clip:
        k = (index + attempt // 2) % len(self.sequences)
        seq = self.sequences[k]
        frames, ids0 = self._sample(k, rng)
        rgb, ids = _read_clip(seq, frames)
        ids, n = _select_objects(ids, _objects(ids0), self.max_objects, rng)
        while n < self.max_objects and rng.random() < self.paste_prob:
            if self._paste(k, rgb, ids, n + 1, rng):
                n += 1
        return _Clip(rgb, ids, n, seq.name)

    def _paste(
        self, k: int, rgb: np.ndarray, ids: np.ndarray, new_id: int, rng: np.random.Generator
    ) -> bool:
        n_seq = len(self.sequences)
        donor = k if n_seq == 1 else (k + 1 + int(rng.integers(n_seq - 1))) % n_seq
        frames, ids0 = self._sample(donor, rng)
        present = _objects(ids0)
        if not present:
            return False
        obj = int(rng.choice(present))
        donor_rgb, donor_ids = _read_clip(self.sequences[donor], frames)
        return paste_object(rgb, ids, donor_rgb, donor_ids == obj, new_id, rng)


class StaticClips(_Clips):
    """Clips of ``num_frames`` independently deformed copies of one image (the static stage).

    Every annotated frame of a dataset (any layout) is an image with its mask; item ``i`` is
    image ``i mod n_images`` (an image without objects is replaced by the next one). Up to
    ``max_objects`` of its objects are kept, and further objects cut from other random images
    are pasted with probability ``paste_prob`` each, while slots remain. The clip is one crop
    window of the image whose every frame gets its own strong affine warp and smooth elastic
    field (:meth:`AugmentConfig.static`). Arguments as :class:`VideoClips`.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        split: str | None = None,
        layout: str | None = None,
        sequences: Sequence[str] | None = None,
        num_frames: int = 3,
        crop: int = 384,
        max_objects: int = 3,
        paste_prob: float = 0.5,
        augment: bool | AugmentConfig = True,
        seed: int = 0,
        samples_per_epoch: int | None = None,
        resolution: str = "480p",
    ) -> None:
        super().__init__(
            num_frames=num_frames,
            crop=crop,
            max_objects=max_objects,
            seed=seed,
            samples_per_epoch=samples_per_epoch,
            config=_config(crop, augment, "static"),
        )
        self.root = Path(root)
        self.paste_prob = paste_prob
        self.sequences = _load(root, layout, split, resolution, sequences)
        # (sequence, frame) of every annotated frame, as an array: cheap to share with workers
        self.images = np.array(
            [(k, t) for k, seq in enumerate(self.sequences) for t in seq.annotated], np.int64
        )
        logger.info("%s: %d annotated images for static clips", self.root, len(self.images))

    def _size(self) -> int:
        return len(self.images)

    def _image(self, start: int) -> tuple[np.ndarray, np.ndarray, str]:
        """The first image from ``start`` on (cyclically, a few at most) that has an object."""
        for step in range(min(len(self.images), 16)):
            k, t = self.images[(start + step) % len(self.images)]
            seq = self.sequences[int(k)]
            rgb, ids = _read_frame(seq, int(t))
            if ids.any():
                return rgb, ids, f"{seq.name}/{seq.frame_names[int(t)]}"
        raise XMemError(
            f"'{self.root}': no object in 16 annotated images from "
            f"{self.sequences[int(self.images[start % len(self.images)][0])].name} on"
        )

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> _Clip:
        rgb, ids, name = self._image(index + attempt // 2)
        rgb, ids = rgb[None].copy(), ids[None].copy()
        ids, n = _select_objects(ids, _objects(ids), self.max_objects, rng)
        while n < self.max_objects and rng.random() < self.paste_prob:
            donor_rgb, donor_ids, _ = self._image(int(rng.integers(len(self.images))))
            obj = int(rng.choice(_objects(donor_ids)))
            if paste_object(rgb, ids, donor_rgb[None], donor_ids[None] == obj, n + 1, rng):
                n += 1
        rgb = np.repeat(rgb, self.num_frames, axis=0)
        ids = np.repeat(ids, self.num_frames, axis=0)
        return _Clip(rgb, ids, n, name)


class SyntheticClips(_Clips):
    """Clips of :class:`~xmem.data.synthetic.SyntheticVideo` s: pretraining without data.

    Item ``i`` is a video of ``size`` (H, W) with 1..``max_objects`` objects and a seed drawn
    from the item's RNG (so an endless variety of videos), of which ``num_frames`` frames are
    drawn by :func:`sample_frame_indices` among its first 1000 (``max_jump`` apart at most).
    Augmented as video clips (:meth:`AugmentConfig.video`) unless ``augment`` says otherwise.
    """

    def __init__(
        self,
        *,
        num_frames: int = 8,
        crop: int = 384,
        max_objects: int = 3,
        size: tuple[int, int] = (384, 384),
        max_jump: int = 5,
        augment: bool | AugmentConfig = True,
        seed: int = 0,
        samples_per_epoch: int = 1000,
    ) -> None:
        super().__init__(
            num_frames=num_frames,
            crop=crop,
            max_objects=max_objects,
            seed=seed,
            samples_per_epoch=samples_per_epoch,
            config=_config(crop, augment, "video"),
        )
        if size[0] < 16 or size[1] < 16:
            raise ValueError(f"synthetic frames must be at least 16×16, got {size}")
        if max_jump < 1:
            raise ValueError(f"max_jump must be at least 1, got {max_jump}")
        self.size = size
        self.max_jump = max_jump

    def _size(self) -> int:
        return 1000

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> _Clip:
        n = int(rng.integers(1, self.max_objects + 1))
        video_seed = int(rng.integers(2**62))
        video = SyntheticVideo(self.size[0], self.size[1], n, video_seed)
        frames = sample_frame_indices(1000, self.num_frames, self.max_jump, rng)
        rendered = [video.render(t) for t in frames]
        rgb = np.stack([r[0] for r in rendered])
        ids = np.stack([r[1] for r in rendered])
        # objects hidden by others in the first frame are not given
        ids, n = _select_objects(ids, _objects(ids[0]), self.max_objects, rng)
        return _Clip(rgb, ids, n, f"synthetic video {video_seed}")
