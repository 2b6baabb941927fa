"""`pg2 animate`: one person through a sequence of poses, written as a GIF or MP4."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pg2cli.cli._common import command, out_console, parse_size


@command
def animate_cmd(
    run: Path = typer.Option(..., "--run", help="Run directory or checkpoint (from `pg2 train`)."),
    image: Path = typer.Option(..., "--image", help="The person: an image of any size."),
    poses: Path = typer.Option(..., "--poses",
        help="A folder of frames (poses extracted, in file-name order) or an annotation CSV (rows in order)."),
    output: Path = typer.Option(..., "-o", "--output", help="Animation to write: .gif or .mp4 (H.264 with the [video] extra, else OpenCV's mp4v)."),
    fps: float = typer.Option(10.0, "--fps", help="Frames per second."),
    pose_size: Optional[str] = typer.Option(None, "--pose-size",
        help="HxW of the images a CSV's poses were annotated on (default: the size of --image)."),
    stage: Optional[int] = typer.Option(None, "--stage", help="1 or 2; default: the run's latest stage."),
    strip: bool = typer.Option(False, "--strip", help="Frames show source | pose | result side by side."),
    batch_size: int = typer.Option(16, "--batch-size", help="Poses generated per batch."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | mps."),
    pose_backend: str = typer.Option("auto", "--pose-backend",
        help="For a folder of frames: auto | openpose | mediapipe."),
    pose_weights: Optional[Path] = typer.Option(None, "--pose-weights", help="OpenPose body weights."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Animate the person of --image through the poses of --poses, one frame per pose."""
    from pg2cli.errors import UsageError
    from pg2cli.infer import animate_file

    if stage not in (None, 1, 2):
        raise UsageError(f"--stage must be 1 or 2, got {stage}")
    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: expected >= 1")
    report = animate_file(run, image, poses, output, fps=fps, pose_size=parse_size(pose_size, "--pose-size"),
                          stage=stage, with_strip=strip, device=device, backend=pose_backend,
                          pose_weights=str(pose_weights) if pose_weights else None, batch_size=batch_size,
                          overwrite=overwrite)
    from rich.markup import escape

    con = out_console()
    extra = f", poses extracted by {report.pose_backend}" if report.pose_backend else ""
    con.print(f"animate: {report.frames} frames, stage {report.stage}{extra} -> {escape(str(report.output))}")
    if report.note:
        con.print(f"note: {escape(report.note)}")
    if report.skipped:
        con.print(f"[yellow]skipped {len(report.skipped)} pose(s)[/], e.g.:")
        for name, reason in report.skipped[:5]:
            con.print(f"  {escape(name)}: {escape(reason)}")
