"""The training loop: stage 1 (G1, pose-mask L1) and stage 2 (G2 + D, adversarial + lambda * L1), with exact
resume, mixed precision and DDP. `train()` is the one entry point (the CLI and examples call it)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

from pg2cli import losses
from pg2cli.errors import DataError, OutputExistsError, TrainingError, UsageError
from pg2cli.model import build
from pg2cli.train import run as rundir
from pg2cli.train.checkpoint import (FORMAT, FORMAT_VERSION, checkpoint_path, latest_checkpoint, list_checkpoints,
                                     load_checkpoint, prune_checkpoints, resolve_checkpoint, rng_state,
                                     save_checkpoint, set_rng_state)
from pg2cli.train.config import RUNTIME_FIELDS, TrainConfig, config_from_dict, config_to_dict
from pg2cli.train.distributed import DistContext, init_distributed
from pg2cli.train.sampler import EpochKeyed, StepBatchSampler

LOSS_NAMES = {1: ("loss_g1",), 2: ("loss_g2", "g2_adv", "g2_l1", "loss_d")}
AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class RunResult:
    """What a finished (or already complete) stage left behind."""

    run_dir: Path
    stage: int
    step: int
    total_steps: int
    checkpoint: Path | None
    losses: dict[str, float]  # means over the last logging window ({} when no step ran)
    seconds: float
    steps_per_second: float
    resumed_from: Path | None
    config: TrainConfig


def train(config: TrainConfig, data: str | Path, out: str | Path, stage: int, *, g1: str | Path | None = None,
          resume: str | Path | None = None, overwrite: bool = False,
          on_log: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
    """Train one stage into the run directory `out` and return where it ended.

    stage 1 trains G1 from scratch; stage 2 trains G2 and D on a frozen G1 taken from `g1` (a run directory or
    checkpoint) or, by default, from `out`'s latest stage-1 checkpoint. resume: None (start; refuses a stage
    that already has checkpoints unless `overwrite`), "auto" (continue from the newest checkpoint of this stage
    if any, else start) or a checkpoint path. Under torchrun each process calls this; rank 0 writes the run.
    `on_log(record)` is called on rank 0 at every logging step with the stats.jsonl record plus 'total' and
    'eta_s'. A start that fails (any exception, Ctrl-C included) before the stage's first checkpoint removes what
    it created in `out` (the whole folder if it created it), so the same call can be repeated. On a CPU, denormal
    floats are flushed to zero while this runs (they slow convolutions about 10x); the caller's setting is
    restored on return or raise.
    """
    if stage not in (1, 2):
        raise UsageError(f"--stage must be 1 or 2, got {stage}")
    if resume is not None and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    ctx = init_distributed(config.device)
    try:
        with flushing_denormals(ctx.device.type == "cpu"):
            return _Trainer(config, Path(data), Path(out), stage, ctx, on_log).run(g1, resume, overwrite)
    finally:
        ctx.close()


def denormals_flushed() -> bool:
    """Whether this thread's CPU flushes denormal float32 values to zero (torch has no getter for it)."""
    return float(torch.tensor(1e-39, dtype=torch.float32) * 1.0) == 0.0


@contextlib.contextmanager
def flushing_denormals(on: bool = True):
    """Flush denormal floats to zero on the CPU inside the block (when `on`), then put back the setting found."""
    was = denormals_flushed() if on else None
    if on:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if on and not was:
            torch.set_flush_denormal(False)


def base_config(out: str | Path, stage: int, g1: str | Path | None = None,
                resume: str | Path | None = None) -> TrainConfig | None:
    """The config a command continues from, before presets and overrides: that of the checkpoint --resume
    picks; else the run's config.json when continuing it (stage 2, or --resume auto); else --g1's; else None."""
    out = Path(out)
    if resume is not None and str(resume) != "auto":
        path = resolve_checkpoint(resume, stage)
        return config_from_dict(load_checkpoint(path)["config"], str(path))
    latest = latest_checkpoint(out, stage) if resume is not None else None
    if latest is not None:
        return config_from_dict(load_checkpoint(latest)["config"], str(latest))
    saved = out / rundir.CONFIG_FILE
    if saved.is_file() and (stage == 2 or resume is not None):
        return config_from_dict(rundir.read_json(saved), str(saved))
    if stage == 2 and g1 is not None:
        path = resolve_checkpoint(g1, 1 if Path(g1).is_dir() else None)
        return config_from_dict(load_checkpoint(path)["config"], str(path))
    return None


