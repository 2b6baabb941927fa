"""The offline quickstart: synthetic people -> pairs -> HDF5 -> stage 1 + stage 2 training -> eval -> strips.

Every step calls the same core function as its `pg2` command, so the quickstart exercises the pipeline's
seams end to end. The default settings learn visibly in a few minutes on a 2-core CPU: small images
(64x32), a small network and a learning rate far above the paper's (2e-5 needs tens of thousands of steps).
Stage 2 is a short adversarial fine-tune on top of stage 1 at a lower rate.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pg2cli.errors import OutputExistsError, UsageError

EVAL_METRICS = ("ssim", "mask_ssim", "l1", "psnr")  # need no downloaded weights


@dataclass(frozen=True)
class QuickstartOptions:
    """Sizes of the quickstart's data and training. Sizes are (height, width)."""

    people: int = 60
    poses: int = 10
    size: tuple[int, int] = (64, 32)
    test_fraction: float = 0.2  # share of identities held out: eval sees only people never trained on
    base_channels: int = 16
    z_dim: int = 32
    d_channels: int = 16
    batch_size: int = 16
    stage1_iters: int = 900
    stage2_iters: int = 300
    stage1_lr: float = 1e-3
    stage2_lr: float = 1e-4
    l1_weight: float = 50.0  # lambda: 50 (DeepFashion's value) keeps the short stage 2 from adding noise
    strips: int = 8
    seed: int = 0
    device: str = "cpu"
    # CPU threads for torch. 1 is the robust choice on a small machine: a second thread speeds an idle
    # 2-core CPU up less than 2x, while any other busy process makes two threads spin and run ~10x slower.
    threads: int = 1

    def validate(self) -> None:
        """Collect every bad value into one UsageError."""
        bad = []
        for name in ("people", "poses", "batch_size", "base_channels", "z_dim", "d_channels", "stage1_iters",
                     "threads"):
            if getattr(self, name) < 1:
                bad.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("stage2_iters", "strips"):
            if getattr(self, name) < 0:
                bad.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.test_fraction < 1:
            bad.append(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.people < 3:
            bad.append(f"people must be >= 3 (some to train on, some held out), got {self.people}")
        if self.poses < 2:
            bad.append(f"poses must be >= 2 (a pair needs two images of one person), got {self.poses}")
        from pg2cli.train.config import DEVICES

        if self.device not in DEVICES:  # checked before any data is drawn, not at training time
            bad.append(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if bad:
            raise UsageError("; ".join(bad))

    @property
    def pose_radius(self) -> int:
        """PG²'s radius-4 pose discs at 128 px height, scaled with the height (2 px at 64x32)."""
        return max(1, round(4 * self.size[0] / 128))


PRESETS: dict[str, QuickstartOptions] = {
    "default": QuickstartOptions(),
    # CI: the same seams with a fraction of the work; it checks the plumbing, not the quality.
    "fast": QuickstartOptions(people=12, poses=5, base_channels=8, z_dim=16, d_channels=8, batch_size=8,
                              stage1_iters=40, stage2_iters=10, strips=4),
}


@dataclass
class QuickstartResult:
    """Where everything is and what it scored."""

    out: Path
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)


Report = Callable[[str, dict[str, Any]], None]  # (event, fields): 'step' {name, detail}, 'train' {record}


def train_config(opts: QuickstartOptions, stage: int):
    """The training config of one stage: the `tiny` preset resized to the quickstart's numbers."""
    from pg2cli.train.config import resolve_config

    return resolve_config("tiny", overrides={
        "model.image_size": opts.size, "model.base_channels": opts.base_channels, "model.z_dim": opts.z_dim,
        "model.d_channels": opts.d_channels, "batch_size": opts.batch_size,
        "stage1_iters": opts.stage1_iters, "stage2_iters": opts.stage2_iters,
        "lr": opts.stage1_lr if stage == 1 else opts.stage2_lr, "l1_weight": opts.l1_weight,
        "seed": opts.seed, "device": opts.device, "log_every": max(1, min(50, opts.stage1_iters // 10)),
        "sample_every": max(opts.stage1_iters, opts.stage2_iters, 1), "ckpt_every": max(opts.stage1_iters, 1),
        "keep_last": 1,
    })


def _pick_strip_pairs(pairs: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """Up to `n` test pairs, one per held-out identity first (spread over the people), then more."""
    from pg2cli.data.pairs import market_identity

    by_id: dict[str, list[tuple[str, str]]] = {}
    for p in pairs:
        by_id.setdefault(market_identity(p[0]) or "", []).append(p)
    picked: list[tuple[str, str]] = []
    rounds = 0
    while len(picked) < n and any(len(v) > rounds for v in by_id.values()):
        for ident in sorted(by_id):
            group = by_id[ident]
            if len(group) > rounds and len(picked) < n:
                picked.append(group[(rounds * 7) % len(group)])  # a spread of targets, not always the first
        rounds += 1
    return picked


def make_strips(run: Path, images: Path, annotations, pairs: list[tuple[str, str]], out_dir: Path,
                overwrite: bool = False) -> tuple[Path, list[Path]]:
    """One strip per pair: source | target pose | stage 1 | stage 2 | real target, written to
    `out_dir/NN.png` at the model's size, plus `out_dir.png`, all strips in one sheet enlarged 3x."""
    import cv2

    from pg2cli.data.contact import compose
    from pg2cli.data.render import draw_pose
    from pg2cli.images import read_image, write_image
    from pg2cli.infer import generate_images
    from pg2cli.train.checkpoint import load_generators

    gens = load_generators(run, device="cpu")
    sources = [read_image(images / a) for a, _ in pairs]
    targets = [read_image(images / b) for _, b in pairs]
    kps = np.stack([annotations.get(b) for _, b in pairs])  # [B, 18, 2]
    got = generate_images(gens, sources, kps)
    h, w = gens.image_size
    out_dir.mkdir(parents=True, exist_ok=True)
    if overwrite:  # strips of an earlier run may name other pairs
        for old in out_dir.glob("[0-9][0-9]_*_to_*.png"):
            old.unlink()
    cells, written = [], []
    for i, (a, b) in enumerate(pairs):
        cell = [got.sources[i], draw_pose(got.keypoints[i], (h, w)), got.stage1[i], got.images[i], targets[i]]
        cells.append(cell)
        strip = compose([cell], columns=1)
        written.append(write_image(out_dir / f"{i:02d}_{Path(a).stem}_to_{Path(b).stem}.png", strip, overwrite))
    sheet = compose(cells, columns=min(2, len(cells)))
    sheet = cv2.resize(sheet, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    return write_image(out_dir.with_suffix(".png"), sheet, overwrite), written


def _metrics(result) -> dict[str, Any]:
    return {k: v for k, v in result.as_json().items() if k in EVAL_METRICS or k in ("protocol", "pairs_in_file")}


def quickstart(out: str | Path, opts: QuickstartOptions = QuickstartOptions(), overwrite: bool = False,
               report: Report | None = None) -> QuickstartResult:
    """Run the whole pipeline into `out` and write `out/summary.json`.

    Layout: data/ (images, annotations.csv, train_pairs.csv, test_pairs.csv), train.h5, test.h5, run/ (the
    training run: config, stats, samples, checkpoints), strips/ and strips.png, summary.json. Refuses a
    non-empty `out` unless `overwrite`.
    """
    import torch

    opts.validate()
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(opts.threads)
    try:
        return _quickstart(out, opts, overwrite, report)
    finally:
        torch.set_num_threads(threads)


def _quickstart(out: Path, opts: QuickstartOptions, overwrite: bool, report: Report | None) -> QuickstartResult:
    from pg2cli.data.demo import DemoOptions, make_demo_data
    from pg2cli.data.pack import PackOptions, pack
    from pg2cli.data.pairs import PairOptions, make_pairs
    from pg2cli.evaluate.driver import EvalOptions, Networks, evaluate_packed
    from pg2cli.fileio import write_text_atomic
    from pg2cli.formats import read_annotations, write_pairs
    from pg2cli.train.loop import train

    say = report or (lambda event, fields: None)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    paths = {"data": out / "data", "images": out / "data" / "images",
             "annotations": out / "data" / "annotations.csv", "train_pairs": out / "data" / "train_pairs.csv",
             "test_pairs": out / "data" / "test_pairs.csv", "train_h5": out / "train.h5",
             "test_h5": out / "test.h5", "run": out / "run", "strips": out / "strips",
             "strips_sheet": out / "strips.png", "summary": out / "summary.json"}

    def step(name: str, detail: str) -> float:
        say("step", {"name": name, "detail": detail})
        return time.perf_counter()

    t = step("demo-data", f"{opts.people} people x {opts.poses} poses at {opts.size[0]}x{opts.size[1]}")
    demo = make_demo_data(paths["data"], DemoOptions(opts.people, opts.poses, opts.size, opts.seed),
                          overwrite=overwrite)
    timings["demo_data"] = time.perf_counter() - t

    t = step("make-pairs", f"hold out {opts.test_fraction:.0%} of the identities for testing")
    ann = read_annotations(demo.annotations)
    pairs = make_pairs([ann], PairOptions(dataset="market", seed=opts.seed, test_fraction=opts.test_fraction))
    if not pairs.pairs or not pairs.test_pairs:
        raise UsageError(f"{opts.people} people x {opts.poses} poses gave {len(pairs.pairs)} training and "
                         f"{len(pairs.test_pairs)} test pairs; ask for more people or poses")
    write_pairs(paths["train_pairs"], pairs.pairs, overwrite=overwrite)
    write_pairs(paths["test_pairs"], pairs.test_pairs, overwrite=overwrite)
    timings["make_pairs"] = time.perf_counter() - t

    t = step("pack", f"train.h5 and test.h5 (disc pose maps of radius {opts.pose_radius} px at this size)")
    pack_opts = PackOptions(radius=float(opts.pose_radius), only_paired=True, workers=0)
    packed = {split: pack(paths["images"], paths["annotations"], paths[f"{split}_pairs"], paths[f"{split}_h5"],
                          pack_opts, overwrite=overwrite) for split in ("train", "test")}
    timings["pack"] = time.perf_counter() - t

    on_log = (lambda record: say("train", record)) if report else None
    runs = {}
    for stage in (1, 2):
        iters = opts.stage1_iters if stage == 1 else opts.stage2_iters
        if iters == 0:
            continue
        t = step(f"train stage {stage}", f"{iters} steps, batch {opts.batch_size}, width {opts.base_channels}")
        runs[stage] = train(train_config(opts, stage), paths["train_h5"], paths["run"], stage,
                            overwrite=overwrite, on_log=on_log)
        timings[f"train_stage{stage}"] = time.perf_counter() - t

    t = step("eval", f"{packed['test'].num_pairs} pairs of {len(pairs.test_identities)} held-out people")
    eval_opts = EvalOptions(metrics=EVAL_METRICS, device=opts.device)
    scores = {"copy_source": _metrics(evaluate_packed(paths["test_h5"], baseline="copy_source",
                                                      options=eval_opts, networks=Networks()))}
    for stage in runs:
        scores[f"stage{stage}"] = _metrics(evaluate_packed(paths["test_h5"], paths["run"], stage=stage,
                                                           options=eval_opts, networks=Networks()))
    timings["eval"] = time.perf_counter() - t

    strip_files: list[Path] = []
    if opts.strips:
        t = step("strips", "source | target pose | stage 1 | stage 2 | target, held-out people")
        picked = _pick_strip_pairs(pairs.test_pairs, opts.strips)
        sheet, strip_files = make_strips(paths["run"], paths["images"], ann, picked, paths["strips"], overwrite)
        timings["strips"] = time.perf_counter() - t

    final = f"stage{max(runs)}"
    summary: dict[str, Any] = {
        **scores,
        "final": final,
        "beats_copy_source": bool(scores[final]["mask_ssim"] > scores["copy_source"]["mask_ssim"]),
        "data": {"images": len(demo.names), "people": opts.people, "size": list(opts.size),
                 "train_pairs": packed["train"].num_pairs, "test_pairs": packed["test"].num_pairs,
                 "test_identities": pairs.test_identities},
        "training": {f"stage{s}": {"steps": r.step, "seconds": round(r.seconds, 1),
                                   "steps_per_second": round(r.steps_per_second, 2),
                                   "losses": {k: round(v, 5) for k, v in r.losses.items()}}
                     for s, r in runs.items()},
        "options": dataclasses.asdict(opts),
        "seconds": {**{k: round(v, 1) for k, v in timings.items()}, "total": round(time.perf_counter() - t0, 1)},
        "paths": {k: str(v) for k, v in paths.items() if k != "summary"},
        "strips": [str(p) for p in strip_files],
    }
    write_text_atomic(paths["summary"], json.dumps(summary, indent=2) + "\n", overwrite=True)
    return QuickstartResult(out=out, summary=summary, paths=paths)
