"""Training configuration: one frozen dataclass, named presets, TOML files and KEY=VALUE overrides."""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pg2cli.errors import DataError, UsageError
from pg2cli.losses import LOSSES
from pg2cli.model.config import ModelConfig

DEVICES = ("auto", "cpu", "cuda", "mps")
AMP_MODES = ("off", "bf16", "fp16")

# Fields that only change how a run executes, not what it computes: they may differ when a run is resumed.
RUNTIME_FIELDS = frozenset({
    "stage1_iters", "stage2_iters", "device", "amp", "compile", "workers",
    "log_every", "sample_every", "ckpt_every", "keep_last", "num_samples",
})


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved as config.json in the run and inside every checkpoint.

    batch_size is the global batch: under torchrun it is split evenly over the processes, so scaling out
    keeps the optimisation the same. stage1_iters / stage2_iters count optimizer steps of each stage.
    l1_weight is lambda, the weight of the reconstruction term in L_G2 (10 on Market, 50 on DeepFashion).
    loss: 'pose-mask' (the method) or 'l1' (the ablation). flip: random left-right flips (deterministic per
    seed, epoch and pair). device/amp/compile/workers and the *_every intervals may change on resume.
    """

    preset: str = "market"
    model: ModelConfig = field(default_factory=ModelConfig)
    batch_size: int = 16
    stage1_iters: int = 22_000
    stage2_iters: int = 14_000
    lr: float = 2e-5
    beta1: float = 0.5
    beta2: float = 0.999
    l1_weight: float = 10.0
    loss: str = "pose-mask"
    flip: bool = True
    seed: int = 0
    device: str = "auto"
    amp: str = "off"
    compile: bool = False
    workers: int = 0
    log_every: int = 50
    sample_every: int = 1000
    ckpt_every: int = 1000
    keep_last: int = 3
    num_samples: int = 8

    def __post_init__(self) -> None:
        problems = []
        for name in ("batch_size", "log_every", "sample_every", "ckpt_every", "keep_last"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("stage1_iters", "stage2_iters", "workers", "num_samples", "seed"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.l1_weight < 0:
            problems.append(f"l1_weight must be >= 0, got {self.l1_weight}")
        for name, choices in (("loss", LOSSES), ("device", DEVICES), ("amp", AMP_MODES)):
            if getattr(self, name) not in choices:
                problems.append(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if problems:
            raise UsageError("; ".join(problems))

    def iters(self, stage: int) -> int:
        """Total optimizer steps of `stage` (1 or 2)."""
        return self.stage1_iters if stage == 1 else self.stage2_iters


PRESETS: dict[str, TrainConfig] = {
    # The authors' Market-1501 setting: 128x64, batch 16, 22k + 14k iterations, lambda 10.
    "market": TrainConfig(preset="market", model=ModelConfig(image_size=(128, 64)), batch_size=16,
                          stage1_iters=22_000, stage2_iters=14_000, l1_weight=10.0),
    # DeepFashion: 256x256 (N = 6), batch 8, 30k + 20k iterations, lambda 50; G2 with the full-resolution skip
    # (the authors' models256.py builds it with UAE_noFC_AfterNoise, not the Market code's After2Noise).
    "deepfashion": TrainConfig(preset="deepfashion", model=ModelConfig(image_size=(256, 256), g2_full_skip=True),
                               batch_size=8, stage1_iters=30_000, stage2_iters=20_000, l1_weight=50.0),
    # Small networks for tests and CPU experiments; image size from the data; a larger lr to move in few steps.
    "tiny": TrainConfig(preset="tiny", model=ModelConfig(image_size=None, base_channels=16, z_dim=16, d_channels=16),
                        batch_size=4, stage1_iters=300, stage2_iters=200, lr=2e-4, l1_weight=10.0,
                        log_every=10, sample_every=100, ckpt_every=100, num_samples=4),
}


def config_to_dict(config: TrainConfig) -> dict:
    """JSON-ready dict of primitives (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> TrainConfig:
    """Rebuild a TrainConfig from config_to_dict's output; unknown or missing keys are a DataError."""
    try:
        model = dict(data["model"])
        top = {k: v for k, v in data.items() if k != "model"}
        if model.get("image_size") is not None:
            model["image_size"] = tuple(model["image_size"])
        return TrainConfig(**top, model=ModelConfig(**model))
    except (KeyError, TypeError) as e:
        raise DataError(f"{source}: not a pg2cli training config ({e})") from None


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Convert a TOML value or a --set string to the field's type; UsageError when it does not fit."""
    bad = UsageError(f"{key}={value!r}: expected {getattr(kind, '__name__', kind)}")
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):  # only image_size: tuple[int, int] | None
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "data", "auto")):
            return None
        if isinstance(value, str):
            try:
                h, w = (int(v) for v in value.lower().split("x"))
            except ValueError:
                raise UsageError(f"{key}={value!r}: expected HxW (e.g. 128x64) or 'data'") from None
            return (h, w)
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
            return tuple(value)
        raise bad
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.strip().lower() in ("1", "true", "yes", "on")
        raise bad
    if kind is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        try:
            return int(str(value).replace("_", ""))
        except ValueError:
            raise bad from None
    if kind is float:
        if isinstance(value, bool):
            raise bad
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad from None
    if kind is str:
        if isinstance(value, str):
            return value
        raise bad
    raise bad


def apply_overrides(config: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """Return `config` with dotted keys replaced ('batch_size', 'model.base_channels'); values are typed
    (TOML) or strings (--set). Unknown keys and unparsable values are a UsageError naming all valid keys."""
    top_types, model_types = _field_types(TrainConfig), _field_types(ModelConfig)
    top: dict[str, Any] = {}
    model: dict[str, Any] = {}
    for key, value in overrides.items():
        section, _, name = key.rpartition(".")
        if section == "model" and name in model_types:
            model[name] = _coerce(key, value, model_types[name])
        elif section == "" and name in top_types and name != "model":
            top[name] = _coerce(key, value, top_types[name])
        else:
            valid = [k for k in top_types if k != "model"] + [f"model.{k}" for k in model_types]
            raise UsageError(f"unknown config key {key!r}; valid keys: {', '.join(valid)}")
    if model:
        top["model"] = dataclasses.replace(config.model, **model)
    return dataclasses.replace(config, **top)


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML config file as flat dotted keys: top-level fields plus a [model] table."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not a valid TOML file ({e})") from None
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            if key != "model":
                raise UsageError(f"{path}: unknown table [{key}]; only [model] is allowed")
            flat.update({f"model.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def resolve_config(preset: str | None = None, config_file: str | Path | None = None,
                   overrides: Mapping[str, Any] | None = None, base: TrainConfig | None = None) -> TrainConfig:
    """The resolved config, built in this order: the preset named by `preset` or by the TOML file's `preset`
    key, else `base` (e.g. the run's saved config), else 'market'; then the TOML file's values; then `overrides`."""
    file_values = read_toml(config_file) if config_file is not None else {}
    name = preset or file_values.pop("preset", None)
    file_values.pop("preset", None)
    if name is not None:
        if name not in PRESETS:
            raise UsageError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        base = PRESETS[name]
    elif base is None:
        base = PRESETS["market"]
    config = apply_overrides(base, file_values)
    return apply_overrides(config, dict(overrides or {}))
