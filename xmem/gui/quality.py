"""The drift figures of a project's tracked frames (``quality.json``), for the timeline's strip
and "next suspect frame" (:mod:`xmem.inference.quality` computes them)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from xmem.inference.quality import SUSPECT, ObjectQuality, frame_score

from .atomic import replace_atomically

logger = logging.getLogger(__name__)

QUALITY = "quality.json"
Table = dict[int, dict[str, Any]]  # frame → {"score": s, "objects": {id: figures}}


def quality_table(rows: Iterable[ObjectQuality]) -> Table:
    """Rows of frames (any order, several objects each) as the table's entries."""
    by_frame: dict[int, list[ObjectQuality]] = {}
    for row in rows:
        by_frame.setdefault(row.frame, []).append(row)
    table: Table = {}
    for frame, found in by_frame.items():
        objects = {
            str(r.object_id): {
                k: v for k, v in asdict(r).items() if k not in ("frame", "object_id")
            }
            for r in found
        }
        table[frame] = {"score": frame_score(found), "objects": objects}
    return table


def read_quality(path: Path) -> Table:
    """The saved table; empty (with a warning) when missing or unreadable."""
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {int(k): v for k, v in saved.items() if isinstance(v, dict) and "score" in v}
    except (OSError, ValueError, AttributeError) as exc:
        logger.warning("cannot read drift scores '%s' (%s); they are measured again", path, exc)
        return {}


def write_quality(path: Path, table: Table) -> None:
    text = json.dumps({str(k): table[k] for k in sorted(table)})
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), f"'{path}'")


def suspects(table: Table, human: Iterable[int]) -> list[int]:
    """Frames whose score reaches :data:`SUSPECT`, a person's frames left out."""
    drawn = set(human)
    return sorted(f for f, e in table.items() if e["score"] >= SUSPECT and f not in drawn)
