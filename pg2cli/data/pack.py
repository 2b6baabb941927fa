"""`pg2 pack`: images + annotation CSV + pairs CSV -> one self-describing HDF5 (schema in data/schema.py).

What is packed: every annotation row whose image file exists and reads (or, with `only_paired`, only rows that
some valid pair uses), in annotation order; `pairs` holds indices into that list. Rows, pairs and images that
cannot be used are left out and counted by reason (`strict` turns the first one into an error).

Speed: worker processes read, fit, render and deflate each sample; the parent writes the finished
one-sample chunks with `write_direct_chunk`, so HDF5 never compresses in the parent and memory stays flat (a
bounded number of batches in flight, whatever N). The file is written under a temporary name and renamed at
the end, so an interrupted pack leaves nothing under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pg2cli import __version__
from pg2cli._zlib import fast_zlib
from pg2cli.data.render import POSE_MAP_KINDS, fit_image, render_pose_maps, render_pose_mask
from pg2cli.data.schema import POSE_DTYPES, SCHEMA, SCHEMA_VERSION
from pg2cli.errors import DataError, UsageError
from pg2cli.fileio import atomic_output, check_output
from pg2cli.images import ImageError, read_image, resolve_under
from pg2cli.skeleton import KEYPOINT_NAMES, NUM_KEYPOINTS

# gzip level per dataset for each --compression choice (0 = stored raw). `fast`: photos barely deflate (about
# 0.8x at several times the read cost), the sparse pose maps and masks shrink 100x+ at level 1. Level 1 is
# written with ISA-L's deflate (pg2cli._zlib: 7x faster than zlib's and smaller here); both write standard zlib
# streams, which HDF5's gzip filter reads.
COMPRESSIONS: dict[str, dict[str, int]] = {
    "fast": {"images": 0, "pose_maps": 1, "masks": 1},
    "small": {"images": 6, "pose_maps": 6, "masks": 6},
    "none": {"images": 0, "pose_maps": 0, "masks": 0},
}
BATCH = 64  # samples per worker task: amortises inter-process overhead, bounds memory in flight
MAX_EXAMPLES = 5  # example names kept per problem reason

# Reasons an item is left out (keys of PackReport.left_out).
NO_FILE = "row: no image file"
ESCAPES = "row: image name escapes the image folder"
UNREADABLE = "row: unreadable image"
WRONG_SIZE = "row: image size differs (pass --size HxW to resize)"
PAIR_NO_ROW = "pair: image has no annotation row"
PAIR_NO_IMAGE = "pair: image has no usable file"


@dataclass(frozen=True)
class PackOptions:
    """How `pack` renders and stores samples. Defaults follow PG² (disc maps, radius 4; mask radius 4, 5x5)."""

    pose_map: str = "disc"  # disc (PG²) | gaussian (Deformable GAN / PATN / GFLA)
    radius: float = 4.0  # disc radius in px
    sigma: float = 6.0  # Gaussian sigma in px
    mask_radius: int = 4
    mask_closing: int = 5
    size: tuple[int, int] | None = None  # (H, W); None keeps the images' own size (they must agree)
    pose_dtype: str = "uint8"  # uint8 (value x 255) | float16 | float32
    compression: str = "fast"  # fast | small | none (see COMPRESSIONS)
    only_paired: bool = False  # pack only images that some valid pair uses
    strict: bool = False  # any left-out row, pair or image is an error
    workers: int | None = None  # worker processes; None = up to 8 (one per core) for 512+ images, else 0

    def validate(self) -> None:
        """Collect every bad option into one UsageError."""
        bad = []
        if self.pose_map not in POSE_MAP_KINDS:
            bad.append(f"--pose-map {self.pose_map!r}: expected one of {', '.join(POSE_MAP_KINDS)}")
        if not self.radius > 0:
            bad.append(f"--radius {self.radius}: expected a positive number of pixels")
        if not self.sigma > 0:
            bad.append(f"--sigma {self.sigma}: expected a positive number of pixels")
        if self.mask_radius < 1 or self.mask_closing < 1:
            bad.append("mask radius and closing must be >= 1")
        if self.pose_dtype not in POSE_DTYPES:
            bad.append(f"--pose-dtype {self.pose_dtype!r}: expected one of {', '.join(POSE_DTYPES)}")
        if self.compression not in COMPRESSIONS:
            bad.append(f"--compression {self.compression!r}: expected one of {', '.join(COMPRESSIONS)}")
        if self.workers is not None and self.workers < 0:
            bad.append(f"--workers {self.workers}: expected 0 or more")
        if bad:
            raise UsageError("; ".join(bad))


@dataclass
class PackReport:
    """What a pack did: counts, what was left out and why (with a few example names), size and time."""

    output: Path
    height: int
    width: int
    rows_read: int
    pairs_read: int
    num_images: int = 0
    num_pairs: int = 0
    not_paired: int = 0  # rows skipped by only_paired (not problems)
    left_out: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    file_bytes: int = 0
    seconds: float = 0.0
    fingerprint: str = ""

    def add(self, reason: str, example: str) -> None:
        """Count one left-out item under `reason`, keeping the first few examples."""
        self.left_out[reason] = self.left_out.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(example)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- per-sample work (runs in worker processes)

@dataclass(frozen=True)
class _Settings:
    root: str  # the image folder names are relative to
    size: tuple[int, int]
    resize: bool
    pose_map: str
    radius: float
    sigma: float
    pose_dtype: str
    mask_radius: int
    mask_closing: int
    levels: tuple[int, int, int]  # gzip level of images, pose maps, masks (0 = stored raw)


def _deflate(arr: np.ndarray, level: int) -> bytes:
    """The chunk bytes HDF5's deflate filter would store (a zlib stream), or the raw bytes for level 0."""
    raw = np.ascontiguousarray(arr).data
    if not level:
        return bytes(raw)
    if level == 1:
        return fast_zlib.compress(raw, 1)  # ISA-L level 1: a zlib stream like zlib's, made ~7x faster
    return zlib.compress(raw, level)


