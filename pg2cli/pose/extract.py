"""Annotate a folder of images: resumable annotation CSV, OpenPose JSON per image, error report, shards.

The CSV is appended one flushed batch at a time, so a kill at any moment leaves every complete row valid;
a rerun drops a trailing partial line, skips the images that have a row and processes the rest.
A new CSV (or one replaced by `overwrite`) appears under its final name only with its first rows: a run
that reads no image leaves no header-only CSV behind, and an existing CSV is not touched until a row can be
appended to it.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pg2cli.errors import DataError, FormatError, UsageError
from pg2cli.formats import ANNOTATION_HEADER, format_annotation_row, write_openpose_json
from pg2cli.formats._text import decode_lines
from pg2cli.formats.annotations import ANNOTATION_WHAT, parse_annotation_lines
from pg2cli.formats.openpose import OpenPosePerson
from pg2cli.images import ImageError, list_images, read_image
from pg2cli.skeleton import NUM_KEYPOINTS

ERRORS_SUFFIX = ".errors.csv"


@dataclass
class ExtractResult:
    """What a run did. `errors` holds (name, reason) for each image that could not be read."""

    output: Path
    total: int = 0  # images in this shard
    already_done: int = 0  # rows found from an earlier run
    processed: int = 0  # rows written by this run
    with_person: int = 0  # of those, images where somebody was found
    errors: list[tuple[str, str]] = field(default_factory=list)
    errors_file: Path | None = None
    seconds: float = 0.0
    json_suffixed: list[str] = field(default_factory=list)  # images of this shard whose JSON keeps the suffix


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """'I/N' -> (I, N) with 0 <= I < N."""
    if value is None:
        return None
    try:
        i, n = (int(v) for v in value.split("/"))
    except ValueError:
        raise UsageError(f"--shard {value!r}: expected I/N, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {value!r}: expected 0 <= I < N")
    return i, n


def in_shard(name: str, shard: tuple[int, int] | None) -> bool:
    """Whether an image belongs to shard (I, N): a stable hash of its name, so it never moves as a folder grows."""
    return shard is None or zlib.crc32(name.encode("utf-8", "surrogateescape")) % shard[1] == shard[0]


def printable_name(name: str) -> str:
    """A file name as text that can be printed and written to UTF-8 files (undecodable bytes as \\xNN)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def unusable_name(name: str) -> str | None:
    """Why an image's name cannot be a row of the annotation CSV (which keeps UTF-8 names on one line, with no
    surrounding spaces), or None."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename the file"
    if name != name.strip():
        return "file name starts or ends with a space, which the annotation CSV cannot hold; rename the file"
    if len((name + "x").splitlines()) > 1:
        return "file name contains a line break, which the annotation CSV cannot hold; rename the file"
    return None


def torchrun_shard() -> tuple[int, int] | None:
    """(RANK, WORLD_SIZE) under torchrun with more than one process, else None."""
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return None
    return (rank, world) if world > 1 else None


def rank_output(path: Path, rank: int) -> Path:
    """Per-rank output under torchrun: annotations.csv -> annotations.rank0.csv."""
    return path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


def errors_path(output: Path) -> Path:
    """Where the unreadable images of a run are listed: <output>.errors.csv."""
    return output.with_name(output.name + ERRORS_SUFFIX)


def json_path(json_dir: Path, name: str, keep_suffix: bool = False) -> Path:
    """OpenPose's naming: <json_dir>/<folders>/<stem>_keypoints.json; with `keep_suffix`,
    <folders>/<stem><suffix>_keypoints.json (for images whose stem another image shares, see `json_names`)."""
    rel = Path(name)
    return json_dir / rel.parent / f"{rel.name if keep_suffix else rel.stem}_keypoints.json"


def json_names(names: list[str]) -> set[str]:
    """The images, of a folder's full listing, whose JSON must keep the suffix: x.png and x.jpg side by side
    would both be x_keypoints.json, so they become x.png_keypoints.json and x.jpg_keypoints.json; every other
    image keeps OpenPose's x_keypoints.json.

    Decided from the whole folder, never from a shard or the images left by a resumed run, so an image's JSON
    name does not depend on which images a run processes. Names are compared case-insensitively (on macOS and
    Windows X_keypoints.json and x_keypoints.json are one file). Repeated until no two names meet, for the
    odd folder where a kept suffix meets another image's stem (x.png beside x.jpg and x.png.jpg).
    """
    keys = {name: posixpath.splitext(name)[0].casefold() for name in names}  # json_path's, less the ending
    keep: set[str] = set()
    while True:
        count = Counter(keys.values())
        if len(count) == len(keys):  # (the usual folder: every stem its own)
            return keep
        more = [n for n, key in keys.items() if count[key] > 1 and n not in keep]
        if not more:  # only names that already keep their suffix meet (X.png and x.png): nothing left to do
            return keep
        keep.update(more)
        keys.update((n, n.casefold()) for n in more)


def _names_in(output: Path, complete: bytes) -> set[str]:
    """The image names of an annotation CSV's complete lines `complete` (errors name `output`)."""
    return set(parse_annotation_lines(decode_lines(complete, output, ANNOTATION_WHAT), output).names)


