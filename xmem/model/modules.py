"""Building blocks of XMem that work on object groups.

Mask-dependent features keep the object axis apart from channels: ``B×N×C×H×W``. Convolutions
fold objects into the batch. Parameter names follow the official checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def group_conv(conv: nn.Conv2d, g: Tensor) -> Tensor:
    """Apply a 2-D conv to every object of ``g`` (B×N×C×H×W)."""
    b, n = g.shape[:2]
    out: Tensor = conv(g.flatten(0, 1))
    return out.view(b, n, *out.shape[1:])


def resize_groups(g: Tensor, scale: float, mode: str) -> Tensor:
    """Resize B×N×C×H×W by ``scale`` (bilinear: align_corners False; area: average pooling)."""
    b, n = g.shape[:2]
    align = False if mode == "bilinear" else None
    out = F.interpolate(g.flatten(0, 1), scale_factor=scale, mode=mode, align_corners=align)
    return out.view(b, n, *out.shape[1:])


def broadcast_cat(x: Tensor, g: Tensor) -> Tensor:
    """Concatenate image features x (B×C×H×W) to every object of g (B×N×C'×H×W) on channels."""
    n = g.shape[1]
    return torch.cat([x.unsqueeze(1).expand(-1, n, -1, -1, -1), g], dim=2)


class GroupResBlock(nn.Module):
    """``conv2(relu(conv1(relu(g)))) + skip``; skip is a 3×3 conv when widths differ."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.downsample = (
            nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1) if in_dim != out_dim else None
        )
        self.conv1 = nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1)

    def forward(self, g: Tensor) -> Tensor:  # B×N×C×H×W
        out = group_conv(self.conv1, F.relu(g))
        out = group_conv(self.conv2, F.relu(out))
        skip = g if self.downsample is None else group_conv(self.downsample, g)
        return out + skip


class ChannelGate(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        # index 0 is a flatten in the original; keep 1 and 3 for checkpoint names
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels)
        )

    def forward(self, x: Tensor) -> Tensor:  # B×C×H×W
        avg = self.mlp(x.mean(dim=(2, 3)))
        mx = self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(avg + mx)[:, :, None, None]


class _SpatialConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=7, padding=3)


class SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, x: Tensor) -> Tensor:  # B×C×H×W
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial.conv(pooled))


class CBAM(nn.Module):
    """Channel then spatial attention (Woo et al. 2018)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(channels)
        self.SpatialGate = SpatialGate()

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.SpatialGate(self.ChannelGate(x))
        return out


class FeatureFusionBlock(nn.Module):
    """Fuse image features x (B×Cx×H×W) into every object's g (B×N×Cg×H×W)."""

    def __init__(self, x_dim: int, g_dim: int, mid_dim: int, out_dim: int) -> None:
        super().__init__()
        self.block1 = GroupResBlock(x_dim + g_dim, mid_dim)
        self.attention = CBAM(mid_dim)
        self.block2 = GroupResBlock(mid_dim, out_dim)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        b, n = g.shape[:2]
        g = self.block1(broadcast_cat(x, g))
        r = self.attention(g.flatten(0, 1)).view(b, n, *g.shape[2:])
        out: Tensor = self.block2(g + r)
        return out


def gru_step(values: Tensor, h: Tensor) -> Tensor:
    """XMem's gated update: ``h' = forget·h·(1−update) + update·tanh(new)``.

    values: B×N×3CH×H×W (forget, update, new, in that order); h: B×N×CH×H×W.
    """
    ch = h.shape[2]
    forget = torch.sigmoid(values[:, :, :ch])
    update = torch.sigmoid(values[:, :, ch : 2 * ch])
    new = torch.tanh(values[:, :, 2 * ch :])
    return forget * h * (1 - update) + update * new


class HiddenReinforcer(nn.Module):
    """Deep update of the sensory memory from the value encoder's features."""

    def __init__(self, g_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.transform = nn.Conv2d(g_dim + hidden_dim, hidden_dim * 3, kernel_size=3, padding=1)

    def forward(self, g: Tensor, h: Tensor) -> Tensor:
        return gru_step(group_conv(self.transform, torch.cat([g, h], dim=2)), h)


class HiddenUpdater(nn.Module):
    """Sensory memory update from the decoder's multi-scale features."""

    def __init__(self, g16_dim: int, g8_dim: int, g4_dim: int, mid_dim: int, hidden_dim: int):
        super().__init__()
        self.g16_conv = nn.Conv2d(g16_dim, mid_dim, kernel_size=1)
        self.g8_conv = nn.Conv2d(g8_dim, mid_dim, kernel_size=1)
        self.g4_conv = nn.Conv2d(g4_dim, mid_dim, kernel_size=1)
        self.transform = nn.Conv2d(mid_dim + hidden_dim, hidden_dim * 3, kernel_size=3, padding=1)

    def forward(self, g16: Tensor, g8: Tensor, g4: Tensor, h: Tensor) -> Tensor:
        g = (
            group_conv(self.g16_conv, g16)
            + group_conv(self.g8_conv, resize_groups(g8, 1 / 2, "area"))
            + group_conv(self.g4_conv, resize_groups(g4, 1 / 4, "area"))
        )
        return gru_step(group_conv(self.transform, torch.cat([g, h], dim=2)), h)


class UpsampleBlock(nn.Module):
    """Upsample g ×2 and add a projected skip feature from the image encoder."""

    def __init__(self, skip_dim: int, g_dim: int, out_dim: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, g_dim, kernel_size=3, padding=1)
        self.out_conv = GroupResBlock(g_dim, out_dim)

    def forward(self, skip: Tensor, g: Tensor) -> Tensor:
        skip = self.skip_conv(skip)
        g = resize_groups(g, 2, "bilinear") + skip.unsqueeze(1)
        out: Tensor = self.out_conv(g)
        return out
