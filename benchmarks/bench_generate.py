"""Benchmark a cold `pg2 generate` end to end (a new Python process: start-up, imports, checkpoint, one image).

The run is Market-size (128x64, the Market preset's G1 + G2, 70.8 M + G2 parameters), made by the training
code itself: two real Market-1501 pairs packed at their own size, one stage-1 step and one stage-2 step at
batch 1 (so the weights are effectively random, saved by the real checkpoint code with optimizer state).
The pose is an OpenPose JSON file. Baselines measured in the same run and the same way (a cold process):
`python -c "import torch"` (the floor any PyTorch tool pays) and `pg2 --help` (the CLI's own start-up).
Goal: <= 3 s on this CPU. Prints one JSON object, with a breakdown of one run by phase (import, checkpoint,
network, write) and the machine's load average (other processes on a shared 2-core machine slow every figure).

    python benchmarks/bench_generate.py [--repeats 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import shared_data_dir  # noqa: E402


def make_run(root: Path, market: Path) -> tuple[Path, Path, Path]:
    """A Market-size run (stage 2) trained for one step per stage; returns (run, source image, pose JSON)."""
    import torch

    from pg2cli.data.pack import PackOptions, pack
    from pg2cli.formats import OpenPosePerson, read_annotations, write_openpose_json
    from pg2cli.train.config import resolve_config
    from pg2cli.train.loop import train

    lines = (market / "pairs.csv").read_text().splitlines()[:3]
    (root / "pairs.csv").write_text("\n".join(lines) + "\n")
    pack(market / "images", market / "annotations.csv", root / "pairs.csv", root / "market.h5",
         PackOptions(only_paired=True, workers=0))
    torch.set_num_threads(2)
    config = resolve_config("market", overrides={"batch_size": 1, "stage1_iters": 1, "stage2_iters": 1,
                                                 "device": "cpu", "ckpt_every": 1, "sample_every": 1000,
                                                 "num_samples": 1, "keep_last": 1})
    for stage in (1, 2):
        train(config, root / "market.h5", root / "run", stage)
    source, target = lines[1].split(",")
    kp = read_annotations(market / "annotations.csv").get(target)
    conf = np.where(np.isfinite(kp[:, 0]), 0.9, 0.0).astype(np.float32)
    write_openpose_json(root / "pose.json", [OpenPosePerson(kp, conf)])
    return root / "run", market / "images" / source, root / "pose.json"


PHASES = """
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
from pg2cli.infer import flush_denormals, generate_images, read_pose
from pg2cli.images import read_image, write_image
from pg2cli.train.checkpoint import load_generators
t2 = time.perf_counter()
flush_denormals()
gens = load_generators(sys.argv[1], device="cpu")
t3 = time.perf_counter()
out = generate_images(gens, read_image(sys.argv[2]), read_pose(sys.argv[3]).keypoints)
t4 = time.perf_counter()
write_image(sys.argv[4], out.images[0])
t5 = time.perf_counter()
print(json.dumps({"import_torch": t1 - t0, "import_pg2cli": t2 - t1, "load_generators": t3 - t2,
                  "generate": t4 - t3, "write": t5 - t4}))
"""


def phases(run: Path, image: Path, pose: Path, out: Path) -> dict[str, float]:
    """Where the time of one cold generate goes (the same work as the command, timed inside one process)."""
    res = subprocess.run([sys.executable, "-c", PHASES, str(run), str(image), str(pose), str(out)], check=True,
                         capture_output=True, text=True, cwd=REPO)
    return {k: round(v, 3) for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}


def cold(cmd: list[str], repeats: int) -> list[float]:
    """Wall seconds of `cmd` in a fresh process, `repeats` times (the OS file cache stays warm, as for a user)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keep", type=Path, default=None, help="Make the run here and keep it (default: a temp dir).")
    args = ap.parse_args()
    shared = shared_data_dir()
    if shared is None:
        sys.exit("../shared/data not found (set PG2_SHARED_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        run, image, pose = make_run(root, shared / "market")
        ckpt_mb = max(p.stat().st_size for p in (run / "checkpoints").glob("stage2-*.pt")) / 1e6  # what is loaded
        out = root / "out.png"
        gen = [sys.executable, "-m", "pg2cli", "generate", "--run", str(run), "--image", str(image),
               "--pose", str(pose), "-o", str(out), "--overwrite"]
        # Interleave the three commands so background load affects them alike.
        t_gen, t_torch, t_help = [], [], []
        for _ in range(args.repeats):
            t_torch += cold([sys.executable, "-c", "import torch"], 1)
            t_help += cold([sys.executable, "-m", "pg2cli", "--help"], 1)
            t_gen += cold(gen, 1)
        med = statistics.median(t_gen)
        breakdown = phases(run, image, pose, root / "phases.png")
        print(json.dumps({
            "generate_cold_s_median": round(med, 3),
            "generate_cold_s_min": round(min(t_gen), 3),
            "generate_cold_s_all": [round(t, 3) for t in t_gen],
            "import_torch_s_median": round(statistics.median(t_torch), 3),
            "pg2_help_s_median": round(statistics.median(t_help), 3),
            "ratio_generate_to_import_torch": round(med / statistics.median(t_torch), 2),
            "phases_s": breakdown,
            "checkpoint_mb": round(ckpt_mb, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "image_size": [128, 64],
            "goal_s": 3.0,
            "meets_goal": med <= 3.0,
        }))


if __name__ == "__main__":
    main()
