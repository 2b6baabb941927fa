"""Annotate a folder of images: resumable annotation CSV, OpenPose JSON per image, error report, shards.

The CSV is appended one flushed batch at a time, so a kill at any moment leaves every complete row valid;
a rerun drops a trailing partial line, skips the images that have a row and processes the rest.
"""

from __future__ import annotations

import csv
import io
import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TextIO

import numpy as np

from pg2cli.errors import DataError, UsageError
from pg2cli.formats import ANNOTATION_HEADER, format_annotation_row, read_annotations, write_openpose_json
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
    return shard is None or zlib.crc32(name.encode("utf-8")) % shard[1] == shard[0]


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


def json_path(json_dir: Path, name: str) -> Path:
    """OpenPose's naming: <json_dir>/<folders>/<stem>_keypoints.json."""
    rel = Path(name)
    return json_dir / rel.parent / f"{rel.stem}_keypoints.json"


def _open_for_resume(output: Path, overwrite: bool) -> tuple[set[str], TextIO]:
    """Open the CSV for appending and return the names it already holds.

    A partial last line (a kill in the middle of a write) is cut off; a file that is not an annotation
    CSV is refused rather than appended to.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    header = ANNOTATION_HEADER.encode()
    if not overwrite and output.exists() and output.stat().st_size > 0:
        data = output.read_bytes()
        cut = data.rfind(b"\n") + 1  # everything after the last line end is a partial row
        if cut and data.split(b"\n", 1)[0].rstrip(b"\r") == header:
            if cut < len(data):
                with open(output, "rb+") as raw:
                    raw.truncate(cut)
            return set(read_annotations(output).names), open(output, "a", encoding="utf-8", newline="\n")
        if cut or not header.startswith(data):  # (part of a header alone: a run killed as it started)
            raise DataError(f"{output}: exists and is not an annotation CSV (header {ANNOTATION_HEADER!r}); "
                            "pass --overwrite to replace it or choose another -o")
    f = open(output, "w", encoding="utf-8", newline="\n")
    f.write(ANNOTATION_HEADER + "\n")
    f.flush()
    return set(), f


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
    goes to the CSV (all -1 when nobody), every person to `json_dir`. `shard` = (I, N) takes a stable
    1/N of the images. `progress(done, total)` is called after every batch.
    Raises DataError when the folder has no image or none of the images to process could be read.
    """
    start = time.perf_counter()
    root, output = Path(images_dir), Path(output)
    every = list_images(root)
    if not every:
        raise DataError(f"{root}: no images found (expected .jpg, .jpeg, .png, .bmp or .webp files, in subfolders too)")
    names = [n for n in every if in_shard(n, shard)]
    result = ExtractResult(output=output, total=len(names))
    done, table = _open_for_resume(output, overwrite)
    todo = [n for n in names if n not in done]
    result.already_done = len(names) - len(todo)
    jdir = Path(json_dir) if json_dir is not None else None
    empty = np.full((NUM_KEYPOINTS, 2), np.nan, np.float32)
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
                    write_openpose_json(json_path(jdir, name), found, overwrite=True)
                lines.append(format_annotation_row(name, found[0].keypoints if found else empty) + "\n")
                result.with_person += bool(found)
            table.write("".join(lines))  # one write per batch, then on disk before the next one
            table.flush()
            os.fsync(table.fileno())
            result.processed += len(lines)
            finished += len(batch)
            if progress:
                progress(finished, len(todo))
    finally:
        table.close()
        result.seconds = time.perf_counter() - start
        _write_errors(output, result)
    if result.errors and result.processed == 0 and result.already_done == 0:
        raise DataError(f"{root}: none of the {len(todo)} images could be read "
                        f"(first: {result.errors[0][0]}: {result.errors[0][1]}); see {result.errors_file}")
    return result


def _write_errors(output: Path, result: ExtractResult) -> None:
    """List this run's unreadable images beside the CSV; remove a stale list when all were read."""
    from pg2cli.fileio import write_text_atomic

    path = errors_path(output)
    if result.errors:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("name", "reason"))
        writer.writerows(result.errors)
        result.errors_file = write_text_atomic(path, buf.getvalue(), overwrite=True)
    elif result.processed or result.already_done:
        path.unlink(missing_ok=True)
