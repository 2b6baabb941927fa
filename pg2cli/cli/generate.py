"""`pg2 generate`: one person (an image) in a new pose (OpenPose JSON, an annotation CSV row, or another photo)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pg2cli.cli._common import command, out_console, parse_size


@command
def generate_cmd(
    run: Path = typer.Option(..., "--run", help="Run directory or checkpoint (from `pg2 train`)."),
    image: Path = typer.Option(..., "--image", help="The person: an image of any size (fitted to the model's size)."),
    pose: Path = typer.Option(..., "--pose",
        help="Target pose: OpenPose .json, annotation .csv (with --pose-name), or a photo to extract it from."),
    output: Path = typer.Option(..., "-o", "--output", help="Image to write (PNG recommended)."),
    pose_name: Optional[str] = typer.Option(None, "--pose-name", help="Row of the annotation CSV to use."),
    pose_size: Optional[str] = typer.Option(None, "--pose-size",
        help="HxW of the image a JSON/CSV pose was annotated on (default: the size of --image)."),
    stage: Optional[int] = typer.Option(None, "--stage",
        help="1 (G1 only) or 2 (G1 + G2); default: the run's latest stage."),
    strip: bool = typer.Option(False, "--strip", help="Write source | pose | result side by side."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | mps | auto."),
    pose_backend: str = typer.Option("auto", "--pose-backend",
        help="For a photo pose: auto (openpose if its weights are found, else mediapipe) | openpose | "
             "mediapipe."),
    pose_weights: Optional[Path] = typer.Option(None, "--pose-weights", help="OpenPose body weights."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Put the person of --image into the pose of --pose with a trained run."""
    from pg2cli.errors import UsageError
    from pg2cli.infer import generate_file

    if stage not in (None, 1, 2):
        raise UsageError(f"--stage must be 1 or 2, got {stage}")
    report = generate_file(run, image, pose, output, pose_name=pose_name,
                           pose_size=parse_size(pose_size, "--pose-size"), stage=stage, with_strip=strip,
                           device=device, backend=pose_backend,
                           pose_weights=str(pose_weights) if pose_weights else None, overwrite=overwrite)
    from rich.markup import escape

    h, w = report.image_size
    extra = f", pose extracted by {report.pose_backend}" if report.pose_backend else ""
    out_console().print(f"generate: stage {report.stage} at {h}x{w}, pose {escape(report.pose)}{extra} -> "
                        f"{escape(str(report.output))}")
    if report.note:
        out_console().print(f"note: {escape(report.note)}")
