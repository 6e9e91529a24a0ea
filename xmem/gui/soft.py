"""The tracker's probabilities, kept in the project for soft-mask export: one grey PNG per
frame, the objects' 8-bit probabilities stacked top to bottom (N·H × W), their ids in the
PNG's ``xmem-objects`` text chunk (``"1,2"``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

CHUNK = "xmem-objects"


def quantise(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] as uint8 (255 = 1)."""
    return np.clip(np.round(prob * 255), 0, 255).astype(np.uint8)


def write_soft(path: Path, object_ids: tuple[int, ...], alpha: np.ndarray) -> None:
    """``alpha``: N×H×W uint8, one plane per id of ``object_ids``."""
    info = PngImagePlugin.PngInfo()
    info.add_text(CHUNK, ",".join(map(str, object_ids)))
    planes = alpha.reshape(-1, alpha.shape[-1])
    Image.fromarray(np.ascontiguousarray(planes), mode="L").save(
        path, pnginfo=info, compress_level=1
    )


def read_soft(path: Path, height: int, width: int) -> dict[int, np.ndarray]:
    """Object id → H×W uint8 probability; empty when the file is missing or not one of ours."""
    try:
        with Image.open(path) as img:
            img.load()
            text = img.text.get(CHUNK, "") if hasattr(img, "text") else ""
            planes = np.asarray(img.convert("L"))
    except (OSError, ValueError):
        return {}
    try:
        ids = [int(i) for i in text.split(",") if i]
    except ValueError:
        return {}
    if not ids or planes.shape != (len(ids) * height, width):
        return {}
    return {i: planes[k * height : (k + 1) * height] for k, i in enumerate(ids)}
