"""What every command shares: the error boundary (Pg2Error -> one line + exit code) and the consoles."""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer

from pg2cli.errors import Pg2Error, UsageError

F = TypeVar("F", bound=Callable)


def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def out_console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> None:
    """Print `error: message` on one line to stderr and exit with `code`."""
    from rich.markup import escape

    err_console().print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def command(fn: F) -> F:
    """Wrap a command so pg2cli's own errors become one line on stderr and their exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Pg2Error as e:
            fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            fail("interrupted; outputs that were not finished were not written", 130)
        except MemoryError:
            fail("out of memory; try a smaller --batch-size", 1)

    return wrapper  # type: ignore[return-value]


def parse_size(value: str | None, option: str = "--size") -> tuple[int, int] | None:
    """'128x64' -> (128, 64) as (height, width)."""
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
        if h <= 0 or w <= 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected HxW, e.g. 128x64") from None
    return h, w


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
