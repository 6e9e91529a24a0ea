"""The golden clip and its scenarios (tests/data/golden), shared by test_golden and test_speed."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from tests.recipe import GOLDEN
from xmem.inference.config import InferenceConfig
from xmem.inference.core import InferenceCore
from xmem.inference.image import to_tensor
from xmem.inference.speed import SpeedOptions
from xmem.model.onnx_network import Network

SCENARIOS = json.loads((GOLDEN / "scenarios.json").read_text())


def frame(ti: int) -> torch.Tensor:
    return to_tensor(np.array(Image.open(GOLDEN / f"clip/frames/{ti:05d}.png").convert("RGB")))


def annotation(ti: int) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(GOLDEN / f"clip/masks/{ti:05d}.png"))).long()


def run_scenario(
    net: Network, name: str, speed: SpeedOptions | None = None, precision: str = "fp32"
) -> tuple[np.ndarray, InferenceCore]:
    spec = SCENARIOS[name]
    options = {k: v for k, v in spec["config"].items() if not k.endswith("_dim")}
    core = InferenceCore(net, InferenceConfig(**options), precision=precision, speed=speed)
    ref_channels = np.load(GOLDEN / f"video_{name}.npz")["prob"].shape[1]
    probs = []
    for ti in range(spec["frames"]):
        mask = None
        if ti == 0:
            mask = annotation(0)
            if name == "prune":  # object 1 only
                mask = mask * (mask == 1)
        elif ti == 6 and name == "no_longterm":
            mask = annotation(6)
        prob = core.step(frame(ti), mask, end=ti == spec["frames"] - 1).cpu()
        full = torch.zeros(ref_channels, *prob.shape[1:])
        full[: prob.shape[0]] = prob
        probs.append(full)
    return torch.stack(probs).numpy(), core
