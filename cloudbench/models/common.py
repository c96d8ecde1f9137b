"""Building blocks and the interface every phase-volume model shares.

All models map an image patch (C, P, P) plus auxiliary geometry (A, P, P) to voxel logits
(K, Z, P, P), so the trainer, the metrics and the CLI never special-case a model. Patches whose side is
not a multiple of the encoder's total stride are padded (reflect) and the output cropped back, so any
patch size works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Channel width of the first stage per size preset; deeper stages double it.
SIZE_WIDTHS: dict[str, int] = {"tiny": 8, "small": 16, "base": 32}  # tiny: unit tests


def width_for(size: str) -> int:
    """First-stage channel width of a size preset (a ValueError names the presets)."""
    if size not in SIZE_WIDTHS:
        raise ValueError(f"unknown model size {size!r}; choose one of {', '.join(SIZE_WIDTHS)}")
    return SIZE_WIDTHS[size]


def norm2d(channels: int) -> nn.GroupNorm:
    """GroupNorm: no train/eval gap with the small batches a sparse-label task trains on."""
    return nn.GroupNorm(min(8, channels), channels)


def norm3d(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(4, channels), channels)


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by GroupNorm and ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            norm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            norm2d(cout),
            nn.ReLU(inplace=True),
        )


class AttentionGate(nn.Module):
    """Additive attention gate on a skip connection (Oktay et al. 2018).

    The decoder's coarser features (the gate) decide which skip pixels pass, which suppresses
    texture from clear-sky surfaces that would otherwise leak into the cloud volume.
    """

    def __init__(self, skip_channels: int, gate_channels: int, inner: int):
        super().__init__()
        self.theta = nn.Conv2d(skip_channels, inner, 1, bias=False)
        self.phi = nn.Conv2d(gate_channels, inner, 1)
        self.psi = nn.Conv2d(inner, 1, 1)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        g = F.interpolate(self.phi(gate), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        alpha = torch.sigmoid(self.psi(F.relu(self.theta(skip) + g)))
        return skip * alpha


@dataclass(frozen=True)
class ModelSpec:
    """What a model needs to know about the data; saved in checkpoints to rebuild it."""

    name: str
    in_channels: int
    aux_channels: int
    num_classes: int
    levels: int
    size: str = "small"


class PhaseVolumeModel(nn.Module):
    """Base class: (x (B,C,P,P), aux (B,A,P,P)) -> logits (B,K,Z,P,P).

    Subclasses implement ``_forward_padded`` on the concatenated, padded input.
    """

    stride: int = 8  # total down-sampling of the encoder

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        if aux is not None and self.spec.aux_channels:
            x = torch.cat([x, aux], dim=1)
        h, w = x.shape[-2:]
        ph = (-h) % self.stride
        pw = (-w) % self.stride
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        out = self._forward_padded(x)
        return out[..., :h, :w]

    def _forward_padded(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class VolumeHead2d(nn.Module):
    """1x1 convolution to K*Z channels, reshaped to (B, K, Z, H, W): the 2-D baselines' output."""

    def __init__(self, cin: int, num_classes: int, levels: int):
        super().__init__()
        self.num_classes = num_classes
        self.levels = levels
        self.conv = nn.Conv2d(cin, num_classes * levels, 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        b, _, h, w = f.shape
        return self.conv(f).view(b, self.num_classes, self.levels, h, w)
