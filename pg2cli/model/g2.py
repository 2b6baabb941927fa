"""G2, stage II: a fully convolutional U-Net that predicts a difference map added to G1's output."""

from __future__ import annotations

import torch
from torch import nn

from pg2cli.model.blocks import ConvReLU, conv, init_glorot, upsample2
from pg2cli.model.config import ModelConfig


class G2(nn.Module):
    """Stage-II generator, the authors' UAE_noFC_After2Noise (Market-1501 code: 6,058,883 parameters) or, with
    config.g2_full_skip, UAE_noFC_AfterNoise (DeepFashion code: 12,696,067 parameters at 256x256), noise_dim=0.

    N-2 levels. Encoder: conv3x3(n), then per level two conv3x3 at n*(i+1) channels (kept as a skip for
    i > 0, and for i = 0 too with g2_full_skip) and a stride-2 conv3x3 (except the last). Decoder: concat the
    skip (at the last level only with g2_full_skip), two conv3x3 at n, nearest x2 upsampling (except the last).
    Output conv3x3 to RGB: the difference map.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        n, levels = config.base_channels, config.depth - 2
        self.full_skip = config.g2_full_skip
        self.stem = ConvReLU(6, n)
        self.enc = nn.ModuleList()
        self.downs = nn.ModuleList()
        width = n
        for i in range(levels):
            c = n * (i + 1)
            self.enc.append(nn.Sequential(ConvReLU(width, c), ConvReLU(c, c)))
            width = c
            if i < levels - 1:
                self.downs.append(ConvReLU(c, c, stride=2))
        first = 0 if self.full_skip else 1
        skip_widths = [n * (i + 1) for i in range(first, levels)]
        self.dec = nn.ModuleList()
        for i in range(levels):
            cin = width + (skip_widths[-1 - i] if i < len(skip_widths) else 0)
            self.dec.append(nn.Sequential(ConvReLU(cin, n), ConvReLU(n, n)))
            width = n
        self.out = conv(n, 3)
        init_glorot(self)

    def forward(self, source: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """source, coarse (G1's output) [B, 3, H, W] -> difference map [B, 3, H, W]; final = coarse + this."""
        x = self.stem(torch.cat([coarse, source], 1))  # the original code's channel order: (G1 output, condition)
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x)
            if i > 0 or self.full_skip:
                skips.append(x)
            if i < len(self.downs):
                x = self.downs[i](x)
        for i, block in enumerate(self.dec):
            if i < len(skips):
                x = torch.cat([x, skips[-1 - i]], 1)
            x = block(x)
            if i < len(self.dec) - 1:
                x = upsample2(x)
        return self.out(x)
