"""`pg2 show`: a contact sheet PNG of samples or pairs, from a packed file or from images + annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pg2cli.cli._common import command, out_console, parse_size


@command
def show_cmd(
    packed: Optional[Path] = typer.Argument(None, help="Packed HDF5 file (or use --images and --annotations)."),
    output: Path = typer.Option(..., "-o", "--output", help="PNG to write."),
    images: Optional[Path] = typer.Option(None, "--images", help="Image folder (instead of a packed file)."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", help="Annotation CSV for --images."),
    pairs_file: Optional[Path] = typer.Option(None, "--pairs-file", help="Pairs CSV for --images (implies --pairs)."),
    n: int = typer.Option(16, "-n", "--num", help="Number of samples (or pairs) to show."),
    pairs: bool = typer.Option(False, "--pairs", help="Show source/target pairs instead of single samples."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Draw the samples at random with this seed (default: the first N)."),
    size: Optional[str] = typer.Option(None, "--size", help="Fit images to HxW (--images only; default: the first image's size)."),
    pose_map: str = typer.Option("disc", "--pose-map", help="disc | gaussian (--images only)."),
    columns: Optional[int] = typer.Option(None, "--columns", help="Cells per row (default: about square)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing PNG."),
) -> None:
    """Draw image, skeleton, coloured pose map and mask per sample (or source, target, target pose and mask per
    pair) into one PNG, to look at data before training on it."""
    from pg2cli.data.contact import check_show_inputs, contact_sheet_files, contact_sheet_packed
    from pg2cli.errors import UsageError
    from pg2cli.fileio import check_output
    from pg2cli.images import write_image

    check_show_inputs(packed, images, annotations)
    if n < 1:
        raise UsageError(f"-n {n}: expected at least 1")
    check_output(output, overwrite)
    if packed is not None:
        sheet = contact_sheet_packed(packed, n, pairs=pairs, seed=seed, columns=columns)
    else:
        if pairs and pairs_file is None:
            raise UsageError("--pairs with --images needs --pairs-file P.csv")
        sheet = contact_sheet_files(images, annotations, n, pairs_file=pairs_file, seed=seed,
                                    size=parse_size(size), pose_map=pose_map, columns=columns)
    write_image(output, sheet, overwrite=overwrite)
    out_console().print(f"wrote {output} ({sheet.shape[1]}x{sheet.shape[0]})")