def _load(s: _Settings, name: str, keypoints: np.ndarray):
    """Find, read and fit one sample's image: (image, keypoints), or (reason, detail) when it cannot be used."""
    try:
        img = read_image(resolve_under(s.root, name, root_resolved=True))
    except ImageError as e:
        return (NO_FILE if e.reason == "no such file" else UNREADABLE), e.reason
    except DataError:
        return ESCAPES, "not a relative path inside the image folder"
    kp = np.asarray(keypoints, np.float32)
    if img.shape[:2] != s.size:
        if not s.resize:
            return WRONG_SIZE, f"{img.shape[0]}x{img.shape[1]}, expected {s.size[0]}x{s.size[1]}"
        img, kp = fit_image(img, kp, s.size)
    return img, kp


def encode_batch(s: _Settings, items: list[tuple[int, str, np.ndarray]]) -> list:
    """Read, fit, render and deflate a batch of (row, name, keypoints): per item (keypoints, image, pose maps,
    mask chunk bytes, image adler32), or (reason, detail) when its image cannot be used. Maps and masks of the
    whole batch are rendered in one vectorised call each (the same pixels as one by one)."""
    loaded = [_load(s, name, kp) for _, name, kp in items]
    good = [i for i, r in enumerate(loaded) if isinstance(r[0], np.ndarray)]
    out: list = list(loaded)
    if not good:
        return out
    kps = np.stack([loaded[i][1] for i in good])
    maps = render_pose_maps(kps, s.size, s.pose_map, s.radius, s.sigma, dtype=s.pose_dtype)  # [B, 18, H, W]
    masks = render_pose_mask(kps, s.size, s.mask_radius, s.mask_closing)  # [B, H, W]
    li, lp, lm = s.levels
    for j, i in enumerate(good):
        img = np.ascontiguousarray(loaded[i][0])
        out[i] = (kps[j], _deflate(img, li), _deflate(maps[j], lp), _deflate(masks[j], lm), zlib.adler32(img))
    return out


