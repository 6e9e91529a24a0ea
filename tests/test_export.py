"""Training-format export (xmem/io/export, issue 24), each format read back: COCO with
pycocotools, YOLO and CVAT polygons rasterised again, CVAT masks decoded, alpha PNGs read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from xmem.io.export import ExportObject, MaskSet, formats
from xmem.io.export.cvat import cvat_rle
from xmem.io.masks import default_palette
from xmem.io.source import FrameSource

pytest.importorskip("pycocotools")
pytest.importorskip("cv2")

H, W, T = 48, 64, 4


class Frames(FrameSource):
    def __init__(self) -> None:
        self.names = [f"{t:05d}" for t in range(T)]
        self.height, self.width, self.fps = H, W, 24.0

    def _read(self, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        for i in indices:
            yield i, np.full((H, W, 3), 40 * i, dtype=np.uint8)


def masks() -> list[np.ndarray]:
    """Object 1: a disc moving right; object 2 (a ring: a hole) on frames 1 and 3 only; frame
    2 has object 1 in two parts."""
    y, x = np.mgrid[0:H, 0:W]
    out = []
    for t in range(T):
        ids = np.zeros((H, W), dtype=np.uint8)
        ids[(y - 20) ** 2 + (x - 15 - 5 * t) ** 2 < 81] = 1
        if t == 2:
            ids[38:44, 50:60] = 1
        if t % 2:
            r2 = (y - 30) ** 2 + (x - 45) ** 2
            ids[(r2 < 100) & (r2 >= 16)] = 2
        out.append(ids)
    return out


MASKS = masks()
OBJECTS = [ExportObject(1, "ball", "sports ball"), ExportObject(2, "hoop", "ring")]


def mask_set() -> MaskSet:
    def soft(index: int, ids: np.ndarray) -> dict[int, np.ndarray]:
        return {1: np.where(ids == 1, 200, 10).astype(np.uint8)} if index != 0 else {}

    return MaskSet(
        names=[f"{t:05d}" for t in range(T)],
        width=W,
        height=H,
        objects=OBJECTS,
        masks=lambda: iter(MASKS),
        soft=soft,
        frames=Frames(),
        palette=default_palette(),
        human=frozenset({0}),
    )


def export(fmt: str, tmp_path: Path) -> Path:
    done: list[int] = []
    formats()[fmt](mask_set(), tmp_path, done.append)
    assert done == list(range(T))
    objects = json.loads((tmp_path / "objects.json").read_text())
    assert objects == [{"id": 1, "name": "ball", "label": "sports ball"},
                       {"id": 2, "name": "hoop", "label": "ring"}]  # fmt: skip
    return tmp_path


def raster(polygon: list[tuple[float, ...]]) -> np.ndarray:
    img = Image.new("L", (W, H), 0)
    ImageDraw.Draw(img).polygon(polygon, fill=1, outline=1)
    return np.asarray(img).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_coco_reads_back_with_pycocotools(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    export("coco", tmp_path)
    coco = COCO(str(tmp_path / "annotations.json"))
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"sports ball", "ring"}
    images = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert images == [f"{t:05d}.jpg" for t in range(T)]
    for t in range(T):
        image = coco.imgs[t + 1]
        assert image["file_name"] == f"{t:05d}.jpg" and (image["height"], image["width"]) == (H, W)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[t + 1]))
        assert sorted(a["track_id"] for a in anns) == ([1, 2] if t % 2 else [1])
        for a in anns:
            np.testing.assert_array_equal(coco.annToMask(a).astype(bool), MASKS[t] == a["track_id"])
            assert a["area"] == int((MASKS[t] == a["track_id"]).sum())
            label = coco.loadCats(a["category_id"])[0]["name"]
            assert label == OBJECTS[a["track_id"] - 1].label


def test_yolo_polygons_draw_the_masks_again(tmp_path: Path) -> None:
    export("yolo", tmp_path)
    yaml = (tmp_path / "data.yaml").read_text()
    assert 'names:\n  0: "sports ball"\n  1: "ring"' in yaml
    assert len(list((tmp_path / "images").iterdir())) == T
    for t in range(T):
        drawn = {1: np.zeros((H, W), bool), 2: np.zeros((H, W), bool)}
        lines = (tmp_path / "labels" / f"{t:05d}.txt").read_text().splitlines()
        for line in lines:
            klass, *coords = line.split()
            xy = np.array(coords, dtype=float).reshape(-1, 2) * [W, H]
            assert ((0 <= xy) & (xy <= [W, H])).all()
            drawn[int(klass) + 1] |= raster([tuple(p) for p in xy])
        assert len(lines) == (2 if t == 2 else 1) + (t % 2)  # frame 2: object 1 in two parts
        assert iou(drawn[1], MASKS[t] == 1) > 0.9
        if t % 2:  # the ring comes back as its outline, filled: polygons have no holes
            assert iou(drawn[2], MASKS[t] == 2) > 0.8


def cvat_tracks(path: Path) -> dict[str, list[ET.Element]]:
    root = ET.parse(path).getroot()
    assert root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task is not None and task.findtext("size") == str(T)
    assert [e.text for e in task.iter("name") if e.text != "xmem export"] == ["sports ball", "ring"]
    return {t.get("label", ""): list(t) for t in root.iter("track")}


def test_cvat_polygons_read_back(tmp_path: Path) -> None:
    tracks = cvat_tracks(export("cvat", tmp_path) / "annotations.xml")
    ball = tracks["sports ball"]
    assert [s.get("frame") for s in ball] == ["0", "1", "2", "3"]
    assert ball[0].get("keyframe") == "1"  # frame 0 was drawn by a person
    for shape in ball:
        t = int(shape.get("frame", ""))
        points = [tuple(map(float, p.split(","))) for p in shape.get("points", "").split(";")]
        main = MASKS[t] == 1
        if t == 2:  # the largest part only
            main[38:44, 50:60] = False
        assert iou(raster(points), main) > 0.9
    # the ring is on frames 1 and 3: outside on 2
    ring = [(s.get("frame"), s.get("outside")) for s in tracks["ring"]]
    assert ring == [("1", "0"), ("2", "1"), ("3", "0")]


def decode_cvat(shape: ET.Element) -> np.ndarray:
    runs = [int(v) for v in shape.get("rle", "").split(",")]
    left, top, width, height = (int(shape.get(k, "")) for k in ("left", "top", "width", "height"))
    flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(bool)
    out = np.zeros((H, W), bool)
    out[top : top + height, left : left + width] = flat.reshape(height, width)
    return out


def test_cvat_masks_are_exact(tmp_path: Path) -> None:
    tracks = cvat_tracks(export("cvat-mask", tmp_path) / "annotations.xml")
    for label, object_id in (("sports ball", 1), ("ring", 2)):
        for shape in tracks[label]:
            if shape.get("outside") == "1":
                continue
            t = int(shape.get("frame", ""))
            np.testing.assert_array_equal(decode_cvat(shape), MASKS[t] == object_id)


def test_cvat_rle_starts_with_background() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    assert cvat_rle(mask) == ([0, 6], [1, 1, 3, 2])
    mask[1, 1] = False
    assert cvat_rle(mask) == ([1, 5], [1, 1, 3, 2])


def test_alpha_holds_the_probabilities(tmp_path: Path) -> None:
    export("alpha", tmp_path)
    for t in range(T):
        ball = np.asarray(Image.open(tmp_path / "alpha" / "1" / f"{t:05d}.png"))
        want = (MASKS[t] == 1) * 255 if t == 0 else np.where(MASKS[t] == 1, 200, 10)
        np.testing.assert_array_equal(ball, want)
        ring = np.asarray(Image.open(tmp_path / "alpha" / "2" / f"{t:05d}.png"))
        np.testing.assert_array_equal(ring, (MASKS[t] == 2) * 255)  # no soft mask: the mask
