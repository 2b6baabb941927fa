"""Seconds per training step of `pg2cli.train.train` (Market preset) against a plain eager fp32 loop over the same
networks, both measured in this run; prints one JSON object.

The baseline is what a careful user would write by hand: batches already in memory, forward, loss, backward,
Adam step, nothing else (in stage 2 it lets D's weights get gradients in the G step, as a plain loop does).
The two are interleaved step by step, so a busy machine slows both alike: train() runs with log_every=1 and its
on_log callback runs one baseline step; train()'s step time is the time from one callback's return to the next
callback, which covers everything its loop does (HDF5 reads, sampler, step, stats line). Warm-up steps dropped.

    python benchmarks/bench_train.py                 # CPU, batch 2
    python benchmarks/bench_train.py --device cuda --batch 16 --amp bf16 --workers 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from pg2cli.model import build
from pg2cli.train.config import apply_overrides, resolve_config
from pg2cli.train.loop import train


def packed_market(tmp: Path) -> tuple[Path, str]:
    """Real Market-1501 crops at 128x64 when ../shared/data is here, else synthetic demo people."""
    from pg2cli.data.pack import PackOptions, pack

    root = Path(os.environ.get("PG2_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if (root / "market").is_dir():
        m = root / "market"
        pack(m / "images", m / "annotations.csv", m / "pairs.csv", tmp / "market.h5", PackOptions(only_paired=True))
        return tmp / "market.h5", "shared/data/market (real, 100 pairs)"
    from pg2cli.data.demo import DemoOptions, make_demo_data
    from pg2cli.data.pairs import PairOptions, make_pairs
    from pg2cli.formats import read_annotations, write_pairs

    demo = make_demo_data(tmp / "demo", DemoOptions(people=8, poses=4))
    result = make_pairs([read_annotations(demo.annotations)], PairOptions(dataset="market"))
    write_pairs(tmp / "pairs.csv", result.pairs)
    pack(demo.images_dir, demo.annotations, tmp / "pairs.csv", tmp / "market.h5", PackOptions())
    return tmp / "market.h5", "synthetic demo people"


def batches(data: Path, batch: int, device: torch.device, count: int = 4) -> list[dict]:
    """A few batches held in memory for the baseline."""
    from torch.utils.data import default_collate

    from pg2cli.data.dataset import PairDataset

    ds = PairDataset(data)
    out = []
    for b in range(count):
        items = [ds[(b * batch + i) % len(ds)] for i in range(batch)]
        out.append({k: v.to(device) for k, v in default_collate(items).items()})
    return out


class Baseline:
    """A plain eager fp32 training step over freshly built networks of the same config."""

    def __init__(self, cfg, data: Path, stage: int, device: torch.device):
        torch.manual_seed(0)
        nets = build(cfg.model)
        self.g1, self.g2, self.d = (n.to(device) for n in (nets.g1, nets.g2, nets.d))
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam((self.g1 if stage == 1 else self.g2).parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=betas)
        self.batches = batches(data, cfg.batch_size, device)
        self.stage, self.device, self.l1_weight, self.i = stage, device, cfg.l1_weight, 0

    def step(self) -> float:
        """One step; its wall-clock seconds."""
        b = self.batches[self.i % len(self.batches)]
        self.i += 1
        src, pose, tgt, mask = b["source"], b["target_pose"], b["target"], b["target_mask"]
        t = time.perf_counter()
        if self.stage == 1:
            out = self.g1(src, pose)
            diff = (out - tgt).abs()
            loss = diff.mean() + (diff * mask).mean()
            self.opt_g.zero_grad()
            loss.backward()
            self.opt_g.step()
        else:
            with torch.no_grad():
                coarse = self.g1(src, pose)
            fake = coarse + self.g2(src, coarse)
            logits = self.d(torch.cat([tgt, src, coarse, fake])).split(len(src))
            diff = (fake - tgt).abs()
            loss_g = F.binary_cross_entropy_with_logits(logits[3], torch.ones_like(logits[3])) \
                + self.l1_weight * (diff.mean() + (diff * mask).mean())
            self.opt_g.zero_grad()
            loss_g.backward()
            self.opt_g.step()
            logits = self.d(torch.cat([tgt, src, coarse, fake.detach()])).split(len(src))
            loss_d = 0.5 * F.binary_cross_entropy_with_logits(logits[0], torch.ones_like(logits[0])) \
                + 0.25 * F.binary_cross_entropy_with_logits(logits[1], torch.zeros_like(logits[1])) \
                + 0.25 * F.binary_cross_entropy_with_logits(logits[3], torch.zeros_like(logits[3]))
            self.opt_d.zero_grad()
            loss_d.backward()
            self.opt_d.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t


def interleaved(cfg, data: Path, out: Path, stage: int, steps: int, warmup: int, device: torch.device):
    """(train() seconds per step, baseline seconds per step), one baseline step after each train() step."""
    base = Baseline(cfg, data, stage, device)
    mine: list[float] = []
    theirs: list[float] = []
    last = [time.perf_counter()]

    def on_log(record: dict) -> None:
        mine.append(time.perf_counter() - last[0])
        theirs.append(base.step())
        last[0] = time.perf_counter()

    train(apply_overrides(cfg, {f"stage{stage}_iters": warmup + steps}), data, out, stage, on_log=on_log)
    return mine[warmup:], theirs[warmup:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--amp", default="off", help="our loop's --amp (the baseline is always fp32)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--steps", type=int, default=8, help="measured steps per stage and side")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # train() does this on CPU; the baseline must not measure denormal stalls
    cfg = resolve_config("market", overrides={
        "batch_size": args.batch, "device": args.device, "amp": args.amp, "workers": args.workers, "log_every": 1,
        "ckpt_every": 10**9, "sample_every": 10**9, "num_samples": 2, "stage1_iters": 0, "stage2_iters": 0})
    result: dict = {"benchmark": "train_step", "device": str(device), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "preset": "market", "batch": args.batch, "amp": args.amp,
                    "steps": args.steps, "warmup": args.warmup, "load_average_1min": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data, source = packed_market(tmp)
        result["data"] = source
        for stage in (1, 2):  # stage 2 continues the stage-1 run
            mine, base = interleaved(cfg, data, tmp / "run", stage, args.steps, args.warmup, device)
            b, m = statistics.median(base), statistics.median(mine)
            ratios = [x / y for x, y in zip(base, mine)]
            result[f"stage{stage}"] = {"pg2cli_s_per_step": round(m, 4), "plain_eager_fp32_s_per_step": round(b, 4),
                                       "speed_vs_plain": round(b / m, 3),
                                       "speed_vs_plain_median_of_steps": round(statistics.median(ratios), 3),
                                       "goal_speed_vs_plain": 0.9, "pg2cli_it_s": round(1 / m, 3)}
    if device.type != "cuda":
        result["gpu"] = "unmeasured: no CUDA device in this run (goal: market batch 16 bf16 > 25 it/s on an H100)"
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