_WORKER_SETTINGS: _Settings | None = None


def _init_worker(settings: _Settings) -> None:
    import threading

    import cv2

    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings
    cv2.setNumThreads(1)  # one process per core already
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker once `parent` is gone: after a SIGKILL or OOM kill of pack, workers would otherwise wait
    forever on the result pipe nobody reads (orphans holding memory)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _encode_batch(items: list[tuple[int, str, np.ndarray]]) -> list:
    return encode_batch(_WORKER_SETTINGS, items)


@contextmanager
def _worker_pool(settings: _Settings, workers: int) -> Iterator:
    """A started process pool (None for `workers` 0). Open it before the HDF5 file so no worker inherits it."""
    if workers == 0:
        yield None
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # fork on Linux: a worker starts in milliseconds and does not re-run the caller's __main__ (spawn would, so
    # a script without an `if __name__ == "__main__":` guard would break). Workers only run encode_batch.
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    import cv2

    # OpenCV's own worker threads (alive once any parallel cv2 call ran in this process) do not survive a fork:
    # a child forked beside them hangs in its first cv2 call. Stop them while the workers are forked.
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(settings,)) as pool:
            for fut in [pool.submit(int) for _ in range(workers)]:
                fut.result()  # the workers exist now
            cv2.setNumThreads(cv_threads)
            yield pool
    finally:
        cv2.setNumThreads(cv_threads)


def _encoded(settings: _Settings, batches: Iterator[list], pool, workers: int) -> Iterator[tuple[list, list]]:
    """Yield (batch items, batch results) in input order; at most 3 batches per worker are in flight."""
    if pool is None:
        for b in batches:
            yield b, encode_batch(settings, b)
        return
    pending: deque = deque()
    try:
        for b in batches:
            pending.append((b, pool.submit(_encode_batch, b)))
            if len(pending) >= 3 * workers:
                break
        while pending:
            b, fut = pending.popleft()
            res = fut.result()
            nxt = next(batches, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_encode_batch, nxt)))
            yield b, res
    finally:
        for _, fut in pending:
            fut.cancel()


# ---------------------------------------------------------------- planning and writing (parent process)

def _plan(ann, pair_names: list[tuple[str, str]], only_paired: bool, report: PackReport):
    """Match pairs to annotation rows: (candidate rows, pairs as row numbers). Files are checked by the workers."""
    index = ann.index()
    pairs: list[tuple[int, int]] = []
    for a, b in pair_names:
        ra, rb = index.get(a), index.get(b)
        if ra is None or rb is None:
            report.add(PAIR_NO_ROW, f"{a},{b}: {a if ra is None else b}")
        else:
            pairs.append((ra, rb))
    rows = range(len(ann))
    if only_paired:
        used = {r for p in pairs for r in p}
        report.not_paired = len(ann) - len(used)
        rows = sorted(used)
    return list(rows), pairs


def _raise_strict(report: PackReport) -> None:
    if report.left_out:
        reason = next(iter(report.left_out))
        total = sum(report.left_out.values())
        raise DataError(f"--strict: {total} item(s) cannot be packed; first: {reason}: {report.examples[reason][0]}"
                        + (f" (and {total - 1} more)" if total > 1 else ""))


def _first_size(images: Path, names: list[str]) -> tuple[int, int] | None:
    """The size of the first image that reads (the default size of the whole file)."""
    for name in names:
        try:
            return read_image(resolve_under(images, name)).shape[:2]
        except DataError:
            continue
    return None


