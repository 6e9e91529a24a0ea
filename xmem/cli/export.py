"""``xmem export PROJECT --format F``: a GUI project's masks in a training format."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm.std import tqdm

from xmem.errors import XMemError
from xmem.gui.exporting import default_export_dir, export_project
from xmem.gui.project import Project
from xmem.io.export import FORMATS

logger = logging.getLogger(__name__)

FORMAT_HELP = """\
formats:
  davis      masks/<frame>.png palette PNGs (object ids), areas.csv, overlay.mp4
  coco       annotations.json (COCO instance segmentation, RLE masks) and images/
  yolo       labels/<frame>.txt polygons, images/ and data.yaml (Ultralytics layout)
  cvat       annotations.xml, CVAT for video 1.1, one polygon track per object
  cvat-mask  the same with exact masks (CVAT's RLE)
  alpha      alpha/<object id>/<frame>.png: the tracker's probability, 8-bit
Every format also writes objects.json (each object's id, name and class)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="write an `xmem gui` project's masks in a training format",
        description="Write the masks of an `xmem gui` project (a person's and the tracker's) "
        "in a training format, with each object's class.",
        epilog=FORMAT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", type=Path, help="the project folder (PROJECT/project.json)")
    p.add_argument("--format", "-f", choices=FORMATS, default="davis", help="default: davis")
    p.add_argument(
        "--out",
        "-o",
        type=Path,
        default=None,
        help="output folder (default: PROJECT/export for davis, PROJECT/export/FORMAT else)",
    )
    p.add_argument("--no-overlay", action="store_true", help="davis: leave out the overlay video")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if Project.read_meta(args.project.resolve()) is None:
        raise XMemError(f"'{args.project}' is not an xmem project (it has no project.json)")
    project = Project.open(args.project)
    try:
        out = args.out.resolve() if args.out else default_export_dir(project, args.format)
        with tqdm(total=len(project.names), unit="frame", desc=args.format) as bar:
            written = export_project(
                project, args.format, out, lambda index: bar.update(1), not args.no_overlay
            )
    finally:
        project.close()
    for name, path in written.items():
        logger.info("%-11s %s", name, path)
    logger.info("exported %d frames as %s to %s", len(project.names), args.format, out)
    return 0
