"""The run directory: config.json, data.json, stats.jsonl, samples/ and checkpoints/, and what writes them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from pg2cli.errors import DataError
from pg2cli.fileio import write_text_atomic
from pg2cli.images import write_image
from pg2cli.train.checkpoint import CHECKPOINT_DIR, list_checkpoints

CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
STATS_FILE = "stats.jsonl"
SAMPLES_DIR = "samples"


def write_json(path: Path, obj: Any) -> None:
    """Replace a small JSON file atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n", overwrite=True)


def read_json(path: Path) -> Any:
    """A run's JSON file; DataError when missing or malformed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing (is {Path(path).parent} a pg2 training run?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None


def data_identity(info) -> dict[str, Any]:
    """What identifies the training data (from inspect_packed's PackedInfo): path, content fingerprint, schema,
    sizes and the pose map settings the networks will be trained on."""
    path = Path(info.path)
    return {
        "path": str(path.resolve()),
        "fingerprint": info.fingerprint,
        "schema": info.attrs.get("schema"),
        "schema_version": info.schema_version,
        "size_bytes": path.stat().st_size,
        "height": int(info.height),
        "width": int(info.width),
        "num_images": int(info.num_images),
        "num_pairs": int(info.num_pairs),
        "pose_map": info.pose_map,
        "pose_radius": float(info.pose_radius),
        "pose_sigma": float(info.pose_sigma),
    }


def record_data(run_dir: Path, stage: int, identity: dict[str, Any]) -> None:
    """data.json holds {"stage1": identity, "stage2": identity}: the data each stage was trained on."""
    path = run_dir / DATA_FILE
    doc = read_json(path) if path.exists() else {}
    doc[f"stage{stage}"] = identity
    write_json(path, doc)


def is_run(run_dir: Path) -> bool:
    return (run_dir / CONFIG_FILE).is_file()


REPLACED_DIR = ".replaced"  # inside a run folder: what --overwrite replaces, until the new run has a checkpoint


def _stage_files(run_dir: Path, stage: int) -> list[Path]:
    """pg2's own files that replacing `stage` removes: its (and for stage 1, stage 2's) checkpoints and sample
    pictures; for stage 1 also the run's config, data record and stats."""
    stages = (1, 2) if stage == 1 else (2,)
    files = [p for s in stages for _, p in list_checkpoints(run_dir, s)]
    samples = run_dir / SAMPLES_DIR
    if samples.is_dir():
        files += [p for s in stages for p in sorted(samples.glob(f"stage{s}-*.png"))]
    if stage == 1:
        files += [run_dir / n for n in (CONFIG_FILE, DATA_FILE, STATS_FILE) if (run_dir / n).is_file()]
    return files


def stash_stage(run_dir: Path, stage: int) -> Path:
    """Start replacing `stage` of a run (--overwrite) without losing it yet: what the stage wrote (`_stage_files`;
    stage 1 takes stage 2 with it, since stage 2 depends on it) is moved into run_dir/.replaced (for stage 2, the run's config, data record and stats are copied there, the
    stats then truncated in place). `drop_stash` deletes it
    once the new run has saved a checkpoint; `restore_stash` puts it back when the new run fails before that.
    A stash left by a replacement that was killed outright is deleted first: that replacement was asked for."""
    stash = run_dir / REPLACED_DIR
    if stash.exists():
        shutil.rmtree(stash)
    stash.mkdir()
    for p in _stage_files(run_dir, stage):
        dst = stash / p.relative_to(run_dir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, dst)
    if stage == 2:  # the run's records stay in use (stage 1's lines, its config): copies to put back
        for name in (CONFIG_FILE, DATA_FILE, STATS_FILE):
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, stash / name)
        truncate_stats(run_dir, keep=lambda rec: rec.get("stage") != 2)
    return stash