def _create_datasets(f, n: int, h: int, w: int, pose_dtype: str, levels: dict[str, int]) -> dict:
    """The per-sample datasets (one sample per chunk, sized for n and shrunk at the end) and the keypoints/names
    datasets (written in blocks)."""
    import h5py

    def sample_dataset(name, shape, dtype):  # deflated by the workers, written with write_direct_chunk
        gz = {"compression": "gzip", "compression_opts": levels[name]} if levels[name] else {}
        return f.create_dataset(name, (n, *shape), dtype, chunks=(1, *shape), maxshape=(None, *shape), **gz)

    block = min(max(n, 1), 4096)
    return {
        "images": sample_dataset("images", (h, w, 3), np.uint8),
        "pose_maps": sample_dataset("pose_maps", (NUM_KEYPOINTS, h, w), pose_dtype),
        "masks": sample_dataset("masks", (h, w), np.uint8),
        "keypoints": f.create_dataset("keypoints", (n, NUM_KEYPOINTS, 2), np.float32, fillvalue=np.nan,
                                      chunks=(block, NUM_KEYPOINTS, 2), maxshape=(None, NUM_KEYPOINTS, 2),
                                      compression="gzip"),
        "names": f.create_dataset("names", (n,), h5py.string_dtype("utf-8"), chunks=(block,), maxshape=(None,),
                                  compression="gzip"),
    }


