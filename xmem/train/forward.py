"""XMem's training forward pass over a clip: the first frame is given, every later frame reads
memory from earlier frames, is segmented, and is encoded into memory (as the paper trains)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from xmem.model.network import XMem


class ClipOutput(NamedTuple):
    """Per segmented frame t = 1..T-1: logits and probabilities B×(K+1)×H×W (bg first)."""

    logits: list[Tensor]
    prob: list[Tensor]


def reference_frames(t: int, num_ref: int, batch: int, generator: torch.Generator) -> Tensor:
    """Memory frames for frame ``t``, B×R indices: every earlier frame while ``t <= num_ref``,
    else frame 0 and ``num_ref - 1`` random other earlier frames (per clip)."""
    if t <= num_ref:
        return torch.arange(t).expand(batch, t)
    rows = []
    for _ in range(batch):
        others = torch.randperm(t - 1, generator=generator)[: num_ref - 1] + 1
        rows.append(torch.cat([torch.zeros(1, dtype=torch.long), others]))
    return torch.stack(rows)


def _take(x: Tensor, index: Tensor) -> Tensor:
    """x B×C×T×h×w, index B×R → B×C×R×h×w."""
    b, c = x.shape[:2]
    gather = index.to(x.device).view(b, 1, -1, 1, 1).expand(b, c, -1, *x.shape[-2:])
    return x.gather(2, gather)


def clip_forward(
    network: XMem,
    rgb: Tensor,
    masks: Tensor,
    valid: Tensor,
    generator: torch.Generator,
    num_ref: int = 3,
    deep_update_prob: float = 0.2,
) -> ClipOutput:
    """Run the network over clips.

    Args:
        rgb: B×T×3×H×W normalised images; masks: B×T×K×H×W ground truth (only frame 0 is
            used as input); valid: B×K bool, which object slots exist.
        generator: CPU generator for the random choices (reference frames, deep updates), so a
            training step is reproducible.
        num_ref: memory frames read by each frame (see :func:`reference_frames`).
        deep_update_prob: probability of a deep update of the sensory memory per frame.
    """
    b, t_len, _, h, w = rgb.shape
    k = masks.shape[2]
    kf = network.encode_key(rgb.flatten(0, 1))
    assert kf.shrinkage is not None and kf.selection is not None
    fh, fw = kf.key.shape[-2:]

    def per_frame(x: Tensor) -> Tensor:  # (B·T)×C×h×w → B×C×T×h×w
        return x.view(b, t_len, *x.shape[1:]).transpose(1, 2)

    key, shrinkage, selection = per_frame(kf.key), per_frame(kf.shrinkage), per_frame(kf.selection)
    f16, f8, f4 = (x.view(b, t_len, *x.shape[1:]) for x in (kf.f16, kf.f8, kf.f4))
    selector = valid.float().view(b, k, 1, 1)
    hidden = None
    if network.hidden_dim > 0:
        hidden = rgb.new_zeros(b, k, network.hidden_dim, fh, fw)
    value, hidden = network.encode_value(rgb[:, 0], f16[:, 0], hidden, masks[:, 0])
    values = [value]  # each B×K×CV×h×w
    out = ClipOutput([], [])
    for t in range(1, t_len):
        ref = reference_frames(t, num_ref, b, generator)
        memory_value = torch.stack(values, 3)  # B×K×CV×t×h×w
        mv = _take(memory_value.flatten(1, 2), ref).view(b, k, -1, ref.shape[1], fh, fw)
        readout = network.read_memory(
            key[:, :, t],
            selection[:, :, t],
            _take(key[:, :, :t], ref),
            _take(shrinkage[:, :, :t], ref),
            mv,
        )
        hidden, logits, prob = network.segment(
            (f16[:, t], f8[:, t], f4[:, t]), readout, hidden, selector
        )
        out.logits.append(logits)
        out.prob.append(prob)
        if t < t_len - 1:
            deep = bool(torch.rand(1, generator=generator) < deep_update_prob)
            value, hidden = network.encode_value(rgb[:, t], f16[:, t], hidden, prob[:, 1:], deep)
            values.append(value)
    return out
