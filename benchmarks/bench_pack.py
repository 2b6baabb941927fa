"""Benchmark `pg2 pack` and the training loader against the field's per-image preprocessing; prints one JSON.

Data: a few thousand samples made by cycling the 187 real Market-1501 crops of ../shared/data/market (PNG), or
with `--source market-jpeg` the 20 original JPEG crops (hard links under a temporary folder; nothing is copied
into the repository).

Baseline (what the field's scripts do per image, one process): read the image, float32 Gaussian maps over a
meshgrid (Deformable GAN's `cords_to_map`, sigma 6), the PG² pose mask (radius-4 discs along the 23 limbs,
5x5 dilation + erosion with skimage), one `.npy` for the maps and one for the mask.
Baseline and pack run interleaved, best of `--rounds`, so load from other processes hits both alike. Both
clocks start with the modules imported (throughput, not interpreter start-up) and with no earlier output to
delete.

    python benchmarks/bench_pack.py [--samples 3000] [--baseline-samples 1000] [--memory 1000,20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from conftest import shared_data_dir  # noqa: E402

from pg2cli.formats import read_annotations, read_pairs, write_annotations, write_pairs  # noqa: E402
from pg2cli.skeleton import MASK_LIMBS  # noqa: E402


def build_dataset(root: Path, n: int, market: Path) -> tuple[Path, list, list]:
    """n samples cycling the real crops: images/ (hard links), ann-N.csv, pairs-N.csv for every prefix size.
    `market`: a folder with annotations.csv and the images in images/ (or beside it), pairs.csv if any."""
    ann = read_annotations(market / "annotations.csv")
    pairs = read_pairs(market / "pairs.csv") if (market / "pairs.csv").exists() else []
    folder = market / "images" if (market / "images").is_dir() else market
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    for name in ann.names:
        shutil.copyfile(folder / name, src / name)
    (root / "images").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        name = ann.names[i % len(ann)]
        new = f"c{i // len(ann):05d}_{name}"
        os.link(src / name, root / "images" / new)
        rows.append((new, ann.keypoints[i % len(ann)]))
    return root, rows, pairs


def write_subset(root: Path, rows, pairs, n: int) -> tuple[Path, Path]:
    """Annotation and pairs CSVs for the first n rows (pairs repeated within each full cycle of the crops)."""
    a, p = root / f"ann-{n}.csv", root / f"pairs-{n}.csv"
    write_annotations(a, rows[:n], overwrite=True)
    have = {name for name, _ in rows[:n]}
    cycles = {name.split("_", 1)[0] for name in have}
    out = [(f"{c}_{x}", f"{c}_{y}") for c in sorted(cycles) for x, y in pairs]
    write_pairs(p, [(x, y) for x, y in out if x in have and y in have], overwrite=True)
    return a, p


# ---------------------------------------------------------------- baseline: the field's per-image scripts

def cords_to_map(cords: np.ndarray, img_size: tuple[int, int], sigma: float = 6) -> np.ndarray:
    """Deformable GAN / PATN: float32 [H, W, 18] Gaussians over a meshgrid; cords (y, x) ints, -1 missing."""
    result = np.zeros(img_size + cords.shape[0:1], dtype="float32")
    for i, point in enumerate(cords):
        if point[0] == -1 or point[1] == -1:
            continue
        xx, yy = np.meshgrid(np.arange(img_size[1]), np.arange(img_size[0]))
        result[..., i] = np.exp(-((yy - point[0]) ** 2 + (xx - point[1]) ** 2) / (2 * sigma ** 2))
    return result


_STAMP = (np.add.outer(np.arange(-4, 5) ** 2, np.arange(-4, 5) ** 2) <= 16)


def pose_mask(cords: np.ndarray, img_size: tuple[int, int], radius: int = 4) -> np.ndarray:
    """PG²'s recipe: radius-4 discs at both ends of each of 23 limbs and sampleN-1 points between, closing 5x5."""
    from skimage.morphology import dilation, erosion

    h, w = img_size
    m = np.zeros((h + 8, w + 8), np.uint8)  # padded so every stamp fits; cropped below
    for a, b in MASK_LIMBS:
        p0, p1 = cords[a], cords[b]
        if p0[0] == -1 or p1[0] == -1:
            continue
        n = int(np.hypot(*(p0 - p1)) / radius)
        pts = [p0, p1] + [p0 + (p1 - p0) * i / n for i in range(1, n)]
        for r, c in pts:
            r, c = int(r), int(c)
            if -4 <= r < h + 4 and -4 <= c < w + 4:
                m[r:r + 9, c:c + 9] |= _STAMP
    m = m[4:4 + h, 4:4 + w]
    square = np.ones((5, 5), bool)
    return erosion(dilation(m, square), square)


