"""G1, stage I: a residual U-Net with a fully connected bottleneck, (I_A, P_B) -> coarse I_B."""

from __future__ import annotations

import torch
from torch import nn

from pg2cli.model.blocks import ConvReLU, ResidualBlock, conv, init_glorot, upsample2
from pg2cli.model.config import ModelConfig
from pg2cli.skeleton import NUM_KEYPOINTS


class ResEncoder(nn.Module):
    """conv3x3 to n, then N residual levels of width n*(i+1) joined by stride-2 conv3x3; keeps each level as a skip."""

    def __init__(self, in_channels: int, n: int, depth: int):
        super().__init__()
        self.stem = ConvReLU(in_channels, n)
        self.levels = nn.ModuleList(ResidualBlock(n * (i + 1)) for i in range(depth))
        self.downs = nn.ModuleList(ConvReLU(n * (i + 1), n * (i + 2), stride=2) for i in range(depth - 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.stem(x)
        skips = []
        for i, level in enumerate(self.levels):
            x = level(x)
            skips.append(x)
            if i < len(self.downs):
                x = self.downs[i](x)
        return x, skips


def pose_coordinates(pose: torch.Tensor) -> torch.Tensor:
    """Keypoint coordinates read back from pose maps: [B, 18, H, W] in [-1, 1] -> [B, 18 * 3].

    Per channel: the centroid of the map (x, y scaled to [-1, 1]) and a visibility flag; (0, 0, 0) for an
    empty channel (a missing keypoint). For disc maps the centroid is the keypoint itself (up to clipping at the
    border), so the CE ablation sees coordinates while every generator keeps the same (image, pose maps) call.
    """
    b, k, h, w = pose.shape
    v = (pose.float() + 1.0) * 0.5
    mass = v.sum(dim=(2, 3))  # [B, 18]
    xs = torch.linspace(-1.0, 1.0, w, device=pose.device)
    ys = torch.linspace(-1.0, 1.0, h, device=pose.device)
    visible = mass > 0.5
    safe = mass.clamp_min(1e-6)
    x = torch.where(visible, (v.sum(2) * xs).sum(-1) / safe, 0.0)
    y = torch.where(visible, (v.sum(3) * ys).sum(-1) / safe, 0.0)
    return torch.stack([x, y, visible.float()], dim=-1).reshape(b, k * 3)


class G1(nn.Module):
    """Stage-I generator (the authors' GeneratorCNN_Pose_UAEAfterResidual): 70,795,075 parameters at Market size.

    Encoder: conv3x3(n), N residual levels (n*(i+1) channels), stride-2 convs between them; flatten, FC to z.
    Decoder: FC back to (8, w, n), then per level: concat the skip, a residual block at the concatenated
    width, and (except the last) nearest x2 upsampling + conv1x1 to n*(N-i-1). Output conv3x3 to RGB, linear.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        n, depth, z = config.base_channels, config.depth, config.z_dim
        bh, bw = config.bottleneck()
        self.bottleneck_shape = (n, bh, bw)
        embed = config.pose_embedding
        self.encoder = ResEncoder(3 + NUM_KEYPOINTS if embed == "maps" else 3, n, depth)
        self.fc_z = nn.Linear(bh * bw * n * depth, z)
        if embed == "coords":
            self.pose_encoder = None
            self.pose_fc = nn.Sequential(nn.Linear(NUM_KEYPOINTS * 3, config.coord_hidden), nn.ReLU(inplace=True),
                                         nn.Linear(config.coord_hidden, z))
        elif embed == "heatmap-encoder":
            self.pose_encoder = ResEncoder(NUM_KEYPOINTS, n, depth)
            self.pose_fc = nn.Linear(bh * bw * n * depth, z)
        else:
            self.pose_encoder = self.pose_fc = None
        self.fc_decode = nn.Linear(z if embed == "maps" else 2 * z, bh * bw * n)
        self.levels = nn.ModuleList()
        self.ups = nn.ModuleList()
        width = n
        for i in range(depth):
            width += n * (depth - i)  # concat the skip of encoder level N-1-i
            self.levels.append(ResidualBlock(width))
            if i < depth - 1:
                self.ups.append(ConvReLU(width, n * (depth - i - 1), k=1))
                width = n * (depth - i - 1)
        self.out = conv(width, 3)
        init_glorot(self)

    def forward(self, source: torch.Tensor, target_pose: torch.Tensor) -> torch.Tensor:
        """source [B, 3, H, W], target_pose [B, 18, H, W], both in [-1, 1] -> [B, 3, H, W] (linear output)."""
        embed = self.config.pose_embedding
        x = torch.cat([source, target_pose], 1) if embed == "maps" else source
        x, skips = self.encoder(x)
        code = self.fc_z(x.flatten(1))  # [B, z]
        if embed == "coords":
            code = torch.cat([code, self.pose_fc(pose_coordinates(target_pose).to(code.dtype))], 1)
        elif embed == "heatmap-encoder":
            p, _ = self.pose_encoder(target_pose)
            code = torch.cat([code, self.pose_fc(p.flatten(1))], 1)
        x = self.fc_decode(code).view(-1, *self.bottleneck_shape)
        for i, level in enumerate(self.levels):
            x = level(torch.cat([x, skips[-1 - i]], 1))
            if i < len(self.ups):
                x = self.ups[i](upsample2(x))
        return self.out(x)
