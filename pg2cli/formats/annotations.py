"""The annotation CSV of Deformable GAN / PATN / PG² ports: `name:keypoints_y:keypoints_x`, y first, -1 missing."""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from pg2cli.errors import FormatError
from pg2cli.fileio import atomic_output
from pg2cli.formats._text import read_lines
from pg2cli.skeleton import NUM_KEYPOINTS

ANNOTATION_HEADER = "name:keypoints_y:keypoints_x"
MISSING = -1


@dataclass
class Annotations:
    """Rows of an annotation file: names and keypoints [N, 18, 2] float32 (x, y), NaN = missing."""

    names: list[str]
    keypoints: np.ndarray  # [N, 18, 2]
    sources: list[str] = field(default_factory=list)  # the file each row came from (same length, or empty)

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 2)
        if len(self.names) != len(self.keypoints):
            raise ValueError(f"{len(self.names)} names but {len(self.keypoints)} keypoint rows")

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        return iter(zip(self.names, self.keypoints))

    def index(self) -> dict[str, int]:
        """Row number of each name."""
        return {n: i for i, n in enumerate(self.names)}

    def get(self, name: str) -> np.ndarray | None:
        i = self.index().get(name)
        return None if i is None else self.keypoints[i]


def _parse_list(raw: str, path: Path, lineno: int, column: str) -> list[int]:
    try:
        values = json.loads(raw)
    except ValueError:  # JSONDecodeError, or an integer literal above Python's 4300-digit limit
        raise FormatError(path, f"{column} is not a JSON list: {raw.strip()[:60]!r}", lineno) from None
    if not isinstance(values, list):
        raise FormatError(path, f"{column} is not a JSON list: {raw.strip()[:60]!r}", lineno)
    if len(values) != NUM_KEYPOINTS:
        raise FormatError(path, f"{column} has {len(values)} values, expected {NUM_KEYPOINTS}", lineno)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not abs(v) < 2**31:  # NaN, inf, overflow
            raise FormatError(path, f"{column} holds {v!r:.30}, expected integers (-1 = missing)", lineno)
        if v < 0 and v != MISSING:
            raise FormatError(path, f"{column} holds {v}, expected a coordinate >= 0 or -1 for missing", lineno)
        out.append(v)
    return out


_INT_LIST_CHARS = frozenset("0123456789-, ")
_LEADING_ZERO = re.compile(r"(?<![0-9])0[0-9]")


def _fast_keypoints(ys: list[str], xs: list[str]) -> np.ndarray | None:
    """Keypoints [N, 18, 2] of well-formed rows (integer lists of 18, >= -1) parsed all at once, or None if any
    row is not plainly well-formed (the caller then parses row by row, which names the bad line).

    Accepts exactly what the row parser accepts among lists of plain integers: JSON's whitespace around the
    list and between values, no leading zeros, no '+' or stray '-', 18 values in every list.
    """
    inner = []
    for raw in ys + xs:
        s = raw.strip(" \t\r\n")  # JSON's whitespace only (str.strip would also drop e.g. a no-break space)
        if len(s) < 2 or s[0] != "[" or s[-1] != "]":
            return None
        body = s[1:-1]
        if body.count(",") != NUM_KEYPOINTS - 1:
            return None
        inner.append(body)
    text = ",".join(inner)
    if not _INT_LIST_CHARS.issuperset(text) or "- " in text:
        return None
    compact = "," + text.replace(" ", "") + ","
    # an empty field, a lone or trailing minus (NumPy would read 0), or a leading zero (JSON refuses "05", "-01")
    if ",," in compact or "-," in compact or _LEADING_ZERO.search(compact):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy warns (here: raises) when the text does not parse to its end
        try:
            values = np.fromstring(text, dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):  # "1 2", "--1", "5-"
            return None
    if values.size != 2 * NUM_KEYPOINTS * len(ys) or (values < MISSING).any() or (values >= 2**31).any():
        return None
    v = values.reshape(2, len(ys), NUM_KEYPOINTS)
    kp = np.stack([v[1], v[0]], axis=-1).astype(np.float32)  # (x, y)
    kp[(v[0] == MISSING) | (v[1] == MISSING)] = np.nan
    return kp