def _complete_row(output: Path, tail: bytes) -> bool:
    """Whether the text after a CSV's last line end is a whole, valid row (a file whose last line has no line
    end), rather than a row cut short by a kill. A cut row never parses: it ends inside its last list."""
    try:
        return len(parse_annotation_lines([ANNOTATION_HEADER, tail.decode("utf-8")], output)) == 1
    except (UnicodeDecodeError, FormatError):
        return False


class _Table:
    """The annotation CSV of a run, opened only when there is a first row to write.

    Resuming: the names it holds are read now; a partial last line (a kill in the middle of a write) is cut
    off just before the first new row is appended, so a run that writes nothing leaves the file byte for byte.
    Fresh (no CSV yet, or `overwrite`): the header and the first rows are written under a temporary name
    (pg2cli.fileio) and renamed into place, replacing the old file only then; later rows are appended.
    A file that is not an annotation CSV is refused rather than appended to.
    """

    def __init__(self, output: Path, overwrite: bool):
        from pg2cli.fileio import remove_stale_partials

        self.output, self.file, self.cut, self.newline = output, None, None, False
        self.done: set[str] = set()
        header = ANNOTATION_HEADER.encode()
        if not overwrite and output.exists() and output.stat().st_size > 0:
            data = output.read_bytes()
            cut = data.rfind(b"\n") + 1  # everything after the last line end is a partial row...
            if cut and data.split(b"\n", 1)[0].rstrip(b"\r") == header:
                if cut < len(data) and _complete_row(output, data[cut:]):
                    cut, self.newline = len(data), True  # ...unless it is a whole row without its line end
                self.cut = cut
                self.done = _names_in(output, data[:cut])  # the file itself is cut only when a row is added
                remove_stale_partials(output)  # e.g. of an --overwrite run killed before its first rows
                return
            if cut or not header.startswith(data):  # (part of a header alone: a run killed as it started)
                raise DataError(f"{output}: exists and is not an annotation CSV (header {ANNOTATION_HEADER!r}); "
                                "pass --overwrite to replace it or choose another -o")
        output.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(output)  # a fresh run killed before its first rows were renamed into place

    @property
    def fresh(self) -> bool:
        return self.cut is None

    def write(self, lines: list[str]) -> None:
        """Append rows, on disk (fsynced) before this returns."""
        if self.file is None:
            if self.fresh:
                self._create("".join(lines))
                return
            if self.cut < self.output.stat().st_size:
                with open(self.output, "rb+") as raw:
                    raw.truncate(self.cut)
            self.file = open(self.output, "a", encoding="utf-8", newline="\n")
            if self.newline:  # the last row had no line end (a file written by another tool)
                self.file.write("\n")
        self.file.write("".join(lines))  # one write per batch, then on disk before the next one
        self.file.flush()
        os.fsync(self.file.fileno())

    def _create(self, rows: str) -> None:
        from pg2cli.fileio import write_text_atomic

        write_text_atomic(self.output, ANNOTATION_HEADER + "\n" + rows, overwrite=True)
        self.file = open(self.output, "a", encoding="utf-8", newline="\n")

    def close(self, keep_empty: bool) -> None:
        """Close; a fresh CSV that got no row is written header-only if `keep_empty`, else not at all."""
        if self.file is None and self.fresh and keep_empty:
            self._create("")
        if self.file is not None:
            self.file.close()


def _read_batches(root: Path, names: list[str], batch: int, workers: int = 2
                  ) -> Iterator[list[tuple[str, np.ndarray | None, str | None]]]:
    """Batches of (name, image or None, error reason or None), decoded in threads one batch ahead."""
    def load(name: str):
        if "\n" in name or "\r" in name:
            return name, None, "the file name contains a line break (not allowed in the CSV)"
        try:
            return name, read_image(root / name), None  # names come from list_images: inside root
        except ImageError as e:
            return name, None, e.reason

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = None
        for lo in range(0, len(names) + batch, batch):
            nxt = [pool.submit(load, n) for n in names[lo:lo + batch]] if lo < len(names) else None
            if pending is not None:
                yield [f.result() for f in pending]
            pending = nxt
            if nxt is None:
                break


def _fatal(e: Exception) -> bool:
    """Errors that concern the run, not one image: out of memory (host or GPU)."""
    return isinstance(e, MemoryError) or "out of memory" in str(e).lower()


