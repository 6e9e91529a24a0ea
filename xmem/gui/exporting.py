"""Export a project: ``davis`` (the default: palette PNGs, an overlay video and the areas, as the
GUI always wrote) or a training format of :mod:`xmem.io.export` (coco, yolo, cvat, cvat-mask,
alpha). Used by the GUI's Export menu and by ``xmem export``."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from xmem.errors import XMemError
from xmem.io.export import FORMATS, formats, write_objects
from xmem.io.masks import write_mask
from xmem.io.output import StagedDirectory, atomic_output_file
from xmem.io.overlay import render_overlay

from .project import Project

Progress = Callable[[int], None]


def default_export_dir(project: Project, fmt: str) -> Path:
    """``PROJECT/export`` for davis (as before formats existed), ``PROJECT/export/<format>``
    for the others."""
    return project.root / "export" if fmt == "davis" else project.root / "export" / fmt


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise XMemError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def _write_text(path: Path, text: str) -> None:
    with atomic_output_file(path) as tmp:
        try:
            Path(tmp).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise XMemError(f"cannot write '{path}': {exc.strerror or exc}") from exc


def export_davis(
    project: Project, out: Path, progress: Progress, overlay: bool = True
) -> dict[str, str]:
    """``out/masks/<frame>.png`` (the ``xmem track`` layout), ``out/areas.csv`` (pixels of each
    object per frame), ``out/objects.json`` and ``out/overlay.mp4``."""
    palette = project.palette()
    objects = list(project.objects)
    rows = io.StringIO()
    table = csv.writer(rows)
    table.writerow(["frame", "name", *[f"{o.id}:{o.name}" for o in objects]])
    masks_dir = out / "masks"
    with StagedDirectory(masks_dir) as staged:
        for index, ids in enumerate(project.masks()):
            name = project.names[index]
            write_mask(staged.path / f"{name}.png", ids, palette)
            counts = np.bincount(ids.ravel(), minlength=256)
            table.writerow([index, name, *[int(counts[o.id]) for o in objects]])
            progress(index)
    outputs = {"masks": str(masks_dir)}
    _write_text(out / "areas.csv", rows.getvalue())
    outputs["areas"] = str(out / "areas.csv")
    outputs["objects"] = str(write_objects(project.mask_set(), out))
    if overlay:
        paths = [masks_dir / f"{name}.png" for name in project.names]
        render_overlay(project.source, paths, out / "overlay.mp4", fps=project.source.fps,
                       palette=palette)  # fmt: skip
        outputs["overlay"] = str(out / "overlay.mp4")
    return outputs


def export_project(
    project: Project, fmt: str, out: Path, progress: Progress, overlay: bool = True
) -> dict[str, str]:
    """Write ``project`` in format ``fmt`` into ``out`` (staged: it appears only complete);
    returns what was written (name → path)."""
    check_format(fmt)
    if fmt == "davis":
        return export_davis(project, out, progress, overlay)
    with StagedDirectory(out) as staged:
        written = formats()[fmt](project.mask_set(), staged.path, progress)
        return {k: str(out / Path(v).relative_to(staged.path)) for k, v in written.items()}