def _read_fast(path: Path, lines: list[str]) -> Annotations | None:
    """The whole file at once when every row is plainly well-formed and names are unique, else None."""
    body = [line for line in lines[1:] if line.strip()]
    parts = [line.rsplit(":", 2) for line in body]
    if any(len(p) != 3 for p in parts):
        return None
    names = [p[0].strip() for p in parts]
    if not all(names) or len(set(names)) != len(names):
        return None
    kp = _fast_keypoints([p[1] for p in parts], [p[2] for p in parts])
    if kp is None:
        return None
    return Annotations(names, kp.reshape(-1, NUM_KEYPOINTS, 2), [str(path)] * len(names))


ANNOTATION_WHAT = "an annotation CSV with header " + ANNOTATION_HEADER


def read_annotations(path: str | os.PathLike) -> Annotations:
    """Read an annotation CSV. Any malformed row raises FormatError naming the file and line."""
    path = Path(path)
    return parse_annotation_lines(read_lines(path, ANNOTATION_WHAT), path)


def parse_annotation_lines(lines: list[str], path: str | os.PathLike) -> Annotations:
    """The rows of an annotation CSV's lines (the header first); errors name `path` and the line."""
    path = Path(path)
    header = lines[0].strip()
    if header != ANNOTATION_HEADER:
        raise FormatError(path, f"header is {header[:60]!r}, expected {ANNOTATION_HEADER!r}", 1)
    fast = _read_fast(path, lines)
    if fast is not None:
        return fast
    names: list[str] = []
    kps: list[np.ndarray] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.rsplit(":", 2)
        if len(parts) != 3:
            raise FormatError(path, f"{len(parts)} ':'-separated fields, expected 3 (name:keypoints_y:keypoints_x)", lineno)
        name = parts[0].strip()
        if not name:
            raise FormatError(path, "empty image name", lineno)
        if name in seen:
            raise FormatError(path, f"duplicate name {name!r} (first on line {seen[name]})", lineno)
        seen[name] = lineno
        ys = _parse_list(parts[1], path, lineno, "keypoints_y")
        xs = _parse_list(parts[2], path, lineno, "keypoints_x")
        kp = np.full((NUM_KEYPOINTS, 2), np.nan, dtype=np.float32)
        for k, (y, x) in enumerate(zip(ys, xs)):
            if y != MISSING and x != MISSING:
                kp[k] = (x, y)
        names.append(name)
        kps.append(kp)
    arr = np.stack(kps) if kps else np.zeros((0, NUM_KEYPOINTS, 2), np.float32)
    return Annotations(names, arr, [str(path)] * len(names))


def _to_int_list(values: np.ndarray) -> list[int]:
    return [MISSING if not np.isfinite(v) else int(round(float(v))) for v in values]


def format_annotation_row(name: str, keypoints: np.ndarray) -> str:
    """One CSV line (no line end) for keypoints [18, 2] (x, y), NaN = missing."""
    if len((name + "x").splitlines()) > 1:
        raise ValueError(f"image name {name!r} contains a line break")
    kp = np.asarray(keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 2)
    missing = ~np.isfinite(kp).all(axis=1)
    kp = kp.copy()
    kp[missing] = np.nan
    return f"{name}: {json.dumps(_to_int_list(kp[:, 1]))}: {json.dumps(_to_int_list(kp[:, 0]))}"


def write_annotations(path: str | os.PathLike, rows: Annotations | Iterable[tuple[str, np.ndarray]],
                      overwrite: bool = False) -> Path:
    """Write an annotation CSV atomically."""
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(ANNOTATION_HEADER + "\n")
            for name, kp in rows:
                f.write(format_annotation_row(name, kp) + "\n")
    return Path(path)