def _detect(backend, good: list[tuple[str, np.ndarray]], errors: list[tuple[str, str]]
            ) -> list[tuple[str, list[OpenPosePerson]]]:
    """Detect a batch; if it fails, retry image by image so that one odd image (say 1 px wide) is only skipped."""
    if not good:
        return []
    try:
        return list(zip([n for n, _ in good], backend.detect([im for _, im in good])))
    except Exception as e:  # noqa: BLE001 - OpenCV, torch and MediaPipe raise plain Exceptions
        if _fatal(e):
            raise
    out = []
    for name, im in good:
        try:
            out.append((name, backend.detect([im])[0]))
        except Exception as e:  # noqa: BLE001
            if _fatal(e):
                raise
            errors.append((name, f"pose detection failed on this image ({type(e).__name__}: {str(e)[:100]})"))
    return out


def extract_poses(images_dir: str | os.PathLike, output: str | os.PathLike, backend,
                  json_dir: str | os.PathLike | None = None, batch_size: int = 16,
                  shard: tuple[int, int] | None = None, overwrite: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> ExtractResult:
    """Write one annotation row per readable image of `images_dir` (recursively) into `output`.

    Resumes an existing `output` (only images without a row are processed) unless `overwrite`.
    Unreadable images are skipped and listed in `<output>.errors.csv` (name,reason). The best person
    goes to the CSV (all -1 when nobody), every person to `json_dir` (named by `json_path`, with the suffix kept
    for the images `json_names` picks from the whole folder). `shard` = (I, N) takes a stable
    1/N of the images. `progress(done, total)` is called after every batch.
    Raises DataError when the folder has no image or none of the images to process could be read; then a
    new CSV is not created and an existing one is left as it was (`overwrite` too).
    """
    start = time.perf_counter()
    root, output = Path(images_dir), Path(output)
    every = list_images(root)
    if not every:
        raise DataError(f"{root}: no images found (expected .jpg, .jpeg, .png, .bmp or .webp files, in subfolders too)")
    names = [n for n in every if in_shard(n, shard)]
    result = ExtractResult(output=output, total=len(names))
    table = _Table(output, overwrite)
    todo = [n for n in names if n not in table.done]
    result.already_done = len(names) - len(todo)
    bad_names = [(n, unusable_name(n)) for n in todo]
    result.errors += [(printable_name(n), why) for n, why in bad_names if why]
    todo = [n for n, why in bad_names if not why]
    jdir = Path(json_dir) if json_dir is not None else None
    keep_suffix = json_names(every) if jdir is not None else set()  # the whole folder: same names in every shard
    result.json_suffixed = [n for n in names if n in keep_suffix]
    empty = np.full((NUM_KEYPOINTS, 2), np.nan, np.float32)
    completed = True
    try:
        if progress:
            progress(0, len(todo))
        finished = 0
        for batch in _read_batches(root, todo, batch_size):
            good = [(n, im) for n, im, _ in batch if im is not None]
            result.errors += [(n, reason) for n, im, reason in batch if im is None]
            lines = []
            for name, found in _detect(backend, good, result.errors):
                if jdir is not None:
                    write_openpose_json(json_path(jdir, name, name in keep_suffix), found, overwrite=True)
                lines.append(format_annotation_row(name, found[0].keypoints if found else empty) + "\n")
                result.with_person += bool(found)
            if lines:
                table.write(lines)
            result.processed += len(lines)
            finished += len(batch)
            if progress:
                progress(finished, len(todo))
    except BaseException:  # interrupted, out of memory: the rows written so far stay (resumable)
        table.close(keep_empty=False)
        completed = False
        raise
    else:
        nothing_read = bool(result.errors) and result.processed == 0 and result.already_done == 0
        table.close(keep_empty=not nothing_read)  # an empty shard still gives a valid, header-only CSV
    finally:
        result.seconds = time.perf_counter() - start
        _write_errors(output, result, finished=completed)
    if nothing_read:
        raise DataError(f"{root}: none of the {len(bad_names)} images could be read "
                        f"(first: {result.errors[0][0]}: {result.errors[0][1]}); see {result.errors_file}")
    return result


def _write_errors(output: Path, result: ExtractResult, finished: bool = True) -> None:
    """List this run's unreadable images beside the CSV; remove a stale list when a finished run read all."""
    from pg2cli.fileio import write_text_atomic

    path = errors_path(output)
    if result.errors:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("name", "reason"))
        writer.writerows(result.errors)
        result.errors_file = write_text_atomic(path, buf.getvalue(), overwrite=True)
    elif finished and (result.processed or result.already_done):
        path.unlink(missing_ok=True)  # (an interrupted run may not have reached the files listed there)