def fit_config_to_data(config: TrainConfig, info, data: Path) -> TrainConfig:
    """Take the image size from the data when the config leaves it open; refuse data of another size."""
    size = (int(info.height), int(info.width))
    want = config.model.image_size
    if want is None:
        return dataclasses.replace(config, model=dataclasses.replace(config.model, image_size=size))
    if tuple(want) != size:
        h, w = want
        raise DataError(f"{data}: holds {size[0]}x{size[1]} images but the config ({config.preset} preset) builds "
                        f"networks for {h}x{w}; pack the data with --size {h}x{w}, choose another --preset, or "
                        f"--set model.image_size={size[0]}x{size[1]}")
    return config


# Model fields that shape only G2 or D: a stage-1 G1 trained with other values is still the same G1.
NOT_G1_FIELDS = frozenset({"d_channels", "d_input", "g2_full_skip"})


def config_differences(saved: TrainConfig, now: TrainConfig, ignore=RUNTIME_FIELDS,
                       ignore_model=frozenset()) -> list[str]:
    """'key: saved -> now' for every field (model fields dotted) that differs, except `ignore` (and the model
    fields in `ignore_model`)."""
    a, b = config_to_dict(saved), config_to_dict(now)
    diffs = [f"model.{k}: {v!r} -> {b['model'][k]!r}" for k, v in a["model"].items()
             if k not in ignore_model and b["model"][k] != v]
    diffs += [f"{k}: {v!r} -> {b[k]!r}" for k, v in a.items() if k not in ignore and k != "model" and b[k] != v]
    return diffs


