"""Building blocks shared by G1 and G2: 3x3 convs with ReLU, the residual block, nearest upsampling."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    """A 'same'-padded convolution with bias (TF slim.conv2d)."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class ConvReLU(nn.Sequential):
    """conv then ReLU: every conv of G1/G2 except the output layer."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1):
        super().__init__(conv(cin, cout, k, stride), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """x + relu(conv(relu(conv(x)))): G1's block; both convs keep the width (the original code adds after the ReLU)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvReLU(channels, channels), ConvReLU(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 (tf.image.resize_nearest_neighbor)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def init_glorot(module: nn.Module) -> None:
    """TF slim's defaults, which the authors' G1/G2 used: Glorot-uniform weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
