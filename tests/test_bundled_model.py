"""The model shipped in the package (xmem/weights/xmem-lite0.pth; issues 5 and 14)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.scripts import load_script
from xmem import track
from xmem.model.checkpoint import load_network, read_state_dict
from xmem.model.network import MODELS
from xmem.model.weights import (
    BUNDLED_DEFAULT,
    BUNDLED_DIR,
    WEIGHTS,
    from_pretrained,
    resolve_weights,
)

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = BUNDLED_DIR / f"{BUNDLED_DEFAULT}.pth"


def _sample_truth() -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
    """``object_masks(t)`` of scripts/make_sample.py: the sample clip's true masks."""
    return load_script("make_sample").object_masks  # type: ignore[no-any-return]


def test_the_bundle_ships_in_the_package_and_is_small() -> None:
    assert BUNDLE.is_file(), f"{BUNDLE} is missing"
    assert BUNDLE.stat().st_size <= 25 * 2**20
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"weights/*.pth"' in pyproject  # installed with the package, not only in a checkout


def test_the_bundle_is_a_float16_compact_checkpoint_for_the_strict_loader() -> None:
    state = read_state_dict(BUNDLE)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    network = load_network(BUNDLE)
    assert network.config == MODELS[BUNDLED_DEFAULT]
    assert all(p.dtype == torch.float32 for p in network.parameters())


def test_the_bundle_is_the_offline_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XMEM_CACHE_DIR", str(tmp_path))  # XMem.pth is not cached
    assert resolve_weights(None, download_missing=False) == BUNDLE


@pytest.mark.slow
def test_the_bundled_model_tracks_the_sample_clip() -> None:
    """Trained weights, not random ones: both objects of the sample clip are followed, at the
    model's own processing size, as `xmem track` runs it by default."""
    object_masks = _sample_truth()
    sample = ROOT / "examples" / "sample"
    first = np.array(Image.open(sample / "masks" / "00000.png"))
    network = from_pretrained(BUNDLED_DEFAULT)
    assert network.default_size == WEIGHTS[BUNDLED_DEFAULT].process_size
    ious: dict[int, list[float]] = {1: [], 2: []}
    for result in islice(track(network, sample / "video.mp4", {0: first}), 1, 21):
        for obj, true in zip((1, 2), object_masks(result.index), strict=True):
            pred = result.mask == obj
            ious[obj].append((pred & true).sum() / (pred | true).sum())
    assert np.mean(ious[1]) > 0.93 and np.mean(ious[2]) > 0.8, ious  # random weights: ~0
