"""D: the DCGAN discriminator of the original code (5x5 stride-2 convs, batch norm, LeakyReLU, one logit)."""

from __future__ import annotations

import torch
from torch import nn

from pg2cli.model.config import ModelConfig


class Discriminator(nn.Module):
    """conv5x5/2 with d, 2d, 4d, 8d (then 8d again per extra level) channels down to height 8; batch norm from
    the 2nd conv on; LeakyReLU(0.2); linear to one logit. 4,324,737 parameters at Market size (d = 64, single).

    d_input 'single' judges an image; 'pair' judges (condition, image) concatenated on channels.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.pair = config.d_input == "pair"
        d, layers = config.d_channels, config.depth - 1
        h, w = config.image_size  # type: ignore[misc]
        mods: list[nn.Module] = []
        cin = 6 if self.pair else 3
        for i in range(layers):
            cout = d * min(2**i, 8)
            mods.append(nn.Conv2d(cin, cout, 5, stride=2, padding=2))
            if i > 0:
                mods.append(nn.BatchNorm2d(cout))
            mods.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        self.features = nn.Sequential(*mods)
        self.fc = nn.Linear(cin * (h >> layers) * (w >> layers), 1)
        for m in self.modules():  # DCGAN init: N(0, 0.02)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """image [B, 3, H, W] (and condition [B, 3, H, W] when d_input='pair') -> logits [B]."""
        if self.pair:
            if condition is None:
                raise ValueError("this discriminator judges (condition, image) pairs: pass condition")
            image = torch.cat([condition, image], 1)
        return self.fc(self.features(image).flatten(1)).squeeze(1)
