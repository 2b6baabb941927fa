"""PG²'s losses as pure functions: the pose-mask L1 (stage I and II) and the DCGAN adversarial terms."""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

LOSSES = ("pose-mask", "l1")


def pose_mask_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L = ||(pred - target) * (1 + M_B)||_1, as the original code computes it:
    mean|pred - target| + mean(|pred - target| * M_B). pred/target [B, 3, H, W], mask [B, 1, H, W] in {0, 1}."""
    diff = (pred - target).abs()
    return diff.mean() + (diff * mask).mean()


def plain_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """mean|pred - target|: the paper's L1 ablation baseline (the mask is ignored)."""
    return (pred - target).abs().mean()


RECONSTRUCTION: dict[str, Callable[..., torch.Tensor]] = {"pose-mask": pose_mask_l1, "l1": plain_l1}


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def generator_adversarial(fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE(D(G2 output), 1): the adversarial part of L_G2."""
    return _bce(fake_logits, 1.0)


def discriminator_single(real_target: torch.Tensor, real_condition: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The original code's L_D on single images: 0.5 BCE(D(I_B), 1) + 0.25 BCE(D(I_A), 0) + 0.25 BCE(D(G2 out), 0).
    The condition image counts as a negative, so D cannot pass an unchanged copy of I_A as the target."""
    return 0.5 * _bce(real_target, 1.0) + 0.25 * _bce(real_condition, 0.0) + 0.25 * _bce(fake, 0.0)


def discriminator_pair(real_pair: torch.Tensor, fake_pair: torch.Tensor) -> torch.Tensor:
    """The paper's L_D on pairs: BCE(D(I_A, I_B), 1) + BCE(D(I_A, G2 out), 0)."""
    return _bce(real_pair, 1.0) + _bce(fake_pair, 0.0)
