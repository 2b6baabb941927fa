"""`pg2 train`: stage 1 (G1) or stage 2 (G2 + D on a frozen G1) into a self-describing run directory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

import typer

from pg2cli.cli._common import command, err_console, out_console, stderr_is_terminal


def _fmt_record(r: dict) -> str:
    losses = "  ".join(f"{k} {v:.4f}" for k, v in r.items() if k.startswith(("loss_", "g2_")))
    eta = int(r["eta_s"])
    return (f"stage {r['stage']}  step {r['step']:,}/{r['total']:,}  {losses}  {r['it_s']:.2f} it/s  "
            f"ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}")


@command
def train_cmd(
    data: Optional[Path] = typer.Option(None, "--data", help="Packed HDF5 from `pg2 pack` (training pairs)."),
    stage: int = typer.Option(1, "--stage", help="1: train G1. 2: train G2 + D on the frozen G1 of the run (or --g1)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (config, stats, samples, checkpoints)."),
    g1: Optional[Path] = typer.Option(None, "--g1", help="Stage 2: take G1 from this run directory or checkpoint."),
    preset: Optional[str] = typer.Option(None, "--preset", help="market | deepfashion | tiny (default: the run's "
                                         "saved config when continuing, else market)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML file of config values (network "
                                               "settings in a 'model' table)."),
    sets: List[str] = typer.Option([], "--set", help="Override any config field: KEY=VALUE, e.g. "
                                   "model.base_channels=64 (repeatable)."),
    iters: Optional[int] = typer.Option(None, "--iters", help="Optimizer steps of this stage (total, not additional)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Global batch (split over torchrun processes)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate (2e-5 in the paper)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | mps."),
    amp: Optional[str] = typer.Option(None, "--amp", help="Mixed precision: bf16 | fp16 | off."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of initialisation, data order and flips."),
    workers: Optional[int] = typer.Option(None, "--workers", help="DataLoader worker processes (0 = in process)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's; 1 is "
                                          "often fastest on a small CPU that other jobs keep busy)."),
    compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the networks."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Steps between stats.jsonl lines."),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Steps between sample grids."),
    ckpt_every: Optional[int] = typer.Option(None, "--ckpt-every", help="Steps between checkpoints."),
    keep_last: Optional[int] = typer.Option(None, "--keep-last", help="Checkpoints of this stage to keep."),
    resume: Optional[str] = typer.Option(None, "--resume", help="auto (continue the newest checkpoint of this "
                                         "stage, if any) or a checkpoint PATH."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start this stage again, deleting its outputs."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and parameter counts, then exit."),
) -> None:
    """Train PG²: stage 1 (G1, pose-mask L1), then stage 2 (G2 + D, adversarial) on the same --out.

    Multi-GPU: torchrun --nproc-per-node K -m pg2cli train ... (the global --batch-size is split over the
    processes; rank 0 logs and checkpoints).
    """
    from pg2cli.errors import UsageError
    from pg2cli.train.config import resolve_config
    from pg2cli.train.loop import base_config

    if stage not in (1, 2):
        raise UsageError(f"--stage must be 1 or 2, got {stage}")
    overrides: dict[str, object] = {}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set model.z_dim=64")
        overrides[key.strip()] = value.strip()
    named = {f"stage{stage}_iters": iters, "batch_size": batch_size, "lr": lr, "device": device, "amp": amp,
             "seed": seed, "workers": workers, "compile": compile_, "log_every": log_every,
             "sample_every": sample_every, "ckpt_every": ckpt_every, "keep_last": keep_last}
    overrides.update({k: v for k, v in named.items() if v is not None})
    base = base_config(out, stage, g1=g1, resume=resume) if out is not None else None
    config = resolve_config(preset, config_file, overrides, base=base)

    if dry_run:
        _dry_run(config, data)
        return
    if data is None or out is None:
        raise UsageError("--data and --out are required (or pass --dry-run)")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: expected a count >= 1")
    import torch

    from pg2cli.train.loop import train

    if threads is not None:
        torch.set_num_threads(threads)

    main = int(os.environ.get("RANK", "0")) == 0
    result = _run_with_status(lambda on_log: train(config, data, out, stage, g1=g1, resume=resume,
                                                   overwrite=overwrite, on_log=on_log), main)
    if not main:
        return
    from rich.markup import escape

    console = out_console()
    losses = ", ".join(f"{k} {v:.4f}" for k, v in result.losses.items())
    speed = f", {result.steps_per_second:.2f} it/s over {result.seconds:.1f} s" if result.steps_per_second else ""
    console.print(f"[bold]train stage {stage}[/]: step {result.step:,}/{result.total_steps:,}"
                  f"{', ' + losses if losses else ''}{speed}")
    if result.resumed_from is not None:
        console.print(f"resumed from: {escape(str(result.resumed_from))}")
    console.print(f"checkpoint: {escape(str(result.checkpoint))}")
    console.print(f"samples: {escape(str(result.run_dir / 'samples'))}   stats: "
                  f"{escape(str(result.run_dir / 'stats.jsonl'))}")
    if stage == 1:
        console.print(f"next: pg2 train --data {escape(str(data))} --stage 2 --out {escape(str(out))}")


def _run_with_status(fn, main: bool):
    """Run fn(on_log) with one live status line on a terminal (a plain line per log step otherwise)."""
    console = err_console()
    if not main:
        return fn(None)
    if not stderr_is_terminal():
        return fn(lambda r: console.print(_fmt_record(r)))
    from rich.live import Live
    from rich.text import Text

    with Live(Text("starting..."), console=console, refresh_per_second=4, transient=False) as live:
        return fn(lambda r: live.update(Text(_fmt_record(r))))


def _dry_run(config, data: Optional[Path]) -> None:
    """Print the resolved config (JSON) and each network's parameter count."""
    from rich.table import Table

    from pg2cli.model import parameter_counts
    from pg2cli.train.config import config_to_dict

    note = ""
    if data is not None:
        from pg2cli.data.schema import inspect_packed
        from pg2cli.train.loop import fit_config_to_data

        config = fit_config_to_data(config, inspect_packed(data), data)
    elif config.model.image_size is None:
        note = "model.image_size comes from the data file: pass --data to resolve it and count parameters"
    console = out_console()
    console.print(json.dumps(config_to_dict(config), indent=2))
    if note:
        console.print(note)
        return
    counts = parameter_counts(config.model)
    t = Table(title="parameters", show_header=False, title_justify="left")
    for name, n in counts.items():
        t.add_row(name.upper(), f"{n:,}")
    console.print(t)
