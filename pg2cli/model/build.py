"""Build G1, G2 and D from a ModelConfig; count parameters."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from pg2cli.errors import UsageError
from pg2cli.model.config import ModelConfig
from pg2cli.model.d import Discriminator
from pg2cli.model.g1 import G1
from pg2cli.model.g2 import G2


@dataclass
class Networks:
    """The three networks of PG²; any may be None when not built."""

    g1: G1 | None
    g2: G2 | None
    d: Discriminator | None


NETWORKS = {"g1": G1, "g2": G2, "d": Discriminator}


def build(config: ModelConfig, parts: tuple[str, ...] = ("g1", "g2", "d")) -> Networks:
    """Build the named networks (fresh initialisation, CPU, train mode) for a resolved config."""
    if config.image_size is None:
        raise UsageError("model.image_size is not set; it is taken from the data file when training starts")
    unknown = set(parts) - set(NETWORKS)
    if unknown:
        raise ValueError(f"unknown networks {sorted(unknown)}; expected some of {list(NETWORKS)}")
    return Networks(**{name: (cls(config) if name in parts else None) for name, cls in NETWORKS.items()})


def parameter_counts(config: ModelConfig) -> dict[str, int]:
    """Parameters of G1, G2 and D for a resolved config, built on the meta device (no memory, no init cost)."""
    import torch

    with torch.device("meta"):
        nets = build(config)
    return {name: count_parameters(getattr(nets, name)) for name in NETWORKS}


def count_parameters(module: nn.Module) -> int:
    """Number of trainable-or-not parameters (batch-norm gamma/beta included, running statistics not)."""
    return sum(p.numel() for p in module.parameters())
