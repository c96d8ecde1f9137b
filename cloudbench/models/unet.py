"""UNet and Attention-UNet baselines: 2-D encoder-decoders whose last layer emits K x Z channels.

They treat the vertical as extra output channels, with no notion of height: the reference point that
SGMAGNet's height encoding and volumetric decoder have to beat.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cloudbench.models.common import (
    AttentionGate,
    ConvBlock,
    ModelSpec,
    PhaseVolumeModel,
    VolumeHead2d,
    width_for,
)


class UNet(PhaseVolumeModel):
    """Three down-sampling stages (widths w, 2w, 4w, 8w), bilinear up-sampling, skip concatenation."""

    stride = 8

    def __init__(self, spec: ModelSpec, attention: bool = False):
        super().__init__(spec)
        w = width_for(spec.size)
        widths = [w, 2 * w, 4 * w, 8 * w]
        cin = spec.in_channels + spec.aux_channels
        self.encoders = nn.ModuleList()
        for cout in widths:
            self.encoders.append(ConvBlock(cin, cout))
            cin = cout
        self.decoders = nn.ModuleList()
        self.gates = nn.ModuleList() if attention else None
        for skip in reversed(widths[:-1]):
            if self.gates is not None:
                self.gates.append(AttentionGate(skip, cin, max(skip // 2, 4)))
            self.decoders.append(ConvBlock(cin + skip, skip))
            cin = skip
        self.head = VolumeHead2d(cin, spec.num_classes, spec.levels)

    def _forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x)
            if i < len(self.encoders) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for i, dec in enumerate(self.decoders):
            skip = skips[-1 - i]
            if self.gates is not None:
                skip = self.gates[i](skip, x)
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = dec(torch.cat([x, skip], dim=1))
        return self.head(x)


class AttentionUNet(UNet):
    """UNet with additive attention gates on every skip connection."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec, attention=True)


__all__ = ["UNet", "AttentionUNet"]

