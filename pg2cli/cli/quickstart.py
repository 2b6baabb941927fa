"""`pg2 quickstart`: the whole pipeline offline on synthetic people, in minutes on a CPU."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from pg2cli.cli._common import command, out_console


@command
def quickstart_cmd(
    out: Path = typer.Option(Path("quickstart"), "--out", help="Folder for everything the quickstart makes."),
    fast: bool = typer.Option(False, "--fast", help="A much shorter run that checks the pipeline (CI), not quality."),
    people: Optional[int] = typer.Option(None, "--people", help="Synthetic identities (default 60; 12 with --fast)."),
    stage1_iters: Optional[int] = typer.Option(None, "--stage1-iters",
                                               help="Stage-1 steps (default 900; 40 with --fast)."),
    stage2_iters: Optional[int] = typer.Option(None, "--stage2-iters",
                                               help="Stage-2 steps (default 300; 10 with --fast)."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | mps | auto."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch (1 is robust on a small, busy machine)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the split and the training."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the outputs of an earlier quickstart in --out."),
) -> None:
    """Draw synthetic people, make pairs (holding out some identities), pack, train stage 1 and stage 2,
    evaluate on the held-out people against the copy-the-source baseline, and draw result strips."""
    import dataclasses

    from pg2cli.quickstart import PRESETS, quickstart

    opts = PRESETS["fast" if fast else "default"]
    given = {"people": people, "stage1_iters": stage1_iters, "stage2_iters": stage2_iters}
    opts = dataclasses.replace(opts, device=device, seed=seed, threads=threads,
                               **{k: v for k, v in given.items() if v is not None})
    con = out_console()
    t0 = time.perf_counter()

    def report(event: str, fields: dict) -> None:
        clock = f"[dim]{time.perf_counter() - t0:6.0f}s[/]"
        if event == "step":
            con.print(f"{clock} [bold]{fields['name']}[/]: {fields['detail']}")
        elif event == "train":
            losses = "  ".join(f"{k} {v:.4f}" for k, v in fields.items() if k.startswith(("loss_", "g2_")))
            con.print(f"{clock}   stage {fields['stage']} step {fields['step']}/{fields['total']}  {losses}  "
                      f"{fields['it_s']:.1f} it/s")

    result = quickstart(out, opts, overwrite=overwrite, report=report)
    s, p = result.summary, result.paths

    from rich.table import Table

    t = Table(title="mask-SSIM / SSIM on held-out people (higher is better)", title_justify="left")
    t.add_column("")
    t.add_column("mask-SSIM", justify="right")
    t.add_column("SSIM", justify="right")
    t.add_column("L1", justify="right")
    for key, label in (("copy_source", "copy the source (baseline)"), ("stage1", "stage 1 (G1)"),
                       ("stage2", "stage 2 (G1 + G2)")):
        if key in s:
            t.add_row(label, f"{s[key]['mask_ssim']:.4f}", f"{s[key]['ssim']:.4f}", f"{s[key]['l1']:.4f}")
    con.print(t)
    verdict = "[green]beats[/]" if s["beats_copy_source"] else "[red]does not beat[/]"
    con.print(f"the trained model {verdict} copying the source image ({s['data']['test_pairs']} test pairs of "
              f"{len(s['data']['test_identities'])} people never seen in training)"
              + (" - expected with --fast, which checks the pipeline, not quality" if fast else ""))
    for label, key in (("data", "data"), ("packed", "train_h5"), ("run", "run"), ("strips", "strips_sheet"),
                       ("summary", "summary")):
        extra = f" and {p['test_h5']}" if key == "train_h5" else ""
        con.print(f"  {label:8s} {p[key]}{extra}")
    con.print(f"done in {s['seconds']['total']:.0f}s. Next: pg2 generate --run {p['run']} ... "
              f"or train on real data (see examples/market1501.sh)")
