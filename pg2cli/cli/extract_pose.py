"""`pg2 extract-pose`: COCO-18 keypoints for a whole folder of images, resumable, into the annotation CSV."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pg2cli.cli._common import command, err_console, out_console


@command
def extract_pose_cmd(
    images_dir: Path = typer.Argument(..., help="Folder of images (searched recursively: jpg, jpeg, png, bmp, webp)."),
    output: Path = typer.Option(..., "-o", "--output", help="Annotation CSV to write (name:keypoints_y:keypoints_x); an existing one is resumed."),
    json_dir: Optional[Path] = typer.Option(None, "--json-dir", help="Also write OpenPose JSON per image (every person, with confidences): DIR/<folders>/x_keypoints.json, or x.png_keypoints.json where x.png and x.jpg share a stem."),
    backend: str = typer.Option("openpose", "--backend", help="openpose (CMU's model, needs its weights) | mediapipe (offline, CPU)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="openpose: body_pose_model.pth or a folder holding it (else $PG2_OPENPOSE_WEIGHTS, else the Hugging Face cache)."),
    device: str = typer.Option("auto", "--device", help="openpose: auto | cpu | cuda | cuda:N."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per batch (one size per network pass) [default: 16 on a CPU, 64 on a GPU]."),
    scale: Optional[List[float]] = typer.Option(None, "--scale", help="openpose: network input height in pixels (default 184, controlnet-aux's); repeat to average several."),
    refine: bool = typer.Option(False, "--refine/--no-refine", help="openpose: sub-pixel, DARK-style refinement on the network's heatmaps; more accurate near image borders (where controlnet-aux's decoder pulls keypoints onto the edge). Off by default to reproduce controlnet-aux / PG²'s annotations."),
    mediapipe_mode: str = typer.Option("auto", "--mediapipe-mode", help="mediapipe: auto | roi (tight person crops) | detector (photos)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="Process only shard I/N (a stable 1/N of the images, e.g. 0/4); merge the CSVs with make-pairs."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start the CSV afresh instead of resuming it."),
) -> None:
    """Detect body keypoints in every image and write one CSV row per readable image (resumable).

    Unreadable images are skipped and listed in OUTPUT.errors.csv.

    Under torchrun each rank takes its own shard and writes annotations.rankR.csv.
    """
    import os

    from pg2cli.errors import UsageError
    from pg2cli.pose import BACKENDS, get_backend
    from pg2cli.pose.extract import extract_poses, parse_shard, rank_output, torchrun_shard

    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: expected at least 1")
    parts = parse_shard(shard)
    ranks = torchrun_shard()
    if ranks is not None:
        if parts is not None:
            raise UsageError("--shard cannot be combined with torchrun (each rank takes its own shard)")
        parts, output = ranks, rank_output(output, ranks[0])
        if device in ("auto", "cuda"):
            import torch

            if torch.cuda.is_available():
                device = f"cuda:{int(os.environ.get('LOCAL_RANK', ranks[0])) % torch.cuda.device_count()}"
    if not images_dir.is_dir():
        raise UsageError(f"{images_dir}: not a folder (expected a folder of images)")

    err = err_console()
    opts: dict = ({"scales": tuple(scale) if scale else (184.0,), "batch_size": batch_size, "refine": refine}
                  if backend == "openpose" else {"mode": mediapipe_mode})
    if backend != "openpose" and scale:
        raise UsageError("--scale applies to the openpose backend only")
    if backend != "openpose" and refine:
        raise UsageError("--refine applies to the openpose backend only (mediapipe gives sub-pixel keypoints itself)")
    with err.status(f"loading the {backend} model"):
        model = get_backend(backend, weights=str(weights) if weights else None, device=device, **opts)

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    progress = Progress(TextColumn("[bold]extract-pose"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=err, transient=True,
                        disable=not err.is_terminal)  # (off a terminal it would only leave a blank line)
    task = None

    def on_batch(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            task = progress.add_task("extract", total=total, rate="")
        speed = progress.tasks[task].speed
        progress.update(task, completed=done, rate=f"{speed:.1f} img/s" if speed else "")

    try:
        with progress:
            result = extract_poses(images_dir, output, model, json_dir=json_dir,
                                   batch_size=batch_size or getattr(model, "batch_size", 16),
                                   shard=parts, overwrite=overwrite, progress=on_batch)
    finally:
        model.close()

    from rich.markup import escape
    from rich.table import Table

    t = Table(title="extract-pose", show_header=False, title_justify="left")
    t.add_row("images" + (f" (shard {parts[0]}/{parts[1]})" if parts else ""), f"{result.total:,}")
    if result.already_done:
        t.add_row("already in the CSV (resumed)", f"{result.already_done:,}")
    t.add_row("annotated now", f"{result.processed:,} -> {escape(str(result.output))}")
    t.add_row("with a person", f"{result.with_person:,}")
    if json_dir is not None:
        t.add_row("OpenPose JSON", escape(str(json_dir)))
    t.add_row("unreadable, skipped", f"{len(result.errors):,}"
              + (f" -> {escape(str(result.errors_file))}" if result.errors_file else ""))
    rate = result.processed / result.seconds if result.seconds > 0 else 0.0
    t.add_row("time", f"{result.seconds:.1f} s ({rate:.1f} images/s)")
    out_console().print(t)
    if result.json_suffixed:  # x.png beside x.jpg: both would be x_keypoints.json
        from pg2cli.pose.extract import json_path

        shown = [json_path(Path(), n, keep_suffix=True).as_posix() for n in result.json_suffixed[:3]]
        more = len(result.json_suffixed) - len(shown)
        out_console().print(f"note: {len(result.json_suffixed):,} images share a name stem with another; their JSON "
                            f"keeps the suffix: {escape(', '.join(shown))}" + (f" and {more:,} more" if more else ""))
    for name, reason in result.errors[:10]:
        err.print(f"[yellow]skipped[/] {escape(name)}: {escape(reason)}")
    if len(result.errors) > 10:
        err.print(f"[yellow]... and {len(result.errors) - 10} more in {escape(str(result.errors_file))}[/]")
