"""Key encoder (image → key, shrinkage, selection, multi-scale features) and value encoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xmem.model import backbones
from xmem.model.modules import FeatureFusionBlock, HiddenReinforcer


def make_key_encoder(arch: str) -> nn.Module:
    """The key encoder: the trunk itself, image B×3×H×W → (f16, f8, f4)."""
    return backbones.make_trunk(arch, 3)


class KeyProjection(nn.Module):
    """f16 → key (CK), shrinkage (d² + 1, 1 channel) and selection (sigmoid, CK)."""

    def __init__(self, in_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        self.d_proj = nn.Conv2d(in_dim, 1, kernel_size=3, padding=1)
        self.e_proj = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight)
        assert self.key_proj.bias is not None
        nn.init.zeros_(self.key_proj.bias)

    def forward(
        self, x: Tensor, need_shrinkage: bool = True, need_selection: bool = True
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        shrinkage = self.d_proj(x) ** 2 + 1 if need_shrinkage else None
        selection = torch.sigmoid(self.e_proj(x)) if need_selection else None
        return self.key_proj(x), shrinkage, selection


class ValueEncoder(nn.Module):
    """Encodes (image, object mask, other objects' mask) into a value per object.

    Input channels are image (3), mask, others. The trunk is ``trunk``, or, for a family whose
    checkpoints keep the trunk's layers at the value encoder's top level (ResNet, as in the
    official network), those layers are this module's own (``trunk`` is None).
    """

    def __init__(
        self, image_dim: int, value_dim: int, hidden_dim: int, arch: str = "resnet18"
    ) -> None:
        super().__init__()
        family = backbones.family(arch)
        trunk = family.build(arch, 5)  # image, mask, other objects
        self._features = family.features
        self.trunk: nn.Module | None = None
        self.trunk_layers: tuple[str, ...] = ("trunk",)
        if family.features is None:
            self.trunk = trunk
        else:
            self.trunk_layers = tuple(name for name, _ in trunk.named_children())
            for name, layer in trunk.named_children():
                self.add_module(name, layer)
        self.fuser = FeatureFusionBlock(image_dim, family.channels(arch)[2], value_dim, value_dim)
        self.hidden_reinforce = HiddenReinforcer(value_dim, hidden_dim) if hidden_dim > 0 else None

    def forward(
        self,
        image: Tensor,
        image_f16: Tensor,
        hidden: Tensor | None,
        masks: Tensor,
        others: Tensor,
        deep_update: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """image B×3×H×W, masks/others B×N×H×W → value B×N×CV×H/16×W/16, new hidden."""
        b, n = masks.shape[:2]
        image = image.unsqueeze(1).expand(-1, n, -1, -1, -1)
        g = torch.cat([image, masks.unsqueeze(2), others.unsqueeze(2)], dim=2).flatten(0, 1)
        if self.trunk is not None:
            g = self.trunk(g)[0]
        else:
            assert self._features is not None
            g = self._features(self, g)[0]
        g = self.fuser(image_f16, g.view(b, n, *g.shape[1:]))
        if deep_update and self.hidden_reinforce is not None:
            assert hidden is not None, "a deep update needs the current hidden state"
            hidden = self.hidden_reinforce(g, hidden)
        return g, hidden

    def trunk_modules(self) -> list[nn.Module]:
        """The trunk's layers (not the fusion block or the hidden-state update)."""
        return [self.get_submodule(name) for name in self.trunk_layers]