def restore_stash(run_dir: Path, stage: int) -> None:
    """Undo `stash_stage` after a replacement that failed before its first checkpoint: remove what it wrote for
    the stage and move the replaced files back."""
    stash = run_dir / REPLACED_DIR
    if not stash.is_dir():
        return
    for p in _stage_files(run_dir, stage):
        p.unlink()
    for p in sorted(q for q in stash.rglob("*") if not q.is_dir()):
        dst = run_dir / p.relative_to(stash)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, dst)
    shutil.rmtree(stash)


def drop_stash(run_dir: Path) -> None:
    """The replacement has its own checkpoint: the replaced files go for good."""
    shutil.rmtree(run_dir / REPLACED_DIR, ignore_errors=True)


class StartRecord:
    """What a run directory held before this command touched it, so a start that fails before its first
    checkpoint can be undone (`undo_failed_start`) and the same command rerun without --overwrite."""

    OWN = (CONFIG_FILE, DATA_FILE, STATS_FILE, SAMPLES_DIR, CHECKPOINT_DIR)

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        # Where the folder really is: '..' and symlinks resolved. `a/new/../mine` names the existing `mine` once
        # mkdir has made `new`, so whether the folder existed is decided on this path, not on the text.
        self.resolved = Path(os.path.realpath(self.run_dir))
        self.existed = os.path.lexists(self.resolved)
        # The folders of the path as written that do not exist yet, deepest first: what mkdir(parents=True) may
        # create. They are only ever removed while empty.
        self.created: list[Path] = []
        p = self.run_dir.absolute()
        while not os.path.lexists(p) and p != p.parent:
            self.created.append(p)
            p = p.parent
        self.before: set[str] | None = None
        if self.existed and self.resolved.is_dir():
            self.before = set(os.listdir(self.resolved))

    def has_checkpoints(self) -> bool:
        return any(list_checkpoints(self.resolved, s) for s in (1, 2))

    def undo_failed_start(self) -> None:
        """Remove what this command created, unless a checkpoint exists (then nothing is touched): the whole
        folder when it did not exist before, else only pg2's own files and folders that were not there before;
        then the empty folders made on the way to it. Files that existed before are never removed. Errors are
        ignored: the failure that led here is the one to report."""
        try:
            if self.has_checkpoints():
                return
            if not self.existed:
                if self.resolved.is_dir() and not self.resolved.is_symlink():
                    shutil.rmtree(self.resolved)
            elif self.before is not None:
                for name in self.OWN:
                    p = self.resolved / name
                    if name in self.before or not os.path.lexists(p):
                        continue
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p)
                    else:
                        p.unlink()
            for d in self.created:  # the folders made for it, deepest first, while empty
                with contextlib.suppress(OSError):
                    d.rmdir()
        except OSError:
            pass


def truncate_stats(run_dir: Path, keep) -> None:
    """Rewrite stats.jsonl keeping the records for which keep(record) is true (e.g. after a resume, drop the
    lines a crashed run wrote past its last checkpoint)."""
    path = run_dir / STATS_FILE
    if not path.exists():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    kept = [ln for ln in lines if keep(json.loads(ln))]
    if len(kept) != len(lines):
        write_text_atomic(path, "".join(ln + "\n" for ln in kept), overwrite=True)


class StatsWriter:
    """Appends one JSON line per logging step to stats.jsonl (flushed at once, so `tail -f` works)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / STATS_FILE

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())


def save_sample_grid(path: Path, columns: list[np.ndarray]) -> Path:
    """One row per fixed pair, one column per image kind (each [B, H, W, 3] uint8), 2-px white gutters."""
    b, h, w, _ = columns[0].shape
    gap = 2
    grid = np.full((b * (h + gap) - gap, len(columns) * (w + gap) - gap, 3), 255, np.uint8)
    for j, col in enumerate(columns):
        for i in range(b):
            grid[i * (h + gap): i * (h + gap) + h, j * (w + gap): j * (w + gap) + w] = col[i]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_image(path, grid, overwrite=True)
