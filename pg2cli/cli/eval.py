"""`pg2 eval`: the field's metrics under a named protocol, for a run on a packed test set or any folder of images."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from pg2cli.cli._common import command, err_console, out_console, stderr_is_terminal


@command
def eval_cmd(
    run: Optional[Path] = typer.Option(None, "--run",
        help="Run directory or checkpoint: generate every pair of --data with its final networks."),
    data: Optional[Path] = typer.Option(None, "--data", help="Packed HDF5 test set (from `pg2 pack`)."),
    generated: Optional[Path] = typer.Option(None, "--generated",
        help="Folder of generated images (any method), matched to --targets by file name."),
    targets: Optional[Path] = typer.Option(None, "--targets", help="Folder of real target images."),
    annotations: Optional[Path] = typer.Option(None, "--annotations",
        help="Folder mode: annotation CSV of the targets (pose masks for mask-SSIM/mask-IS, keypoints for "
             "PCKh)."),
    baseline: Optional[str] = typer.Option(None, "--baseline",
        help="Run mode without a run: copy_source (score each pair's source image as the answer)."),
    metrics: str = typer.Option("all", "--metrics",
        help="Comma-separated: ssim, mask_ssim, psnr, l1, lpips, is, mask_is, fid, pckh (or all)."),
    protocol: str = typer.Option("pg2", "--protocol",
        help="SSIM protocol: pg2 (skimage defaults, PG²'s code) or patn (Gaussian window, data range of the "
             "generated image; Deformable GAN / PATN)."),
    stage: Optional[int] = typer.Option(None, "--stage", help="Run mode: 1 or 2 (default: the run's latest stage)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Run mode: score only the first N pairs."),
    batch_size: int = typer.Option(16, "--batch-size", help="Pairs per batch."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | mps."),
    inception_weights: Optional[Path] = typer.Option(None, "--inception-weights",
        help="pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth) for IS/FID."),
    lpips_weights: Optional[Path] = typer.Option(None, "--lpips-weights",
        help="torchvision AlexNet weights (alexnet-owt-7be5be79.pth) for LPIPS."),
    pose_backend: str = typer.Option("auto", "--pose-backend",
        help="PCKh pose extractor: auto (openpose if its weights are found, else mediapipe) | openpose | "
             "mediapipe."),
    pose_weights: Optional[Path] = typer.Option(None, "--pose-weights", help="OpenPose body weights for PCKh."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the scores as one flat JSON object."),
    save_images: Optional[Path] = typer.Option(None, "--save-images",
        help="Run mode: write generated/, targets/ and annotations.csv here (re-scorable in folder mode)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Score generated images: SSIM, mask-SSIM, PSNR, L1, LPIPS, IS, mask-IS, FID, PCKh@0.5.

    Metrics whose network weights are missing are skipped with a one-line reason; the rest still run.
    """
    import json

    from pg2cli.evaluate import EvalOptions, evaluate, parse_metrics
    from pg2cli.fileio import check_output, write_text_atomic

    if output is not None:
        check_output(output, overwrite)
    options = EvalOptions(metrics=parse_metrics(metrics), protocol=protocol, batch_size=batch_size,
                          inception_weights=str(inception_weights) if inception_weights else None,
                          lpips_weights=str(lpips_weights) if lpips_weights else None,
                          pose_backend=pose_backend, pose_weights=str(pose_weights) if pose_weights else None,
                          device=device)
    with _progress() as progress:
        result = evaluate(run=run, data=data, generated=generated, targets=targets, annotations=annotations,
                          baseline=baseline, stage=stage, options=options, save_images=save_images,
                          overwrite=overwrite, limit=limit, progress=progress)
    if output is not None:
        write_text_atomic(output, json.dumps(result.as_json(), indent=2) + "\n", overwrite=overwrite)
    _print(result, output, save_images)


@contextmanager
def _progress():
    """Yield a progress(done, total) callback drawing a rich bar on a terminal (stderr), or None otherwise."""
    if not stderr_is_terminal():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("eval", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console(),
                  transient=True) as bar:
        task = bar.add_task("eval", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print(result, output: Optional[Path], save_images: Optional[Path]) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = out_console()
    t = Table(title=f"pg2 eval (SSIM protocol: {result.protocol})", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("note")
    for name, value in result.metrics.items():
        if value is None:
            t.add_row(name, "skipped", escape(result.notes.get(name, "")))
        else:
            note = result.notes.get(name, "")
            if name == "pckh" and result.pose_backend:
                note = f"poses by {result.pose_backend}" + (f"; {note}" if note else "")
            t.add_row(name, f"{value:.4f}", escape(note))
    con.print(t)
    con.print("  ".join(f"{k}: {v:,}" for k, v in result.counts.items()))
    for key, note in result.notes.items():
        if key not in result.metrics:
            con.print(f"note: {escape(note)}")
    if result.skipped:
        con.print(f"[yellow]skipped {len(result.skipped)} item(s)[/], e.g.:")
        for item, reason in result.skipped[:5]:
            con.print(f"  {escape(item)}: {escape(reason)}")
    if output is not None:
        con.print(f"scores: {escape(str(output))}")
    if save_images is not None:
        con.print(f"images: {escape(str(save_images))}")
