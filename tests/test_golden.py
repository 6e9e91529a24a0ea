"""Fidelity: the recipe weights in this network reproduce the original code's outputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.golden import SCENARIOS, annotation, frame, run_scenario
from tests.recipe import GOLDEN
from xmem.inference.image import pad_to_multiple
from xmem.inference.speed import SpeedOptions, prepare_network
from xmem.model.network import XMem


@pytest.fixture(scope="module")
def modules() -> dict[str, torch.Tensor]:
    return torch.load(GOLDEN / "modules_frame0.pt", weights_only=True)


def assert_close(name: str, ours: torch.Tensor | None, ref: torch.Tensor) -> None:
    assert ours is not None, f"{name}: not computed"
    err = (ours.cpu().float() - ref.float()).abs().max().item()
    assert err <= 1e-4 * ref.abs().max().item(), f"{name}: max |Δ| {err:.3g}"


@torch.inference_mode()
def test_modules_frame0(recipe_net: XMem, modules: dict[str, torch.Tensor]) -> None:
    image, pad = pad_to_multiple(frame(0))
    assert pad == tuple(modules["pad"].tolist())
    assert_close("image", image, modules["image_padded"][0])
    kf = recipe_net.encode_key(image[None])
    for name in ("key", "shrinkage", "selection", "f16", "f8", "f4"):
        assert_close(name, getattr(kf, name), modules[name])
    mask, _ = pad_to_multiple(torch.stack([annotation(0) == i for i in (1, 2)]).float())
    hidden0 = torch.zeros(1, 2, 64, *kf.key.shape[-2:])
    value, hidden = recipe_net.encode_value(image[None], kf.f16, hidden0, mask[None])
    assert_close("value", value, modules["value"])
    assert_close("hidden", hidden, modules["hidden"])


@torch.inference_mode()
def test_modules_frame1(recipe_net: XMem, modules: dict[str, torch.Tensor]) -> None:
    image, _ = pad_to_multiple(frame(1))
    kf = recipe_net.encode_key(image[None])
    assert_close("f1_key", kf.key, modules["f1_key"])
    assert_close("f1_selection", kf.selection, modules["f1_selection"])
    readout = recipe_net.read_memory(
        kf.key,
        kf.selection,
        modules["key"].unsqueeze(2),
        modules["shrinkage"].unsqueeze(2),
        modules["value"].unsqueeze(3),
    )
    assert_close("f1_readout", readout, modules["f1_readout"])
    hidden, logits, prob = recipe_net.segment(
        (kf.f16, kf.f8, kf.f4), modules["f1_readout"], modules["hidden"]
    )
    assert_close("f1_hidden", hidden, modules["f1_hidden"])
    assert_close("f1_logits", logits, modules["f1_logits"])
    assert_close("f1_prob", prob, modules["f1_prob"])


EAGER = SpeedOptions.eager()
# every fast path of the network and engine alone, then all the defaults together
# (xmem/inference/speed.py; the I/O overlap is xmem.track's, tested in test_speed.py)
PATHS = {
    "reference": EAGER,
    "folded-bn": replace(EAGER, fold_bn=True),
    "channels-last-encoders": replace(EAGER, channels_last="encoders"),
    "channels-last-all": replace(EAGER, channels_last="all"),
    "object-chunk-1": replace(EAGER, object_chunk=1),
    "defaults": SpeedOptions(),
}


@pytest.fixture(scope="module")
def prepared_nets(recipe_net: XMem) -> dict[str, XMem]:
    return {path: prepare_network(recipe_net, speed) for path, speed in PATHS.items()}


@pytest.mark.slow  # the full network on whole clips: 4-7 s each (test_modules_* stay fast)
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(prepared_nets: dict[str, XMem], name: str, path: str) -> None:
    """The original's outputs, by the reference path and by each fast path."""
    ref = np.load(GOLDEN / f"video_{name}.npz")
    prob, core = run_scenario(prepared_nets[path], name, PATHS[path])
    agreement = (prob.argmax(1) == ref["argmax"]).mean()
    mean_dp = np.abs(prob - ref["prob"].astype(np.float32)).mean()
    assert agreement >= 0.999, f"argmax agreement {agreement:.5f}"
    assert mean_dp <= 1e-3, f"mean |Δp| {mean_dp:.2e}"
    spec = SCENARIOS[name]
    memory = core.memory
    assert memory.work_mem.size(0) == spec["work_mem"]
    assert memory.long_mem.size(0) == spec["long_mem"]
    assert len(core.objects.groups) == spec["groups"]
    assert len(core.object_ids) == len(spec["mean_fg"]) - 1
