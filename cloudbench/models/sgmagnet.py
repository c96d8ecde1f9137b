"""SGMAGNet: our reading of the sparse-guided multi-scale attention generating network.

The paper released no code; docs/architecture.md ("SGMAGNet") is the design this module follows:

* a multi-scale 2-D encoder with attention gates on the decoder's skip connections;
* dynamic height encoding: every height level has an embedding (sinusoidal + learned) that
  modulates the 2-D features per level with FiLM (scale and shift), conditioned on the pixel's own
  features, which lifts a 2-D feature map into a volume; the pixel's own (normalised) inputs join
  its decoder features there, because the 2-D path's GroupNorm normalises each patch and so removes
  the absolute brightness temperature that places the cloud top and decides its phase;
* multi-scale volumetric generation: the volume is built coarse-to-fine in height and space
  (Z/4 at P/4 -> Z/2 at P/2 -> Z at P), fused at each scale with the lifted decoder features, using
  factorised (vertical then horizontal) 3-D convolutions to stay cheap;
* phase-aware gating: an occupancy head p(cloud) and a phase head p(phase | cloud), combined as
  [1 - p(cloud), p(cloud) * p(phase | cloud)]; the log of these probabilities is returned as logits,
  so a softmax over them gives the gated probabilities back exactly;
* sparse guidance lives in the loss (cloudbench.train.losses): only labelled voxels count.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cloudbench.models.common import AttentionGate, ConvBlock, ModelSpec, PhaseVolumeModel, norm3d, width_for


def sinusoidal_encoding(levels: int, dim: int) -> torch.Tensor:
    """Transformer-style encoding of the level index, (levels, dim)."""
    pos = torch.arange(levels, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1000.0) / dim))
    enc = torch.zeros(levels, dim)
    enc[:, 0::2] = torch.sin(pos * freq)
    enc[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return enc


class HeightEncoding(nn.Module):
    """Sinusoidal + learned embedding per height level, pooled to a coarser vertical grid on demand."""

    def __init__(self, levels: int, dim: int):
        super().__init__()
        self.register_buffer("fixed", sinusoidal_encoding(levels, dim), persistent=False)
        self.learned = nn.Parameter(torch.zeros(levels, dim))

    def forward(self, levels: int) -> torch.Tensor:
        emb = self.fixed + self.learned  # (Z, D)
        if levels != emb.shape[0]:
            emb = F.adaptive_avg_pool1d(emb.t()[None], levels)[0].t()
        return emb


class HeightFiLM(nn.Module):
    """Lift 2-D features (B, Cf, H, W) to a volume (B, Cv, Z', H, W) with height-wise FiLM.

    scale and shift = MLP(height embedding) + 1x1 conv(pixel features), so the modulation depends on
    both the level and what the pixel looks like (a cold top switches on ice high up, not low down).
    """

    def __init__(self, feat_channels: int, vol_channels: int, emb_dim: int):
        super().__init__()
        self.value = nn.Conv2d(feat_channels, vol_channels, 1)
        self.pixel = nn.Conv2d(feat_channels, 2 * vol_channels, 1)
        self.height = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.ReLU(inplace=True), nn.Linear(emb_dim, 2 * vol_channels))

    def forward(self, feats: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        v = self.value(feats)[:, :, None]  # (B, Cv, 1, H, W)
        mod = self.height(emb).t()[None, :, :, None, None] + self.pixel(feats)[:, :, None]
        gamma, beta = mod.chunk(2, dim=1)
        return F.relu(v * (1.0 + gamma) + beta)


class VolumeBlock(nn.Module):
    """Residual factorised 3-D block: a vertical (3,1,1) then a horizontal (1,3,3) convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0), bias=False),
            norm3d(channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1), bias=False),
            norm3d(channels),
        )

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return F.relu(v + self.body(v))


class SGMAGNet(PhaseVolumeModel):
    """Encoder (w, 2w, 4w, 4w) -> attention-gated decoder -> coarse-to-fine volume -> gated heads."""

    stride = 8

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        if spec.num_classes < 2:
            raise ValueError("SGMAGNet needs a clear class plus at least one cloud class")
        w = width_for(spec.size)
        v = max(w // 2, 4)
        emb_dim = 2 * w
        cin = spec.in_channels + spec.aux_channels
        self.enc = nn.ModuleList([ConvBlock(cin, w), ConvBlock(w, 2 * w), ConvBlock(2 * w, 4 * w), ConvBlock(4 * w, 4 * w)])
        dec_out = [4 * w, 2 * w, w]  # decoder widths at P/4, P/2, P
        skips = [4 * w, 2 * w, w]
        self.gates = nn.ModuleList()
        self.dec = nn.ModuleList()
        c = 4 * w
        for skip, out in zip(skips, dec_out, strict=True):
            self.gates.append(AttentionGate(skip, c, max(skip // 2, 4)))
            self.dec.append(ConvBlock(c + skip, out))
            c = out
        self.vol_channels = [2 * v, v, v]  # volume widths at scales P/4, P/2, P
        self.height = HeightEncoding(spec.levels, emb_dim)
        # the lift also sees the input itself (pooled to its scale): GroupNorm in the 2-D path normalises
        # each patch, which removes its absolute brightness temperature, and phase is decided by it
        self.lift = nn.ModuleList(
            HeightFiLM(f + cin, cv, emb_dim) for f, cv in zip(dec_out, self.vol_channels, strict=True)
        )
        self.bridge = nn.ModuleList(
            nn.Conv3d(a, b, 1) for a, b in zip(self.vol_channels[:-1], self.vol_channels[1:], strict=True)
        )
        self.blocks = nn.ModuleList(VolumeBlock(cv) for cv in self.vol_channels)
        self.occupancy = nn.Conv3d(v, 1, 1)
        self.phase = nn.Conv3d(v, spec.num_classes - 1, 1)

    def _levels_at(self, scale: int) -> int:
        return max(1, math.ceil(self.spec.levels / 2**scale))

    def _forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        inputs = x
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x)
            if i < len(self.enc) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        feats = []
        for gate, dec, skip in zip(self.gates, self.dec, reversed(skips), strict=True):
            skip = gate(skip, x)
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = dec(torch.cat([x, skip], dim=1))
            feats.append(x)
        volume = None
        for i, f in enumerate(feats):  # scales P/4, P/2, P
            z = self._levels_at(len(feats) - 1 - i)
            raw = F.adaptive_avg_pool2d(inputs, f.shape[-2:])
            lifted = self.lift[i](torch.cat([f, raw], dim=1), self.height(z))
            if volume is not None:
                up = F.interpolate(volume, size=lifted.shape[-3:], mode="trilinear", align_corners=False)
                lifted = lifted + self.bridge[i - 1](up)
            volume = self.blocks[i](lifted)
        occ = self.occupancy(volume)  # (B, 1, Z, H, W)
        phase = self.phase(volume)  # (B, K-1, Z, H, W)
        log_clear = F.logsigmoid(-occ)
        log_phase = F.logsigmoid(occ) + F.log_softmax(phase, dim=1)
        return torch.cat([log_clear, log_phase], dim=1)


__all__ = ["SGMAGNet", "HeightEncoding", "HeightFiLM"]
