"""Training datasets: clips of videos, of deformed static images, or of synthetic videos.

Their items are described in :mod:`xmem.train.data`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xmem.data import EvalSequence, load_dataset
from xmem.data.synthetic import SyntheticVideo
from xmem.errors import XMemError
from xmem.train.augment import AugmentConfig
from xmem.train.config import StageConfig
from xmem.train.data import (
    Clip,
    ClipDataset,
    augment_config,
    objects_in,
    read_clip,
    read_frame,
    sample_frame_indices,
    select_objects,
)
from xmem.train.paste import paste_object

__all__ = ["MixedClips", "StaticClips", "SyntheticClips", "VideoClips", "build_dataset"]

logger = logging.getLogger(__name__)

_FIRST_FRAME_TRIES = 4  # frame samplings tried to find a first frame that shows an object


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


class VideoClips(ClipDataset):
    """Clips of ``num_frames`` annotated frames of the videos of a dataset (the video stages).

    Item ``i`` comes from sequence ``i mod n_sequences``. Its frames are drawn by
    :func:`sample_frame_indices` among the sequence's annotated frames from the first one that
    gives an object on (YouTube-VOS annotates every 5th frame: only those are used), and
    ``max_jump`` is counted in frames of the video, i.e. divided by the typical spacing of the
    annotated frames (20 → 4 annotated frames of YouTube-VOS). A sequence with fewer annotated
    frames than ``num_frames`` is used with frames repeated. Up to ``max_objects`` random
    objects of the first chosen frame are kept (objects that appear later are background).
    Then, with probability ``paste_prob`` and while slots remain, an object of a clip of
    another random sequence is pasted on top (see :func:`~xmem.train.paste.paste_object`),
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
            config=augment_config(crop, augment, "video"),
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

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> Clip:
        k = (index + attempt // 2) % len(self.sequences)
        seq = self.sequences[k]
        frames, ids0 = self._sample(k, rng)
        rgb, ids = read_clip(seq, frames)
        ids, n = select_objects(ids, objects_in(ids0), self.max_objects, rng)
        while n < self.max_objects and rng.random() < self.paste_prob:
            if self._paste(k, rgb, ids, n + 1, rng):
                n += 1
        return Clip(rgb, ids, n, seq.name)

    def _paste(
        self, k: int, rgb: np.ndarray, ids: np.ndarray, new_id: int, rng: np.random.Generator
    ) -> bool:
        n_seq = len(self.sequences)
        donor = k if n_seq == 1 else (k + 1 + int(rng.integers(n_seq - 1))) % n_seq
        frames, ids0 = self._sample(donor, rng)
        present = objects_in(ids0)
        if not present:
            return False
        obj = int(rng.choice(present))
        donor_rgb, donor_ids = read_clip(self.sequences[donor], frames)
        return paste_object(rgb, ids, donor_rgb, donor_ids == obj, new_id, rng)


class StaticClips(ClipDataset):
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
            config=augment_config(crop, augment, "static"),
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
            rgb, ids = read_frame(seq, int(t))
            if ids.any():
                return rgb, ids, f"{seq.name}/{seq.frame_names[int(t)]}"
        raise XMemError(
            f"'{self.root}': no object in 16 annotated images from "
            f"{self.sequences[int(self.images[start % len(self.images)][0])].name} on"
        )

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> Clip:
        rgb, ids, name = self._image(index + attempt // 2)
        rgb, ids = rgb[None].copy(), ids[None].copy()
        ids, n = select_objects(ids, objects_in(ids), self.max_objects, rng)
        while n < self.max_objects and rng.random() < self.paste_prob:
            donor_rgb, donor_ids, _ = self._image(int(rng.integers(len(self.images))))
            obj = int(rng.choice(objects_in(donor_ids)))
            if paste_object(rgb, ids, donor_rgb[None], donor_ids[None] == obj, n + 1, rng):
                n += 1
        rgb = np.repeat(rgb, self.num_frames, axis=0)
        ids = np.repeat(ids, self.num_frames, axis=0)
        return Clip(rgb, ids, n, name)


class SyntheticClips(ClipDataset):
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
            config=augment_config(crop, augment, "video"),
        )
        if size[0] < 16 or size[1] < 16:
            raise ValueError(f"synthetic frames must be at least 16×16, got {size}")
        if max_jump < 1:
            raise ValueError(f"max_jump must be at least 1, got {max_jump}")
        self.size = size
        self.max_jump = max_jump

    def _size(self) -> int:
        return 1000

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> Clip:
        n = int(rng.integers(1, self.max_objects + 1))
        video_seed = int(rng.integers(2**62))
        video = SyntheticVideo(self.size[0], self.size[1], n, video_seed)
        frames = sample_frame_indices(1000, self.num_frames, self.max_jump, rng)
        rendered = [video.render(t) for t in frames]
        rgb = np.stack([r[0] for r in rendered])
        ids = np.stack([r[1] for r in rendered])
        # objects hidden by others in the first frame are not given
        ids, n = select_objects(ids, objects_in(ids[0]), self.max_objects, rng)
        return Clip(rgb, ids, n, f"synthetic video {video_seed}")


class MixedClips(ClipDataset):
    """The items of ``base``, each one replaced with probability ``synthetic_prob`` by a
    synthetic clip (:class:`SyntheticClips`: the same frames, crop and object slots), augmented
    as ``base`` augments.

    Real data teaches what objects look like; synthetic shapes with random textures teach the
    decoder to follow the memory even where nothing stands out, as the paper's BL30K stage does.
    """

    def __init__(self, base: ClipDataset, synthetic_prob: float) -> None:
        if not 0 <= synthetic_prob <= 1:
            raise ValueError(f"synthetic_prob must be between 0 and 1, got {synthetic_prob}")
        super().__init__(
            num_frames=base.num_frames,
            crop=base.crop,
            max_objects=base.max_objects,
            seed=base.seed,
            samples_per_epoch=base.samples_per_epoch,
            config=base.config,
        )
        self.base = base
        self.synthetic = SyntheticClips(
            num_frames=base.num_frames,
            crop=base.crop,
            max_objects=base.max_objects,
            augment=base.config,
            seed=base.seed,
        )
        self.synthetic_prob = synthetic_prob

    def _size(self) -> int:
        return self.base._size()

    def _compose(self, index: int, attempt: int, rng: np.random.Generator) -> Clip:
        if rng.random() < self.synthetic_prob:
            return self.synthetic._compose(index, attempt, rng)
        return self.base._compose(index, attempt, rng)


def build_dataset(config: StageConfig, samples: int) -> ClipDataset:
    """The training clips of a stage, ``samples`` items an epoch (with ``synthetic_prob`` of
    them synthetic clips, see :class:`MixedClips`, and ``hard_case_prob`` of them with a hard
    case drawn on, see :mod:`xmem.train.hard_cases`)."""
    c = config
    if c.stage == "synthetic":
        synthetic = SyntheticClips(
            num_frames=c.num_frames,
            crop=c.crop,
            max_objects=c.max_objects,
            seed=c.seed,
            samples_per_epoch=samples,
        )
        synthetic.hard_case_prob = c.hard_case_prob
        return synthetic
    assert c.data is not None
    base: ClipDataset
    if c.stage == "static":
        base = StaticClips(
            c.data,
            split=c.split,
            num_frames=c.num_frames,
            crop=c.crop,
            max_objects=c.max_objects,
            paste_prob=c.paste_prob,
            seed=c.seed,
            samples_per_epoch=samples,
        )
    else:
        base = VideoClips(
            c.data,
            split=c.split,
            num_frames=c.num_frames,
            max_jump=c.max_jump,
            crop=c.crop,
            max_objects=c.max_objects,
            paste_prob=c.paste_prob,
            seed=c.seed,
            samples_per_epoch=samples,
        )
    dataset = base if not c.synthetic_prob else MixedClips(base, c.synthetic_prob)
    dataset.hard_case_prob = c.hard_case_prob
    return dataset
