"""Run a method over a dataset's sequences, write its predictions and score them.

A method is a :data:`Predictor`: given a sequence and its frames, it yields one id mask per
frame, in order. Predictions are written per sequence in the dataset's own layout, staged so
that a sequence folder only appears complete; a small JSON record per sequence (its scores and
timing) marks it done, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm.std import tqdm

from xmem.data import Dataset, EvalSequence
from xmem.data.layouts import layout_class
from xmem.errors import XMemError
from xmem.eval.metrics import Statistics, frame_scores, statistics
from xmem.eval.records import MetricStats, ObjectScores, SequenceRecord
from xmem.eval.report import finite_mean
from xmem.inference.options import TrackOptions
from xmem.inference.tracker import Tracker
from xmem.io.frames import open_frames
from xmem.io.masks import read_mask, write_mask
from xmem.io.output import StagedDirectory, atomic_output_file
from xmem.io.source import FrameSource
from xmem.model.network import XMem

logger = logging.getLogger(__name__)

Predictor = Callable[[EvalSequence, FrameSource], Iterator[np.ndarray]]
RECORDS = "sequences"  # run folder's sub-folder of per-sequence JSON records


def given_annotations(seq: EvalSequence) -> dict[int, np.ndarray]:
    """Frame → id mask of the objects first given on that frame (the others set to 0)."""
    out = {}
    for t, ids in seq.given.items():
        mask, _ = seq.annotation(t)
        out[t] = np.where(np.isin(mask, ids), mask, 0).astype(np.uint8)
    return out


def xmem_predictor(network: XMem | Tracker, options: TrackOptions | None = None) -> Predictor:
    """XMem, through one :class:`~xmem.inference.tracker.Tracker` (given, or made from
    ``network`` and ``options``), with one engine per sequence."""
    tracker = network if isinstance(network, Tracker) else Tracker(network, options)

    def predict(seq: EvalSequence, source: FrameSource) -> Iterator[np.ndarray]:
        for result in tracker.track(source, given_annotations(seq)):
            yield result.mask

    return predict


def copy_first_predictor(seq: EvalSequence, source: FrameSource) -> Iterator[np.ndarray]:
    """The trivial baseline: every frame repeats the masks given so far."""
    annotations = given_annotations(seq)
    current = np.zeros((source.height, source.width), dtype=np.uint8)
    for t in range(len(seq)):
        if t in annotations:
            current = np.where(annotations[t] > 0, annotations[t], current)
        yield current


def prediction_dir(root: Path, seq: EvalSequence, existing: bool = False) -> Path:
    """Where a sequence's predictions are, in its layout's results format (e.g. ``<seq>/``, or
    ``Annotations/<seq>/`` for YouTube-VOS; with ``existing``, also a plain ``<seq>/``)."""
    return layout_class(seq.layout).results_dir(root, seq.name, existing)


def _check_sizes(seq: EvalSequence, source: FrameSource) -> None:
    for t in seq.given:
        ids, _ = seq.annotation(t)
        if ids.shape != (source.height, source.width):
            raise XMemError(
                f"sequence '{seq.name}': annotation '{seq.mask_path(t)}' is "
                f"{ids.shape[1]}×{ids.shape[0]} but the frames are {source.width}×{source.height}"
            )


def predict_sequence(
    seq: EvalSequence, predictor: Predictor, out: Path, position: int = 0, progress: bool = True
) -> float:
    """Write the predictions of one sequence into ``out``; returns the seconds it took."""
    first = min(seq.given)
    palette = read_mask(seq.mask_path(first)).palette
    with open_frames(seq.frames) as source, StagedDirectory(out) as staged:
        _check_sizes(seq, source)
        bar = tqdm(
            total=len(seq),
            desc=seq.name,
            unit="frame",
            position=position,
            leave=False,
            disable=not progress,
            dynamic_ncols=True,
        )
        start = time.perf_counter()
        count = 0
        for ids in predictor(seq, source):
            if count >= len(seq):
                raise XMemError(f"sequence '{seq.name}': the method gave more masks than frames")
            write_mask(staged.path / f"{seq.frame_names[count]}.png", ids, palette)
            count += 1
            bar.update()
        seconds = time.perf_counter() - start
        bar.close()
        if count != len(seq):
            raise XMemError(
                f"sequence '{seq.name}': the method gave {count} masks for {len(seq)} frames"
            )
    return seconds


def score_sequence(
    seq: EvalSequence, predictions: Path, exclude_void: bool = False
) -> dict[int, dict[str, list[float]]]:
    """Per object, J and F of every scored frame, read from the prediction PNGs."""
    scored = {obj: set(seq.scored_frames(obj)) for obj in seq.objects}
    values: dict[int, dict[str, list[float]]] = {o: {"J": [], "F": []} for o in seq.objects}
    for t in sorted(set().union(*scored.values())):
        gt, void = seq.annotation(t)
        path = predictions / f"{seq.frame_names[t]}.png"
        if not path.is_file():
            raise XMemError(
                f"sequence '{seq.name}': no prediction for frame '{seq.frame_names[t]}' "
                f"(missing {path})"
            )
        pred = read_mask(path).ids
        if pred.shape != gt.shape:
            raise XMemError(
                f"sequence '{seq.name}': prediction '{path}' is {pred.shape[1]}×{pred.shape[0]} "
                f"but the ground truth '{seq.mask_path(t)}' is {gt.shape[1]}×{gt.shape[0]}"
            )
        objects = [o for o in seq.objects if t in scored[o]]
        j, f = frame_scores(gt, pred, objects, void if exclude_void else None)
        for obj, jv, fv in zip(objects, j, f, strict=True):
            values[obj]["J"].append(float(jv))
            values[obj]["F"].append(float(fv))
    return values


def sequence_record(
    seq: EvalSequence, values: dict[int, dict[str, list[float]]], seconds: float | None
) -> SequenceRecord:
    """The record of one sequence: per-object statistics, means and timing."""
    per_object: dict[str, ObjectScores] = {}
    for obj, v in values.items():
        j, f = (statistics(np.asarray(v[m], dtype=np.float64)) for m in ("J", "F"))
        per_object[str(obj)] = ObjectScores(_stats(j), _stats(f), len(v["J"]))
    j_mean = finite_mean([o.j.mean for o in per_object.values()])
    f_mean = finite_mean([o.f.mean for o in per_object.values()])
    return SequenceRecord(
        sequence=seq.name,
        frames=len(seq),
        objects=seq.objects,
        per_object=per_object,
        j=j_mean,
        f=f_mean,
        jf=None if j_mean is None or f_mean is None else (j_mean + f_mean) / 2,
        seconds=seconds,
        fps=len(seq) / seconds if seconds else None,
    )


def _stats(s: Statistics) -> MetricStats:
    return MetricStats(_finite(s.mean), _finite(s.recall), _finite(s.decay))


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def evaluate_sequences(
    dataset: Dataset,
    indices: Sequence[int],
    run_dir: Path,
    predictor: Predictor | None = None,
    predictions: Path | None = None,
    resume: bool = True,
    exclude_void: bool = False,
    progress: bool = True,
    worker: int = 0,
) -> list[SequenceRecord]:
    """Predict (with ``predictor``) or read (from ``predictions``) and score some sequences.

    With a predictor, predictions go to ``run_dir/predictions`` and a record per sequence to
    ``run_dir/sequences``; with ``resume`` a sequence that has its record is not run again.
    """
    if (predictor is None) == (predictions is None):
        raise ValueError("give exactly one of predictor and predictions")
    records_dir = run_dir / RECORDS
    pred_root = predictions if predictions is not None else run_dir / "predictions"
    out = []
    seqs = [dataset.sequences[i] for i in indices]
    bar = tqdm(
        seqs,
        desc="sequences" if worker == 0 else f"worker {worker}",
        unit="seq",
        position=2 * worker,
        disable=not progress,
        dynamic_ncols=True,
    )
    for seq in bar:
        record_path = records_dir / f"{seq.name}.json"
        if predictor is not None and resume and record_path.is_file():
            saved = SequenceRecord.from_json(json.loads(record_path.read_text()))
            record = dataclasses.replace(saved, resumed=True)
            logger.debug("%s: already evaluated (%s)", seq.name, record_path)
            out.append(record)
            continue
        seconds = None
        pred_dir = prediction_dir(pred_root, seq, existing=predictor is None)
        if predictor is not None:
            seconds = predict_sequence(seq, predictor, pred_dir, 2 * worker + 1, progress)
        elif not pred_dir.is_dir():
            raise XMemError(f"sequence '{seq.name}': no predictions folder '{pred_dir}'")
        scores = score_sequence(seq, pred_dir, exclude_void)
        record = dataclasses.replace(sequence_record(seq, scores, seconds), worker=worker)
        if predictor is not None:
            records_dir.mkdir(parents=True, exist_ok=True)
            with atomic_output_file(record_path) as tmp:
                tmp.write_text(json.dumps(record.to_json(), indent=1))
        out.append(record)
    return out