def run_baseline(root: Path, rows, out: Path) -> dict:
    """Per image: read, Gaussian maps, mask, two .npy files. Returns time and bytes (modules imported first)."""
    import cv2
    import skimage.morphology  # noqa: F401  (imported before the clock starts, as pack's modules are)

    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, (name, kp) in enumerate(rows):
        img = cv2.cvtColor(cv2.imread(str(root / "images" / name)), cv2.COLOR_BGR2RGB)
        cords = np.where(np.isfinite(kp), kp[:, ::-1], -1).astype(int)  # the CSV's (y, x), -1 missing
        maps = cords_to_map(cords, img.shape[:2])
        mask = pose_mask(cords, img.shape[:2])
        np.save(out / f"{i}.npy", maps)
        np.save(out / f"{i}_mask.npy", mask)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    nbytes = sum(f.stat().st_size for f in out.iterdir())
    shutil.rmtree(out)
    return {"seconds": seconds, "cpu_seconds": cpu, "bytes": nbytes}


_PACK_CHILD = r"""
import json, os, sys, threading, time
from pg2cli.data.pack import PackOptions, pack
import cv2, h5py  # imported before the clock starts, as the baseline's modules are: samples/s, not start-up

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

def tree():
    # (cpu seconds, rss bytes) per process of this process tree (this process and its workers)
    out, todo = {}, [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            out[pid] = ((int(st[11]) + int(st[12])) / TICK, int(st[21]) * PAGE)
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, IndexError, ValueError):
            pass
    return out

cpu, peak, stop = {}, [0, 0], threading.Event()  # peak: [whole tree, largest worker]
def sample():
    while not stop.is_set():
        t = tree()
        for p, (c, _) in t.items():
            cpu[p] = max(cpu.get(p, 0), c)
        peak[0] = max(peak[0], sum(r for _, r in t.values()))
        peak[1] = max([peak[1]] + [r for p, (_, r) in t.items() if p != os.getpid()])
        time.sleep(0.05)

cpu0 = sum(c for c, _ in tree().values())
th = threading.Thread(target=sample, daemon=True)
th.start()
opts = PackOptions(**json.loads(sys.argv[5]))
r = pack(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], opts, overwrite=True)
stop.set(); th.join()
for p, (c, _) in tree().items():
    cpu[p] = max(cpu.get(p, 0), c)
print(json.dumps({"seconds": r.seconds, "bytes": r.file_bytes, "images": r.num_images, "pairs": r.num_pairs,
                  "cpu_seconds": sum(cpu.values()) - cpu0, "tree_peak_rss": peak[0], "worker_peak_rss": peak[1],
                  "parent_peak_rss_kb": __import__("resource").getrusage(0).ru_maxrss}))
"""


def run_pack(root: Path, ann: Path, pairs: Path, out: Path, **opts) -> dict:
    """One `pack` in a fresh process; wall time, bytes, and CPU seconds and peak RSS of its whole process tree
    (the parent and its workers), sampled from /proc every 50 ms. A previous output is deleted first (the
    baseline's are deleted after its clock stops)."""
    out.unlink(missing_ok=True)
    res = subprocess.run([sys.executable, "-c", _PACK_CHILD, str(root / "images"), str(ann), str(pairs), str(out),
                          json.dumps(opts)], capture_output=True, text=True, check=False)
    if res.returncode:
        sys.exit(f"bench_pack: pack failed:\n{res.stderr}")
    return json.loads(res.stdout)