class _Trainer:
    """One stage of one run in this process: setup, the step functions, logging, samples and checkpoints."""

    def __init__(self, config: TrainConfig, data: Path, out: Path, stage: int, ctx: DistContext, on_log):
        from pg2cli.data.schema import inspect_packed

        self.ctx, self.data, self.out, self.stage, self.on_log = ctx, data, out, stage, on_log
        self._stash: Path | None = None  # what --overwrite replaces, kept until the first new checkpoint
        self.info = inspect_packed(data)
        if self.info.num_pairs < 1:
            raise DataError(f"{data}: holds no pairs to train on")
        self.identity = rundir.data_identity(self.info)
        self.config = fit_config_to_data(config, self.info, data)
        if self.config.batch_size % ctx.world_size:
            raise UsageError(f"--batch-size {self.config.batch_size} (the global batch) must be divisible by the "
                             f"{ctx.world_size} processes")
        self.device = ctx.device
        self.total = self.config.iters(stage)

    # ---- setup -------------------------------------------------------------------------------------------
    def _find_resume(self, resume, overwrite: bool) -> Path | None:
        """The checkpoint to continue from, or None to start the stage; refuses to clobber an existing stage."""
        existing = list_checkpoints(self.out, self.stage)
        if resume is None:
            if existing and not overwrite:
                raise UsageError(f"{self.out}: already holds stage-{self.stage} checkpoints (up to step "
                                 f"{existing[-1][0]}); pass --resume auto to continue or --overwrite to start again")
            # A folder with other things in it is not clobbered: stage 1 needs an empty or new one, stage 2 a run
            # that holds its stage 1 (or an empty or new one, with --g1).
            starts_a_run = self.stage == 1 or not list_checkpoints(self.out, 1)
            if starts_a_run and self.out.is_dir() and any(self.out.iterdir()) and not overwrite:
                raise OutputExistsError(self.out)
            return None
        if str(resume) == "auto":
            return latest_checkpoint(self.out, self.stage)
        return resolve_checkpoint(resume, self.stage)

    def _check_resume(self, ckpt: dict, path: Path) -> None:
        if ckpt["stage"] != self.stage:
            raise DataError(f"{path}: is a stage-{ckpt['stage']} checkpoint; this is stage {self.stage}")
        saved = config_from_dict(ckpt["config"], str(path))
        diffs = config_differences(saved, self.config)
        if diffs:
            raise UsageError(f"{path}: resuming needs the same settings; changed: {'; '.join(diffs)}")
        if ckpt["data"]["fingerprint"] != self.identity["fingerprint"]:
            raise DataError(f"{self.data}: is not the data {path.name} was trained on "
                            f"({ckpt['data']['path']}, fingerprint {ckpt['data']['fingerprint']})")
        if ckpt["step"] > self.total:
            raise UsageError(f"{path}: is at step {ckpt['step']}, past --iters {self.total}")

    def _load_g1_source(self, g1) -> dict:
        """Stage 2's frozen G1: from `g1` (a run dir: its newest stage-1 checkpoint; or a file) or this run."""
        if g1 is None and latest_checkpoint(self.out, 1) is None:
            raise UsageError(f"{self.out}: has no stage-1 checkpoint; train stage 1 first or pass --g1 PATH")
        src = Path(g1) if g1 is not None else self.out
        path = resolve_checkpoint(src, 1 if src.is_dir() else None)
        ckpt = load_checkpoint(path)
        saved = config_from_dict(ckpt["config"], str(path))
        diffs = config_differences(saved, self.config, ignore=set(config_to_dict(saved)) - {"model"},
                                   ignore_model=NOT_G1_FIELDS)
        if diffs:
            raise UsageError(f"{path}: G1 was built with other model settings; changed: {'; '.join(diffs)}")
        trained = ckpt["data"]
        for key in ("height", "width", "pose_map", "pose_radius", "pose_sigma"):
            if trained[key] != self.identity[key]:
                raise DataError(f"{self.data}: {key} is {self.identity[key]!r} but G1 ({path}) was trained on "
                                f"data with {key} {trained[key]!r}")
        ckpt["path"] = path
        return ckpt

    def _prepare(self, g1, resume, overwrite) -> tuple[dict | None, dict | None]:
        resume_path = self._find_resume(resume, overwrite)
        ckpt = load_checkpoint(resume_path, mmap=False) if resume_path is not None else None
        if ckpt is not None:
            self._check_resume(ckpt, resume_path)
            ckpt["path"] = resume_path
        g1_ckpt = self._load_g1_source(g1) if self.stage == 2 and ckpt is None else None
        if self.ctx.is_main:  # reads pixel data: a damaged file is refused before the run is changed (--overwrite)
            self._fixed = self._fixed_batch()
        self.ctx.barrier()  # everyone has read the run before rank 0 changes it
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            if ckpt is None and overwrite:  # kept aside until this run saves its first checkpoint
                self._stash = rundir.stash_stage(self.out, self.stage)
            step = ckpt["step"] if ckpt is not None else 0
            rundir.truncate_stats(self.out, lambda r: r.get("stage") != self.stage or r.get("step", 0) <= step)
            rundir.write_json(self.out / rundir.CONFIG_FILE, config_to_dict(self.config))
            rundir.record_data(self.out, self.stage, self.identity)
        self.ctx.barrier()
        return ckpt, g1_ckpt

    def _build(self, ckpt: dict | None, g1_ckpt: dict | None) -> None:
        cfg, dev = self.config, self.device
        torch.manual_seed(cfg.seed)  # identical initialisation in every process
        nets = build(cfg.model, ("g1",) if self.stage == 1 else ("g1", "g2", "d"))
        self.g1, self.g2, self.d = nets.g1, nets.g2, nets.d
        state = ckpt or g1_ckpt
        try:
            if state is not None:
                self.g1.load_state_dict(state["nets"]["g1"])
            if ckpt is not None and self.stage == 2:
                self.g2.load_state_dict(ckpt["nets"]["g2"])
                self.d.load_state_dict(ckpt["nets"]["d"])
        except (KeyError, RuntimeError) as e:  # a checkpoint whose weights are not those of its saved config
            raise DataError(f"{state['path']}: weights do not match the saved config "
                            f"({str(e).splitlines()[0]})") from None
        self.channels_last = dev.type == "cuda"
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for net in (self.g1, self.g2, self.d):
            if net is not None:
                net.to(device=dev, memory_format=fmt)
        if self.ctx.distributed and self.d is not None and dev.type == "cuda":
            # D's batch norm sees the whole global batch, as in one process (CPU/gloo has no SyncBatchNorm).
            self.d = nn.SyncBatchNorm.convert_sync_batchnorm(self.d)
        betas = (cfg.beta1, cfg.beta2)
        if self.stage == 1:
            self.trained = {"g1": self.g1}
        else:
            self.g1.eval().requires_grad_(False)  # G1 is fixed in stage II
            self.trained = {"g2": self.g2, "d": self.d}
        adam = {"lr": cfg.lr, "betas": betas, "fused": True if dev.type == "cuda" else None}  # one kernel per step on GPU
        self.opt = {"g": torch.optim.Adam((self.g1 if self.stage == 1 else self.g2).parameters(), **adam)}
        if self.stage == 2:
            self.opt["d"] = torch.optim.Adam(self.d.parameters(), **adam)
        self.amp_dtype = AMP_DTYPES[cfg.amp]
        self.scaler = {k: torch.amp.GradScaler(dev.type, enabled=cfg.amp == "fp16") for k in self.opt}
        if ckpt is not None:
            for k, opt in self.opt.items():
                opt.load_state_dict(ckpt["optim"][k])
            for k, sc in self.scaler.items():
                if ckpt["scaler"].get(k):
                    sc.load_state_dict(ckpt["scaler"][k])
            set_rng_state(ckpt["rng"])
        # What the step functions call: DDP wrappers (gradient all-reduce) and optionally compiled forwards;
        # self.g1/g2/d stay the plain modules (state_dict keys without wrapper prefixes).
        wrap = self._ddp if self.ctx.distributed else (lambda m: m)
        compiled = torch.compile if cfg.compile else (lambda m: m)
        if self.stage == 1:
            self.g1_train = compiled(wrap(self.g1))
        else:
            self.g1_frozen = compiled(self.g1)
            self.g2_train = compiled(wrap(self.g2))
            self.d_train = compiled(wrap(self.d))
            self.d_frozen = compiled(self.d)  # the G step: no DDP hooks, D's weights get no gradient

    def _ddp(self, module: nn.Module) -> nn.Module:
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def _loader(self, start_step: int) -> DataLoader:
        from pg2cli.data.dataset import PairDataset

        cfg = self.config
        # Raw uint8 items move 4x fewer bytes through the workers; _inputs converts them on the device.
        ds = EpochKeyed(PairDataset(self.data, flip=cfg.flip, seed=cfg.seed, source_pose=False, raw=True))
        sampler = StepBatchSampler(self.info.num_pairs, cfg.batch_size, cfg.seed, start_step, self.total,
                                   self.ctx.rank, self.ctx.world_size)
        # Its own generator: the loader draws a worker base seed when iterated, which would otherwise advance the
        # global torch RNG just restored from a checkpoint and make a resumed run's RNG differ from an unbroken one.
        return DataLoader(ds, batch_sampler=sampler, num_workers=cfg.workers, pin_memory=self.device.type == "cuda",
                          persistent_workers=cfg.workers > 0, generator=torch.Generator().manual_seed(cfg.seed))

    def _fixed_batch(self) -> dict:
        """The sample-grid pairs: evenly spread over the data, never flipped, the same for the whole run."""
        from pg2cli.data.dataset import PairDataset

        n = self.info.num_pairs
        picks = np.unique(np.linspace(0, n - 1, min(self.config.num_samples, n)).round().astype(int))
        ds = PairDataset(self.data, flip=False, seed=self.config.seed)
        try:
            return default_collate([ds[int(i)] for i in picks])
        finally:
            ds.reader.close()  # no open HDF5 handle in this process when the loader forks its workers

    # ---- steps -------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, ...]:
        from pg2cli.data.dataset import to_float

        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        keys = ("source", "target_pose", "target", "target_mask")
        batch = to_float({k: batch[k].to(self.device, non_blocking=True) for k in keys})  # raw -> [-1, 1] / {0, 1}
        return tuple(batch[k].contiguous(memory_format=fmt) for k in keys)

    def _update(self, key: str, loss: torch.Tensor) -> None:
        opt, scaler = self.opt[key], self.scaler[key]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def _step1(self, batch: dict) -> torch.Tensor:
        source, pose, target, mask = self._inputs(batch)
        with self._autocast():
            out = self.g1_train(source, pose)  # [B, 3, H, W]
        loss = self.recon(out.float(), target, mask)  # L_G1 = ||(G1 - I_B) * (1 + M_B)||_1
        self._update("g", loss)
        return loss.detach().unsqueeze(0)

    def _d_logits(self, d, source, target, coarse, fake):
        """D on the original code's batch: single = [I_B, I_A, G1, G2out] in one forward (so batch norm sees all
        four), pair = [(I_A, I_B), (I_A, G2out)]. Returns logits split per group."""
        b = len(source)
        with self._autocast():
            if self.config.model.d_input == "single":
                logits = d(torch.cat([target, source, coarse, fake]))
            else:
                logits = d(torch.cat([target, fake]), torch.cat([source, source]))
        return logits.float().split(b)

    def _step2(self, batch: dict) -> torch.Tensor:
        source, pose, target, mask = self._inputs(batch)
        with torch.no_grad(), self._autocast():
            coarse = self.g1_frozen(source, pose).float()
        with self._autocast():
            fake = coarse + self.g2_train(source, coarse).float()  # final = G1 + difference map
        # G step: L_G2 = BCE(D(G2out), 1) + lambda * pose-mask L1, through a frozen D.
        self.d.requires_grad_(False)
        logits = self._d_logits(self.d_frozen, source, target, coarse, fake)
        adv = losses.generator_adversarial(logits[-1])
        rec = self.recon(fake, target, mask)
        loss_g = adv + self.config.l1_weight * rec
        self._update("g", loss_g)
        self.d.requires_grad_(True)
        # D step on the same batch, the generated images detached.
        logits = self._d_logits(self.d_train, source, target, coarse, fake.detach())
        if self.config.model.d_input == "single":
            loss_d = losses.discriminator_single(logits[0], logits[1], logits[3])
        else:
            loss_d = losses.discriminator_pair(logits[0], logits[1])
        self._update("d", loss_d)
        return torch.stack([loss_g, adv, rec, loss_d]).detach()

    # ---- outputs -----------------------------------------------------------------------------------------
    def _save(self, step: int) -> Path:
        payload = {
            "format": FORMAT, "version": FORMAT_VERSION, "stage": self.stage, "step": step,
            "config": config_to_dict(self.config), "data": self.identity,
            "nets": {"g1": self.g1.state_dict(), **{k: m.state_dict() for k, m in self.trained.items()}},
            "optim": {k: opt.state_dict() for k, opt in self.opt.items()},
            "scaler": {k: (sc.state_dict() if sc.is_enabled() else {}) for k, sc in self.scaler.items()},
            "rng": rng_state(), "world_size": self.ctx.world_size,
        }
        path = save_checkpoint(checkpoint_path(self.out, self.stage, step), payload)
        if self._stash is not None:  # the replaced run (--overwrite) can go now
            rundir.drop_stash(self.out)
            self._stash = None
        prune_checkpoints(self.out, self.stage, self.config.keep_last)
        return path

    @torch.no_grad()
    def _samples(self, step: int) -> None:
        from pg2cli.data.render import draw_pose
        from pg2cli.infer import to_uint8

        fixed = self._fixed
        source = fixed["source"].to(self.device)
        coarse = self.g1(source, fixed["target_pose"].to(self.device))
        h, w = self.config.model.image_size
        poses = np.stack([draw_pose(k.numpy(), (h, w)) for k in fixed["target_keypoints"]])
        cols = [to_uint8(source), poses, to_uint8(coarse)]
        if self.stage == 2:
            cols.append(to_uint8(coarse + self.g2(source, coarse)))
        cols.append(to_uint8(fixed["target"]))
        rundir.save_sample_grid(self.out / rundir.SAMPLES_DIR / f"stage{self.stage}-{step:08d}.png", cols)

    def _fail(self, values: torch.Tensor, names, first: int, step: int) -> None:
        bad = ", ".join(f"{n}={v:g}" for n, v in zip(names, values.tolist()) if not math.isfinite(v))
        last = latest_checkpoint(self.out, self.stage)
        kept = f"the last good checkpoint {last} is kept" if last else "no checkpoint had been written yet"
        raise TrainingError(f"stage {self.stage}: the loss became non-finite ({bad}) between steps {first} and "
                            f"{step} (lr {self.config.lr:g}, amp {self.config.amp}); {kept}. Resume from it with "
                            f"a lower --lr or --amp off.")

    # ---- the loop ----------------------------------------------------------------------------------------
    def run(self, g1, resume, overwrite) -> RunResult:
        started = rundir.StartRecord(self.out) if self.ctx.is_main else None
        try:
            return self._run(g1, resume, overwrite)
        except BaseException:  # before the first checkpoint: leave `out` as it was found (see StartRecord)
            if started is not None:
                if self._stash is not None:  # --overwrite: the replaced run comes back
                    with contextlib.suppress(OSError):
                        rundir.restore_stash(self.out, self.stage)
                started.undo_failed_start()
            raise

    def _run(self, g1, resume, overwrite) -> RunResult:
        ckpt, g1_ckpt = self._prepare(g1, resume, overwrite)
        start = ckpt["step"] if ckpt is not None else 0
        resumed_from = ckpt["path"] if ckpt is not None else None
        self._build(ckpt, g1_ckpt)
        del ckpt, g1_ckpt
        cfg, names = self.config, LOSS_NAMES[self.stage]
        self.recon = losses.RECONSTRUCTION[cfg.loss]
        step_fn = self._step1 if self.stage == 1 else self._step2
        batches = iter(self._loader(start))
        if self.ctx.is_main:
            stats = rundir.StatsWriter(self.out)
        t0 = time.perf_counter()
        last_ckpt = latest_checkpoint(self.out, self.stage) if start else None
        window = torch.zeros(len(names), device=self.device)
        window_steps, window_t, checked = 0, t0, start  # checked: the last step known to have finite losses
        means: dict[str, float] = {}
        step = start
        for batch in batches:
            step += 1
            window += step_fn(batch)
            window_steps += 1
            log = step % cfg.log_every == 0 or step == self.total
            save = step % cfg.ckpt_every == 0 or step == self.total
            if log or save:  # the only host syncs: a non-finite loss is caught before any checkpoint is written
                values = self.ctx.all_reduce_mean(window.clone()) / window_steps
                if not bool(torch.isfinite(values).all()):
                    self._fail(values, names, checked + 1, step)
                checked = step
                if log:
                    now = time.perf_counter()
                    rate = window_steps / max(now - window_t, 1e-9)
                    means = dict(zip(names, values.tolist()))
                    record = {"stage": self.stage, "step": step, **means, "it_s": rate, "lr": cfg.lr,
                              "elapsed_s": now - t0, "time": time.time()}
                    if self.ctx.is_main:
                        stats.write(record)
                        if self.on_log is not None:
                            self.on_log({**record, "total": self.total, "eta_s": (self.total - step) / rate})
                    window.zero_()
                    window_steps, window_t = 0, now
            if self.ctx.is_main and (step % cfg.sample_every == 0 or step == self.total):
                self._samples(step)
            if save:
                if self.ctx.is_main:
                    last_ckpt = self._save(step)
                self.ctx.barrier()
        seconds = time.perf_counter() - t0
        if last_ckpt is None:
            last_ckpt = latest_checkpoint(self.out, self.stage)
        return RunResult(run_dir=self.out, stage=self.stage, step=step, total_steps=self.total, checkpoint=last_ckpt,
                         losses=means, seconds=seconds, steps_per_second=(step - start) / seconds if step > start else 0.0,
                         resumed_from=resumed_from, config=cfg)

