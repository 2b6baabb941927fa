"""Checkpoints: atomic save, keep-last-K, weights_only loading, RNG state, and load_generators for inference."""

from __future__ import annotations

import pickle
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pg2cli.errors import DataError
from pg2cli.fileio import atomic_output
from pg2cli.model import build
from pg2cli.model.g1 import G1
from pg2cli.model.g2 import G2
from pg2cli.train.config import TrainConfig, config_from_dict

FORMAT = "pg2cli.checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^stage([12])-(\d{8})\.pt$")


def checkpoint_path(run_dir: Path, stage: int, step: int) -> Path:
    """run/checkpoints/stage{stage}-{step:08d}.pt"""
    return Path(run_dir) / CHECKPOINT_DIR / f"stage{stage}-{step:08d}.pt"


def list_checkpoints(run_dir: Path, stage: int) -> list[tuple[int, Path]]:
    """(step, path) of a run's checkpoints of one stage, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = []
    for p in folder.glob(f"stage{stage}-*.pt") if folder.is_dir() else ():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(2)), p))
    return sorted(found)


def latest_checkpoint(run_dir: Path, stage: int) -> Path | None:
    """The newest checkpoint of `stage` in a run, or None."""
    found = list_checkpoints(run_dir, stage)
    return found[-1][1] if found else None


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temp name + rename): a crash never leaves half a file under `path`."""
    with atomic_output(path, overwrite=True) as tmp:
        torch.save(payload, tmp)
    return path


def prune_checkpoints(run_dir: Path, stage: int, keep_last: int) -> None:
    """Delete all but the newest `keep_last` checkpoints of `stage` (other stages are never touched)."""
    for _, p in list_checkpoints(run_dir, stage)[:-keep_last]:
        p.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = True) -> dict[str, Any]:
    """Load and check a pg2cli checkpoint with torch.load(weights_only=True); DataError when it is not one.

    mmap (copy-on-write) makes reading only the config or G1 cheap; resuming passes False so the optimizer
    state it keeps does not stay mapped to a file that keep-last-K later deletes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such checkpoint")
    if not zipfile.is_zipfile(path):  # empty, cut short, text, or torch's legacy bare-pickle format
        raise DataError(f"{path}: not a readable pg2cli checkpoint (not a complete PyTorch zip archive)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:  # weights_only met a class or function: executing it could run any code
        raise DataError(f"{path}: refused: it holds pickled Python objects besides tensors and plain values "
                        "(loading them could run code; pg2cli loads weights only)") from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable pg2cli checkpoint ({str(e).splitlines()[0]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DataError(f"{path}: not a pg2cli checkpoint (expected format {FORMAT!r})")
    if ckpt.get("version") != FORMAT_VERSION:
        raise DataError(f"{path}: checkpoint version {ckpt.get('version')} is not supported (expected {FORMAT_VERSION})")
    return ckpt


def rng_state() -> dict[str, Any]:
    """Every RNG a step could touch, as tensors and primitives (weights_only-safe)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what rng_state() saved."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state((npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["gauss"]))
    random.setstate((state["python_version"], tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_checkpoint(path: str | Path, stage: int | None = None) -> Path:
    """A checkpoint file as given, or the newest one in a run directory (of `stage`, else of the latest stage)."""
    path = Path(path)
    if path.is_dir():
        stages = [stage] if stage is not None else [2, 1]
        for s in stages:
            found = latest_checkpoint(path, s)
            if found is not None:
                return found
        what = f"stage-{stage} checkpoint" if stage is not None else "checkpoint"
        raise DataError(f"{path}: no {what} in {path / CHECKPOINT_DIR}")
    if not path.exists():
        raise DataError(f"{path}: no such checkpoint or run directory")
    return path


@dataclass
class Generators:
    """Trained generators ready for inference (eval mode, no gradients).

    image_size (H, W) and the pose map settings (kind, radius, sigma) are those the networks were trained with;
    inputs must be rendered the same way.
    """

    config: TrainConfig
    g1: G1
    g2: G2 | None
    stage: int
    step: int
    image_size: tuple[int, int]
    pose_map: str
    pose_radius: float
    pose_sigma: float
    checkpoint: Path
    device: torch.device

    @torch.inference_mode()
    def __call__(self, source: torch.Tensor, target_pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """source [B, 3, H, W], target_pose [B, 18, H, W] in [-1, 1] -> (G1 output, final output), both
        [B, 3, H, W] clamped to [-1, 1]; final = G1 + G2's difference map (= G1 output after stage 1 only)."""
        h, w = self.image_size
        if source.shape[1:] != (3, h, w) or target_pose.shape[1:] != (18, h, w) or len(source) != len(target_pose):
            raise ValueError(f"expected source [B, 3, {h}, {w}] and target_pose [B, 18, {h}, {w}], "
                             f"got {list(source.shape)} and {list(target_pose.shape)}")
        source = source.to(self.device, torch.float32)
        coarse = self.g1(source, target_pose.to(self.device, torch.float32))
        final = coarse + self.g2(source, coarse) if self.g2 is not None else coarse
        return coarse.clamp(-1, 1), final.clamp(-1, 1)


def load_generators(path: str | Path, stage: int | None = None, device: str | torch.device = "cpu") -> Generators:
    """G1 (and G2 after stage 2) from a run directory or a checkpoint file, in eval mode on `device`.

    stage None = the latest stage available; stage 1 = G1 alone (also from a stage-2 checkpoint, which keeps its
    frozen G1). DataError for a missing, foreign or mismatched checkpoint.
    """
    from pg2cli.train.distributed import resolve_device

    if stage not in (None, 1, 2):
        raise ValueError(f"stage must be None, 1 or 2, got {stage!r}")
    dev = resolve_device(device) if isinstance(device, str) else device
    ckpt_path = resolve_checkpoint(path, stage)
    ckpt = load_checkpoint(ckpt_path)
    found = ckpt["stage"]
    if stage == 2 and found != 2:
        raise DataError(f"{ckpt_path}: is a stage-{found} checkpoint, stage 2 was asked for")
    if stage == 1:
        found = 1  # a stage-2 checkpoint holds its frozen G1 too
    config = config_from_dict(ckpt["config"], str(ckpt_path))
    # Built on the meta device and given the (memory-mapped) saved tensors: no random initialisation to throw
    # away and no copy, which is most of a cold `pg2 generate`.
    with torch.device("meta"):
        nets = build(config.model, ("g1", "g2") if found == 2 else ("g1",))
    try:
        nets.g1.load_state_dict(ckpt["nets"]["g1"], assign=True)
        if nets.g2 is not None:
            nets.g2.load_state_dict(ckpt["nets"]["g2"], assign=True)
    except (KeyError, RuntimeError) as e:
        raise DataError(f"{ckpt_path}: weights do not match the saved config ({str(e).splitlines()[0]})") from None
    for net in (nets.g1, nets.g2):
        if net is not None:
            net.to(dev).eval().requires_grad_(False)
    data = ckpt["data"]
    return Generators(config=config, g1=nets.g1, g2=nets.g2, stage=found, step=ckpt["step"],
                      image_size=tuple(config.model.image_size), pose_map=data["pose_map"],
                      pose_radius=float(data["pose_radius"]), pose_sigma=float(data["pose_sigma"]),
                      checkpoint=ckpt_path, device=dev)