def memory_at(root: Path, rows, pairs, n: int) -> dict:
    """Peak RSS of a fresh process packing n samples: the parent, the largest worker, and the sum over the
    process tree (which counts pages the forked workers share with the parent more than once)."""
    ann, pr = write_subset(root, rows, pairs, n)
    out = root / f"mem-{n}.h5"
    r = run_pack(root, ann, pr, out)
    out.unlink()
    return {"samples": r["images"], "seconds": round(r["seconds"], 2),
            "parent_peak_mb": round(r["parent_peak_rss_kb"] / 1024, 1),
            "worker_peak_mb": round(r["worker_peak_rss"] / 2 ** 20, 1),
            "tree_peak_mb": round(r["tree_peak_rss"] / 2 ** 20, 1)}


def cpu_seconds() -> float:
    """CPU seconds of this process and its joined children (the DataLoader workers of finished loaders)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def loader_rate(path: Path, samples: int, batch: int = 16, workers: int = 2, source_pose: bool = True,
                raw: bool = False) -> dict:
    """Steady-state samples/s of a shuffling, flipping DataLoader over PairDataset (first batch excluded)."""
    import torch
    from torch.utils.data import DataLoader

    from pg2cli.data.dataset import PairDataset

    torch.set_num_threads(1)
    ds = PairDataset(path, flip=True, seed=0, source_pose=source_pose, raw=raw)
    seen, t0, epoch, c0 = 0, None, 0, cpu_seconds()
    while seen < samples:
        ds.set_epoch(epoch)
        loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                            persistent_workers=False, generator=torch.Generator().manual_seed(epoch))
        for b in loader:
            if t0 is None:
                t0 = time.perf_counter()  # after the first batch: worker start-up excluded
                continue
            seen += b["target"].shape[0]
            if seen >= samples:
                break
        epoch += 1
        del loader  # joins the workers, so their CPU time is counted
    dt = time.perf_counter() - t0
    cpu_ms = (cpu_seconds() - c0) / seen * 1e3  # includes worker start-up and the first batch
    return {"samples_per_s": round(seen / dt, 1), "cpu_ms_per_sample": round(cpu_ms, 3),
            "samples_per_s_if_2_idle_cores": round(2e3 / cpu_ms, 1), "samples": seen, "batch_size": batch,
            "workers": workers, "source_pose": source_pose, "raw": raw,
            "shuffle": True, "flip": True, "size": [ds.info.height, ds.info.width]}


def training_loader_rate(path: Path, samples: int, batch: int = 16, workers: int = 2) -> dict:
    """Steady-state samples/s of the loader `pg2 train` builds (raw uint8 items without the source pose, its
    step batch sampler over shuffled epochs with flips, persistent workers), first batch excluded."""
    import torch
    from torch.utils.data import DataLoader

    from pg2cli.data.dataset import PairDataset
    from pg2cli.train.sampler import EpochKeyed, StepBatchSampler

    torch.set_num_threads(1)
    ds = EpochKeyed(PairDataset(path, flip=True, seed=0, source_pose=False, raw=True))
    steps = samples // batch + 1
    sampler = StepBatchSampler(len(ds), batch, 0, 0, steps)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=workers, persistent_workers=True,
                        generator=torch.Generator().manual_seed(0))
    seen, t0, c0 = 0, None, cpu_seconds()
    for b in loader:
        if t0 is None:
            t0 = time.perf_counter()
            continue
        seen += b["target"].shape[0]
    dt = time.perf_counter() - t0
    del loader
    cpu_ms = (cpu_seconds() - c0) / seen * 1e3
    return {"samples_per_s": round(seen / dt, 1), "cpu_ms_per_sample": round(cpu_ms, 3), "samples": seen,
            "batch_size": batch, "workers": workers, "what": "pg2 train's loader: raw uint8, no source pose, "
            "shuffled epochs, flips, persistent workers"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=3000)
    ap.add_argument("--baseline-samples", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--memory", default="1000,20000", help="sample counts for the peak-memory runs ('' to skip)")
    ap.add_argument("--loader-samples", type=int, default=6000)
    ap.add_argument("--source", default="market", choices=["market", "market-jpeg"],
                    help="the 187 PNG crops (default) or the 20 original Market-1501 JPEG crops")
    args = ap.parse_args()

    market = (shared_data_dir() or Path("/nonexistent")) / args.source
    if not market.is_dir():
        sys.exit(f"bench_pack: ../shared/data/{args.source} not found (set PG2_SHARED_DATA)")
    mem_sizes = [int(v) for v in args.memory.split(",") if v.strip()]
    n_max = max([args.samples, args.baseline_samples, *mem_sizes])
    tmp = Path(tempfile.mkdtemp(prefix="pg2-bench-pack-"))
    try:
        load0 = os.getloadavg()
        root, rows, pairs = build_dataset(tmp, n_max, market)
        ann, pr = write_subset(root, rows, pairs, args.samples)
        base, disc, gauss = [], [], []
        for _ in range(args.rounds):  # interleaved so that load from other processes affects all alike
            base.append(run_baseline(root, rows[:args.baseline_samples], tmp / "npy"))
            disc.append(run_pack(root, ann, pr, tmp / "disc.h5"))
            gauss.append(run_pack(root, ann, pr, tmp / "gauss.h5", pose_map="gaussian"))
        b = min(base, key=lambda r: r["seconds"])
        d = min(disc, key=lambda r: r["seconds"])
        g = min(gauss, key=lambda r: r["seconds"])
        b_rate, b_bytes = args.baseline_samples / b["seconds"], b["bytes"] / args.baseline_samples
        src_bytes = np.mean([(root / "src" / n).stat().st_size for n in read_annotations(market / "annotations.csv").names])

        b_cpu = b["cpu_seconds"] / args.baseline_samples

        def packed(r):
            rate, per = r["images"] / r["seconds"], r["bytes"] / r["images"]
            cpu = r["cpu_seconds"] / r["images"]
            return {"samples": r["images"], "pairs": r["pairs"], "samples_per_s": round(rate, 1),
                    "cpu_ms_per_sample": round(cpu * 1e3, 3), "bytes_per_sample": round(per),
                    "speedup_vs_baseline": round(rate / b_rate, 2),
                    "cpu_time_ratio_vs_baseline": round(b_cpu / cpu, 2),
                    "smaller_than_baseline_npy": round(b_bytes / per, 2),
                    "smaller_than_baseline_npy_plus_source_png": round((b_bytes + src_bytes) / per, 2)}

        result = {
            "machine": {"cpus": os.cpu_count(), "load_avg_at_start": [round(v, 2) for v in load0]},
            "image_size": [128, 64], "source": args.source,
            "baseline": {"samples": args.baseline_samples, "samples_per_s": round(b_rate, 1),
                         "ms_per_sample": round(1e3 / b_rate, 3), "cpu_ms_per_sample": round(b_cpu * 1e3, 3),
                         "bytes_per_sample": round(b_bytes),
                         "what": "cv2 read + float32 Gaussian maps over a meshgrid + PG² mask (skimage closing) + "
                                 "2 .npy per image, 1 process"},
            "pack_disc": packed(d),
            "pack_gaussian": packed(g),
            "rounds": args.rounds,
        }
        mem = {str(n): memory_at(root, rows, pairs, n) for n in mem_sizes}
        if len(mem_sizes) >= 2:
            lo, hi = mem[str(min(mem_sizes))], mem[str(max(mem_sizes))]
            mem["parent_growth_mb"] = round(hi["parent_peak_mb"] - lo["parent_peak_mb"], 1)
            mem["worker_growth_mb"] = round(hi["worker_peak_mb"] - lo["worker_peak_mb"], 1)
            mem["tree_growth_mb"] = round(hi["tree_peak_mb"] - lo["tree_peak_mb"], 1)
        result["memory"] = mem
        if d["pairs"] < 64:
            result["loader"] = f"skipped: {d['pairs']} pairs in this data (the PNG crops have 100 pairs per cycle)"
        else:
            result["loader_training"] = training_loader_rate(tmp / "disc.h5", args.loader_samples)
            result["loader"] = loader_rate(tmp / "disc.h5", args.loader_samples)
            result["loader_without_source_pose"] = loader_rate(tmp / "disc.h5", args.loader_samples, source_pose=False)
            result["loader_raw"] = loader_rate(tmp / "disc.h5", args.loader_samples, raw=True)
            result["loader_raw_without_source_pose"] = loader_rate(tmp / "disc.h5", args.loader_samples, raw=True,
                                                                   source_pose=False)
        result["machine"]["load_avg_at_end"] = [round(v, 2) for v in os.getloadavg()]
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
