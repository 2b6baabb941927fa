"""The `pg2` command line: a Typer app whose commands import their heavy dependencies only when run."""

from __future__ import annotations

import typer

from pg2cli import __version__

app = typer.Typer(
    name="pg2",
    help="Pose Guided Person Image Generation (PG², Ma et al. NIPS 2017): photos -> poses -> pairs -> "
    "HDF5 -> trained generator -> metrics and new images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pg2 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Pose Guided Person Image Generation (PG²)."""


def _register() -> None:
    from pg2cli.cli.make_pairs import make_pairs_cmd

    app.command("make-pairs")(make_pairs_cmd)


_register()


def main() -> None:
    app(prog_name="pg2")
