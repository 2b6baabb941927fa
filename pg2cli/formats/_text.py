"""Shared helpers for line-oriented formats: open a text file with clear errors."""

from __future__ import annotations

from pathlib import Path

from pg2cli.errors import DataError, FormatError


def read_lines(path: str | Path, what: str) -> list[str]:
    """All lines of a UTF-8 text file (without line ends); errors name the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file (expected {what})")
    if path.is_dir():
        raise DataError(f"{path}: is a folder (expected {what})")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    return decode_lines(data, path, what)


def decode_lines(data: bytes, path: str | Path, what: str) -> list[str]:
    """The lines of UTF-8 text (a BOM allowed) held in memory, as `read_lines` gives them for `path`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(path, f"not UTF-8 text (expected {what}): {e.reason} at byte {e.start}") from None
    lines = text.splitlines()
    if not lines or not any(line.strip() for line in lines):
        raise FormatError(path, f"empty file (expected {what})")
    return lines
