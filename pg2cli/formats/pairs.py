"""The pairs CSV: header `from,to`, one (condition image, target image) pair per line."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Iterable

from pg2cli.errors import FormatError
from pg2cli.fileio import atomic_output
from pg2cli.formats._text import read_lines

PAIRS_HEADER = ("from", "to")


def read_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a pairs CSV (`from,to`; a leading unnamed index column, as pandas writes it, is accepted)."""
    path = Path(path)
    lines = read_lines(path, "a pairs CSV with header from,to")
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    header = [h.strip() for h in rows[0]]
    if header == list(PAIRS_HEADER):
        first = 0
    elif len(header) == 3 and header[1:] == list(PAIRS_HEADER) and header[0] in ("", "index"):
        first = 1
    else:
        raise FormatError(path, f"header is {','.join(header)[:60]!r}, expected 'from,to'", 1)
    pairs: list[tuple[str, str]] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != 2 + first:
            raise FormatError(path, f"{len(row)} comma-separated fields, expected {2 + first}", lineno)
        a, b = row[first].strip(), row[first + 1].strip()
        if not a or not b:
            raise FormatError(path, "empty image name", lineno)
        pairs.append((a, b))
    return pairs


def write_pairs(path: str | os.PathLike, pairs: Iterable[tuple[str, str]], overwrite: bool = False) -> Path:
    """Write a pairs CSV atomically."""
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(PAIRS_HEADER)
            w.writerows(pairs)
    return Path(path)
