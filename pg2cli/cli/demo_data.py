"""`pg2 demo-data`: a synthetic dataset of procedurally drawn people with exact keypoints (offline)."""

from __future__ import annotations

from pathlib import Path

import typer

from pg2cli.cli._common import command, out_console, parse_size


@command
def demo_data_cmd(
    out: Path = typer.Argument(..., help="Folder to write: images/*.png and annotations.csv."),
    people: int = typer.Option(40, "--people", help="Number of identities (each with its own look and background)."),
    poses: int = typer.Option(8, "--poses", help="Images per identity (walking, standing, arms raised, side views)."),
    size: str = typer.Option("128x64", "--size", help="Image size HxW (Market-1501 is 128x64)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same images."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing images/ and annotations.csv."),
) -> None:
    """Draw synthetic people along a COCO-18 skeleton, with Market-1501-style names and exact annotations."""
    from rich.progress import Progress

    from pg2cli.data.demo import DemoOptions, make_demo_data

    opts = DemoOptions(people=people, poses=poses, size=parse_size(size), seed=seed)
    with Progress(transient=True, console=out_console()) as bar:
        task = bar.add_task("drawing", total=people * poses)
        result = make_demo_data(out, opts, overwrite=overwrite,
                                progress=lambda done, total: bar.update(task, completed=done))
    from collections import Counter

    views = ", ".join(f"{n} {v}" for v, n in sorted(Counter(result.views).items()))
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(Counter(result.kinds).items()))
    con = out_console()
    con.print(f"wrote {len(result.names)} images of {people} people ({opts.size[0]}x{opts.size[1]}) "
              f"to {result.images_dir}")
    con.print(f"poses: {kinds}; views: {views}")
    con.print(f"keypoints: {result.annotations}")
