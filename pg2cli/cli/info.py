"""`pg2 info`: the schema, counts, parameters and sizes of a packed HDF5 file."""

from __future__ import annotations

from pathlib import Path

import typer

from pg2cli.cli._common import command, out_console


@command
def info_cmd(
    path: Path = typer.Argument(..., help="Packed HDF5 file (made by `pg2 pack`)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Show what a packed file holds: schema, counts, pose-map and mask parameters, sources and sizes."""
    import json

    from pg2cli.data.schema import inspect_packed

    info = inspect_packed(path)
    if as_json:
        out = {"path": str(info.path), "schema_version": info.schema_version, "height": info.height,
               "width": info.width, "num_images": info.num_images, "num_pairs": info.num_pairs,
               "pose_map": info.pose_map, "pose_radius": info.pose_radius, "pose_sigma": info.pose_sigma,
               "pose_dtype": info.pose_dtype, "mask_radius": info.mask_radius, "mask_closing": info.mask_closing,
               "fingerprint": info.fingerprint, "file_bytes": info.file_bytes,
               "datasets": {k: {**v, "shape": list(v["shape"]), "chunks": list(v["chunks"] or [])}
                            for k, v in info.datasets.items()},
               "attrs": info.attrs}
        typer.echo(json.dumps(out, indent=2, default=str))
        return

    from rich.markup import escape
    from rich.table import Table

    con = out_console()
    t = Table(title=escape(str(info.path)), show_header=False, title_justify="left")
    t.add_row("schema", f"{info.attrs.get('schema')} v{info.schema_version} (pg2cli {info.attrs.get('pg2cli_version', '?')})")
    t.add_row("images", f"{info.num_images:,} at {info.height}x{info.width}")
    t.add_row("pairs", f"{info.num_pairs:,}")
    param = f"radius {info.pose_radius:g}" if info.pose_map == "disc" else f"sigma {info.pose_sigma:g}"
    t.add_row("pose maps", f"{info.pose_map} ({param}), stored as {info.pose_dtype}")
    t.add_row("pose mask", f"radius {info.mask_radius}, {info.mask_closing}x{info.mask_closing} closing")
    t.add_row("file size", f"{info.file_bytes / 1e6:,.1f} MB ({info.file_bytes / max(info.num_images, 1) / 1e3:,.1f} kB per image)")
    t.add_row("fingerprint", info.fingerprint)
    for key in ("source_images", "source_annotations", "source_pairs", "created", "left_out"):
        if info.attrs.get(key) not in (None, "", "{}"):
            t.add_row(key.replace("_", " "), escape(str(info.attrs[key])))
    con.print(t)
    d = Table(title="datasets", title_justify="left")
    for col in ("name", "shape", "dtype", "chunks", "compression", "stored"):
        d.add_column(col)
    for name, v in info.datasets.items():
        comp = f"{v['compression']} {v['compression_opts']}" if v["compression"] else "none"
        d.add_row(name, "x".join(map(str, v["shape"])), v["dtype"], "x".join(map(str, v["chunks"] or ())),
                  comp, f"{v['stored_bytes'] / 1e6:,.2f} MB")
    con.print(d)
