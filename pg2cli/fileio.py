"""Atomic outputs: write under a temporary name beside the target, rename into place on success."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pg2cli.errors import OutputExistsError


def check_output(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing output unless `overwrite`; return it as a Path."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    return path


def temp_name(path: Path) -> Path:
    """The hidden temporary name `path` is written under (same folder, same suffix)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_partials(path: Path) -> list[Path]:
    """Remove temporary files of `path` left by a killed writer (their process is gone); return them.

    A writer killed with SIGKILL cannot clean up after itself; the next writer of the same output does.
    """
    removed = []
    prefix = f".{path.stem}.partial-"
    if not path.parent.is_dir():
        return removed
    for cand in path.parent.glob(f"{prefix}*{path.suffix}"):
        pid = cand.name[len(prefix):len(cand.name) - len(path.suffix) if path.suffix else None]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            cand.unlink(missing_ok=True)
            removed.append(cand)
    return removed


@contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to `path`, on any failure remove it.

    A crash at any moment leaves either the old file or nothing under the final name, never half a file.
    """
    path = check_output(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = False) -> Path:
    """Write a whole text file atomically (UTF-8, '\\n' line ends)."""
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)
