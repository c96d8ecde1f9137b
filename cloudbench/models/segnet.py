"""SegNet baseline: encoder-decoder that up-samples with the encoder's max-pooling indices.

No skip concatenation, so fine detail must survive through the pooling indices alone; a cheaper and
weaker baseline than the UNets.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from cloudbench.models.common import ConvBlock, ModelSpec, PhaseVolumeModel, VolumeHead2d, width_for


class SegNet(PhaseVolumeModel):
    """Three pooling stages (widths w, 2w, 4w) mirrored by max-unpooling stages."""

    stride = 8

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        w = width_for(spec.size)
        widths = [w, 2 * w, 4 * w]
        cin = spec.in_channels + spec.aux_channels
        self.encoders = nn.ModuleList()
        for cout in widths:
            self.encoders.append(ConvBlock(cin, cout))
            cin = cout
        self.decoders = nn.ModuleList()
        outs = [widths[1], widths[0], widths[0]]
        for cout in outs:
            self.decoders.append(ConvBlock(cin, cout))
            cin = cout
        self.head = VolumeHead2d(cin, spec.num_classes, spec.levels)

    def _forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        indices = []
        for enc in self.encoders:
            x = enc(x)
            x, idx = F.max_pool2d(x, 2, return_indices=True)
            indices.append(idx)
        for dec, idx in zip(self.decoders, reversed(indices), strict=True):
            with warnings.catch_warnings():
                # max_unpool is flagged non-deterministic for repeated indices; 2x2 non-overlapping
                # pooling never repeats one, so the result is deterministic here
                warnings.filterwarnings("ignore", message="max_unpooling2d", category=UserWarning)
                x = F.max_unpool2d(x, idx, 2)
            x = dec(x)
        return self.head(x)


__all__ = ["SegNet"]