def default_workers(n: int) -> int:
    """Worker processes used when not told: one per usable core (at most 8) for 512+ images, else none."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores, 8) if n >= 512 else 0


def pack(images: str | os.PathLike, annotations: str | os.PathLike, pairs: str | os.PathLike | None,
         output: str | os.PathLike, options: PackOptions = PackOptions(), overwrite: bool = False,
         progress: Callable[[int, int], None] | None = None) -> PackReport:
    """Pack images, keypoints, pose maps, masks and pairs into one HDF5 file (see docs/hdf5-schema.md).

    `progress(done, total)` is called as samples finish. Returns a PackReport; raises DataError when nothing
    can be packed, or on the first problem with `options.strict`.
    """
    import h5py

    from pg2cli.formats import read_annotations, read_pairs

    t0 = time.perf_counter()
    options.validate()
    output = check_output(output, overwrite)
    images = Path(images)
    if not images.is_dir():
        raise DataError(f"{images}: not a folder (expected the folder the annotation names are relative to)")
    ann = read_annotations(annotations)
    pair_names = read_pairs(pairs) if pairs is not None else []
    report = PackReport(output=output, height=0, width=0, rows_read=len(ann), pairs_read=len(pair_names))
    candidates, row_pairs = _plan(ann, pair_names, options.only_paired, report)
    if options.strict:
        _raise_strict(report)
    size = options.size or _first_size(images, [ann.names[r] for r in candidates])
    if size is None:
        raise DataError(f"{annotations}: nothing to pack: none of the {len(ann):,} rows has a readable image "
                        f"under {images}")
    h, w = report.height, report.width = int(size[0]), int(size[1])
    levels = COMPRESSIONS[options.compression]
    settings = _Settings(str(images.resolve()), (h, w), options.size is not None, options.pose_map, float(options.radius),
                         float(options.sigma), options.pose_dtype, options.mask_radius, options.mask_closing,
                         (levels["images"], levels["pose_maps"], levels["masks"]))
    n = len(candidates)
    workers = options.workers if options.workers is not None else default_workers(n)
    # Batches of (row, name, keypoints) made as they are needed, so nothing per sample piles up.
    batches = ([(r, ann.names[r], ann.keypoints[r]) for r in candidates[i:i + BATCH]] for i in range(0, n, BATCH))
    params = {"pose_map": options.pose_map, "pose_radius": float(options.radius), "pose_sigma": float(options.sigma),
              "pose_dtype": options.pose_dtype, "mask_radius": options.mask_radius,
              "mask_closing": options.mask_closing, "height": h, "width": w}
    fp = hashlib.sha256(json.dumps({"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **params},
                                   sort_keys=True).encode())

    # libver v110 (HDF5 >= 1.10 readers): its extensible-array chunk index keeps the writer's memory flat in N.
    with (_worker_pool(settings, workers) as pool, atomic_output(output, overwrite) as tmp,
          h5py.File(tmp, "w", libver="v110") as f):
        d = _create_datasets(f, n, h, w, options.pose_dtype, levels)
        block = d["keypoints"].chunks[0]
        row_to_index = np.full(len(ann), -1, np.int64)  # annotation row -> index in `images`, -1 = not packed
        kp_buf: list[np.ndarray] = []
        name_buf: list[str] = []
        cursor = done = 0

        def flush() -> None:  # keypoints and names of the samples written since the last flush
            d["keypoints"][cursor - len(kp_buf):cursor] = np.stack(kp_buf)
            d["names"][cursor - len(name_buf):cursor] = name_buf
            kp_buf.clear()
            name_buf.clear()

        for batch, results in _encoded(settings, batches, pool, workers):
            for (row, name, _), res in zip(batch, results):
                if len(res) == 2:  # (reason, detail)
                    report.add(res[0], f"{name}: {res[1]}")
                    if options.strict:
                        _raise_strict(report)
                    continue
                kp, img_b, pm_b, mask_b, adler = res
                d["images"].id.write_direct_chunk((cursor, 0, 0, 0), img_b)
                d["pose_maps"].id.write_direct_chunk((cursor, 0, 0, 0), pm_b)
                d["masks"].id.write_direct_chunk((cursor, 0, 0), mask_b)
                fp.update(name.encode() + b"\0" + kp.tobytes() + adler.to_bytes(4, "little"))
                kp_buf.append(kp)
                name_buf.append(name)
                row_to_index[row] = cursor
                cursor += 1
                if len(kp_buf) == block:
                    flush()
            done += len(batch)
            if progress is not None:
                progress(done, n)
        if cursor == 0:
            raise DataError(f"{annotations}: nothing to pack: all {n:,} candidate images were left out "
                            f"({', '.join(f'{k}: {v}' for k, v in report.left_out.items())})")
        if kp_buf:
            flush()
        for dset in d.values():
            dset.resize(cursor, axis=0)

        kept = []
        for ra, rb in row_pairs:
            ia, ib = int(row_to_index[ra]), int(row_to_index[rb])
            if ia < 0 or ib < 0:
                report.add(PAIR_NO_IMAGE, f"{ann.names[ra]},{ann.names[rb]}: {ann.names[ra if ia < 0 else rb]}")
            else:
                kept.append((ia, ib))
        if options.strict:
            _raise_strict(report)
        pair_arr = np.asarray(kept, np.int64).reshape(-1, 2)
        f.create_dataset("pairs", data=pair_arr, chunks=(min(max(len(pair_arr), 1), 65536), 2),
                         maxshape=(None, 2), compression="gzip")
        fp.update(pair_arr.tobytes())
        report.num_images, report.num_pairs = cursor, len(kept)
        report.fingerprint = fp.hexdigest()[:16]
        f.attrs.update({
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "pg2cli_version": __version__, **params,
            "pose_scale": 255 if options.pose_dtype == "uint8" else 1, "keypoint_names": list(KEYPOINT_NAMES),
            "keypoints_format": "x, y pixel coordinates (column, row of a pixel centre); NaN = missing",
            "resized": options.size is not None, "compression": options.compression,
            "only_paired": options.only_paired, "num_images": cursor, "num_pairs": len(kept),
            "source_images": str(images.resolve()), "source_annotations": str(Path(annotations).resolve()),
            "source_annotations_sha256": _sha256(Path(annotations)),
            "source_pairs": str(Path(pairs).resolve()) if pairs is not None else "",
            "source_pairs_sha256": _sha256(Path(pairs)) if pairs is not None else "",
            "left_out": json.dumps(report.left_out, sort_keys=True), "fingerprint": report.fingerprint,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    report.file_bytes = output.stat().st_size
    report.seconds = time.perf_counter() - t0
    return report
