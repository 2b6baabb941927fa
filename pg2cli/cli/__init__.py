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


# (command name, module in pg2cli.cli, function): the order of `pg2 --help`, the pipeline's order.
# The modules import only typer and the standard library; each command imports its core when it runs.
COMMANDS = (
    ("extract-pose", "extract_pose", "extract_pose_cmd"),
    ("make-pairs", "make_pairs", "make_pairs_cmd"),
    ("pack", "pack", "pack_cmd"),
    ("info", "info", "info_cmd"),
    ("show", "show", "show_cmd"),
    ("train", "train", "train_cmd"),
    ("eval", "eval", "eval_cmd"),
    ("generate", "generate", "generate_cmd"),
    ("animate", "animate", "animate_cmd"),
    ("demo-data", "demo_data", "demo_data_cmd"),
    ("quickstart", "quickstart", "quickstart_cmd"),
)


def _register() -> None:
    from importlib import import_module

    for name, module, function in COMMANDS:
        app.command(name)(getattr(import_module(f"pg2cli.cli.{module}"), function))


_register()


def _terminate(signum, frame) -> None:
    """SIGTERM (pre-emption, `kill`) ends a command like Ctrl-C: temporary outputs are removed, one line."""
    raise KeyboardInterrupt


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    app(prog_name="pg2")
