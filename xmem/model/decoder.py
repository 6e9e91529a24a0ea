"""Mask decoder: memory readout + sensory memory + skip features → per-object logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xmem.model.modules import FeatureFusionBlock, HiddenUpdater, UpsampleBlock, group_conv


class Decoder(nn.Module):
    """Widths: image features (f16, f8, f4) from the key encoder; decoder stages (g16, g8, g4)."""

    def __init__(
        self,
        feature_dims: tuple[int, int, int],
        value_dim: int,
        hidden_dim: int,
        stage_dims: tuple[int, int, int] = (512, 256, 256),
    ) -> None:
        super().__init__()
        f16_dim, f8_dim, f4_dim = feature_dims
        g16_dim, g8_dim, g4_dim = stage_dims
        self.fuser = FeatureFusionBlock(f16_dim, value_dim + hidden_dim, g16_dim, g16_dim)
        self.hidden_update = (
            HiddenUpdater(g16_dim, g8_dim, g4_dim + 1, g4_dim, hidden_dim)
            if hidden_dim > 0
            else None
        )
        self.up_16_8 = UpsampleBlock(f8_dim, g16_dim, g8_dim)
        self.up_8_4 = UpsampleBlock(f4_dim, g8_dim, g4_dim)
        self.pred = nn.Conv2d(g4_dim, 1, kernel_size=3, padding=1)

    def forward(
        self,
        f16: Tensor,
        f8: Tensor,
        f4: Tensor,
        hidden: Tensor | None,
        readout: Tensor,
        update_hidden: bool = True,
    ) -> tuple[Tensor | None, Tensor]:
        """readout B×N×CV×H/16×W/16, hidden B×N×CH×H/16×W/16 → (new hidden or None, logits B×N×H×W).

        The new hidden state is only computed when ``update_hidden`` and the model has sensory
        memory; logits are at full (padded) resolution.
        """
        b, n = readout.shape[:2]
        if self.hidden_update is not None:
            assert hidden is not None, "this model has sensory memory: pass its hidden state"
            g16 = self.fuser(f16, torch.cat([readout, hidden], dim=2))
        else:
            g16 = self.fuser(f16, readout)
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = group_conv(self.pred, F.relu(g4))  # B×N×1×H/4×W/4
        new_hidden = None
        if update_hidden and self.hidden_update is not None:
            new_hidden = self.hidden_update(g16, g8, torch.cat([g4, logits], dim=2), hidden)
        logits = F.interpolate(
            logits.flatten(0, 1), scale_factor=4, mode="bilinear", align_corners=False
        )
        return new_hidden, logits.view(b, n, *logits.shape[-2:])
