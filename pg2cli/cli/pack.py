"""`pg2 pack`: images + annotations + pairs -> one self-describing HDF5 (images, pose maps, masks, pairs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pg2cli.cli._common import command, err_console, out_console, parse_size


@command
def pack_cmd(
    images: Path = typer.Option(..., "--images", help="Folder the annotation names are relative to."),
    annotations: Path = typer.Option(..., "--annotations", help="Annotation CSV (name:keypoints_y:keypoints_x)."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="Pairs CSV (from,to); stored as indices into images."),
    output: Path = typer.Option(..., "-o", "--output", help="HDF5 file to write."),
    pose_map: str = typer.Option("disc", "--pose-map", help="disc (PG²: solid discs) | gaussian (followers)."),
    radius: float = typer.Option(4.0, "--radius", help="Disc radius in pixels (--pose-map disc)."),
    sigma: float = typer.Option(6.0, "--sigma", help="Gaussian sigma in pixels (--pose-map gaussian)."),
    size: Optional[str] = typer.Option(None, "--size", help="Store every sample at HxW (resize + pad, keypoints "
                                       "moved too). Default: the images' own size, which must agree."),
    pose_dtype: str = typer.Option("uint8", "--pose-dtype", help="uint8 (value x 255) | float16 | float32."),
    compression: str = typer.Option("fast", "--compression", help="fast (gzip 1 for pose maps and masks, raw "
                                     "images) | small (gzip 6 for all) | none."),
    only_paired: bool = typer.Option(False, "--only-paired", help="Pack only images used by a pair (default: "
                                     "every annotated image with a readable file)."),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first row, pair or image that cannot be used."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (0: none; default: one per "
                                          "core for 512+ images)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Pack images, keypoints, pose maps, pose masks and pairs into one HDF5 file for training."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pg2cli.data.pack import PackOptions, pack
    from pg2cli.fileio import check_output

    opts = PackOptions(pose_map=pose_map, radius=radius, sigma=sigma, size=parse_size(size),
                       pose_dtype=pose_dtype, compression=compression,
                       only_paired=only_paired, strict=strict, workers=workers)
    opts.validate()
    check_output(output, overwrite)
    with Progress(TextColumn("packing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console(), transient=True) as bar:
        task = bar.add_task("pack", total=None)
        report = pack(images, annotations, pairs, output, opts, overwrite=overwrite,
                      progress=lambda done, total: bar.update(task, completed=done, total=total))

    from rich.markup import escape
    from rich.table import Table

    t = Table(title="pack", show_header=False, title_justify="left")
    t.add_row("annotation rows read", f"{report.rows_read:,}")
    t.add_row("pairs read", f"{report.pairs_read:,}")
    if report.not_paired:
        t.add_row("rows in no pair (--only-paired)", f"{report.not_paired:,}")
    for reason, n in report.left_out.items():
        examples = "; ".join(report.examples[reason][:3])
        t.add_row(f"[yellow]left out: {escape(reason)}[/]", f"{n:,}  (e.g. {escape(examples)})")
    t.add_row("images packed", f"{report.num_images:,} at {report.height}x{report.width}")
    t.add_row("pairs packed", f"{report.num_pairs:,}")
    t.add_row("pose maps", f"{opts.pose_map} ({'radius ' + str(opts.radius) if opts.pose_map == 'disc' else 'sigma ' + str(opts.sigma)}), {opts.pose_dtype}")
    per = report.file_bytes / max(report.num_images, 1)
    t.add_row("file", f"{escape(str(output))}: {report.file_bytes / 1e6:,.1f} MB ({per / 1e3:,.1f} kB per image)")
    t.add_row("time", f"{report.seconds:,.1f} s ({report.num_images / max(report.seconds, 1e-9):,.0f} images/s)")
    t.add_row("fingerprint", report.fingerprint)
    out_console().print(t)
