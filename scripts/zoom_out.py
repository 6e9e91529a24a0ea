"""Make tiny-object test videos from a DAVIS dataset: every frame shrunk by a factor and set in
the middle of a canvas of the original size, so an object of 1-10 % of the frame becomes one
of 0.1-1 % (issue 23's tiny objects).

The canvas around the shrunk frame is the frame itself blurred heavily (a 31-pixel box blur of
a quarter-size copy, scaled back up): scene colours without a second sharp copy of the object,
so the test is the object's size, not a look-alike. Annotations are shrunk the same way
(nearest neighbour) and placed on an empty canvas. The result is a DAVIS layout with the same
split files, for `xmem eval` (derived from DAVIS: CC BY-NC, keep it out of the repository):

    python scripts/zoom_out.py ../shared/data/davis2016 ~/data/davis-tiny --factor 3
    xmem eval ~/data/davis-tiny --split dev --out OUT --size 240
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from tqdm import tqdm

log = logging.getLogger("zoom_out")


def _centred(canvas: Image.Image, image: Image.Image, factor: float, resample: int) -> Image.Image:
    """``canvas`` with ``image`` shrunk by ``factor`` pasted in its middle."""
    w, h = image.size
    small = image.resize((max(1, round(w / factor)), max(1, round(h / factor))), resample)
    canvas.paste(small, ((w - small.width) // 2, (h - small.height) // 2))
    return canvas


def zoom_frame(frame: Image.Image, factor: float) -> Image.Image:
    """``frame`` shrunk by ``factor`` in the middle of its own heavily blurred copy."""
    w, h = frame.size
    quarter = frame.resize((max(1, w // 4), max(1, h // 4)), Image.BILINEAR)
    canvas = quarter.filter(ImageFilter.BoxBlur(31)).resize((w, h), Image.BILINEAR)
    return _centred(canvas, frame, factor, Image.BILINEAR)


def zoom_mask(mask: Image.Image, factor: float) -> Image.Image:
    """The annotation shrunk the same way (nearest neighbour) on an empty canvas; the palette
    is kept."""
    canvas = Image.new(mask.mode, mask.size, 0)
    palette = mask.getpalette() if mask.mode == "P" else None
    if palette is not None:
        canvas.putpalette(palette)
    return _centred(canvas, mask, factor, Image.NEAREST)


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **({"quality": 95} if path.suffix == ".jpg" else {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="DAVIS dataset folder")
    parser.add_argument("out", type=Path, help="new dataset folder (must not exist)")
    parser.add_argument("--factor", type=float, default=3.0, help="shrink factor (default 3)")
    parser.add_argument("--resolution", default="480p")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.out.exists():
        parser.error(f"{args.out} exists; choose a new folder")
    if args.factor < 1:
        parser.error("--factor must be at least 1")
    shutil.copytree(args.source / "ImageSets", args.out / "ImageSets")
    sequences = sorted(p.name for p in (args.source / "Annotations" / args.resolution).iterdir())
    areas = []
    for name in tqdm(sequences, desc="sequences"):
        for path in sorted((args.source / "JPEGImages" / args.resolution / name).glob("*.jpg")):
            with Image.open(path) as image:
                frame = zoom_frame(image.convert("RGB"), args.factor)
            _save(frame, args.out / "JPEGImages" / args.resolution / name / path.name)
        masks = sorted((args.source / "Annotations" / args.resolution / name).glob("*.png"))
        for i, path in enumerate(masks):
            with Image.open(path) as image:
                mask = zoom_mask(image, args.factor)
            _save(mask, args.out / "Annotations" / args.resolution / name / path.name)
            if i == 0:
                areas.append((100 * float((np.asarray(mask) > 0).mean()), name))
    for area, name in sorted(areas):
        log.info("%-20s object on the first frame: %.2f %% of the frame", name, area)


if __name__ == "__main__":
    main()
