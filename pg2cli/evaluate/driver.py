"""The evaluate() driver: score generated images against targets, from a run + packed test set or two folders.

Three entry points share one `Scorer`:
- `score_images(generated, targets, masks, keypoints)`: arrays in memory (e.g. a copy-source baseline:
  score the source images as if they were the generated ones);
- `evaluate_packed(data, run)`: generate every pair of a packed HDF5 file with a run's final networks, in batches
  (or score `baseline="copy_source"` without a run);
- `evaluate_folders(generated, targets, annotations)`: any method's images, matched by file name.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from pg2cli.errors import DataError, MissingWeightsError, UsageError
from pg2cli.evaluate import metrics as M
from pg2cli.skeleton import NUM_KEYPOINTS

ALL_METRICS: tuple[str, ...] = ("ssim", "mask_ssim", "psnr", "l1", "lpips", "is", "mask_is", "fid", "pckh")
NEEDS_MASKS = frozenset({"mask_ssim", "mask_is"})
NEEDS_INCEPTION = frozenset({"is", "mask_is", "fid"})
BASELINES = ("copy_source",)
Progress = Callable[[int, int], None]  # (pairs done, pairs in all)


def parse_metrics(spec: str | Sequence[str]) -> tuple[str, ...]:
    """'all' or a comma-separated list of metric names -> the names in canonical order; UsageError if unknown."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip().lower().replace("-", "_") for n in names if n.strip()]
    if not names or names == ["all"]:
        return ALL_METRICS
    unknown = [n for n in names if n not in ALL_METRICS]
    if unknown:
        raise UsageError(f"--metrics: unknown {', '.join(unknown)}; expected 'all' or some of {', '.join(ALL_METRICS)}")
    return tuple(m for m in ALL_METRICS if m in names)


@dataclass(frozen=True)
class EvalOptions:
    """What to compute and how. Weight paths None = look in $PG2_*_WEIGHTS and torch.hub's cache."""

    metrics: tuple[str, ...] = ALL_METRICS
    protocol: str = "pg2"  # SSIM / mask-SSIM protocol: 'pg2' or 'patn' (see metrics.py)
    batch_size: int = 16
    inception_weights: str | None = None
    lpips_weights: str | None = None
    pose_backend: str = "auto"  # PCKh: 'auto' (openpose if its weights are found, else mediapipe), or a name
    pose_weights: str | None = None
    device: str = "auto"  # auto | cpu | cuda | mps, for the generators and the metric networks
    is_splits: int = 10

    def __post_init__(self) -> None:
        M.check_protocol(self.protocol)
        object.__setattr__(self, "metrics", parse_metrics(self.metrics))
        if self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size}: expected >= 1")


@dataclass
class Networks:
    """The networks the requested metrics need (None = skipped) and why any was skipped."""

    inception: object | None = None  # networks.InceptionNet
    lpips: object | None = None  # networks.LpipsNet
    pose: object | None = None  # a pg2cli.pose PoseBackend
    pose_name: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # metric -> why it is skipped (one line)
    pose_note: str = ""  # why this pose backend (e.g. a fallback)

    def close(self) -> None:
        """Release the pose backend (MediaPipe holds a graph; OpenPose a model)."""
        if self.pose is not None and hasattr(self.pose, "close"):
            self.pose.close()


@contextmanager
def _networks_for(options: "EvalOptions", networks: Networks | None) -> Iterator[Networks]:
    """The caller's networks as they are, or ones loaded for `options` and closed afterwards."""
    if networks is not None:
        yield networks
        return
    nets = load_networks(options)
    try:
        yield nets
    finally:
        nets.close()


def _load_pose_backend(options: EvalOptions) -> tuple[object | None, str | None, str]:
    """(backend, name, note); backend None when none can be made (the note says why)."""
    from pg2cli.infer import pose_backend

    if options.pose_backend != "auto":  # a backend the user named must work
        return pose_backend(options.pose_backend, options.pose_weights)
    try:
        return pose_backend("auto", options.pose_weights)
    except (ImportError, MissingWeightsError) as e:
        return None, None, f"no pose backend for PCKh ({e})"


def load_networks(options: EvalOptions) -> Networks:
    """Load what `options.metrics` needs. Missing default weights skip their metrics with a note;
    an explicit path that does not load is an error."""
    from pg2cli.evaluate import networks as N

    nets = Networks()
    wanted = set(options.metrics)
    if wanted & (NEEDS_INCEPTION | {"lpips"}):
        from pg2cli.train.distributed import resolve_device

        device = resolve_device(options.device)
    if wanted & NEEDS_INCEPTION:
        if N.find_weights(N.INCEPTION, options.inception_weights) is None:
            for m in wanted & NEEDS_INCEPTION:
                nets.notes[m] = N.missing_reason(N.INCEPTION)
        else:
            nets.inception = N.InceptionNet.load(options.inception_weights, device)
    if "lpips" in wanted:
        if N.find_weights(N.ALEXNET, options.lpips_weights) is None:
            nets.notes["lpips"] = N.missing_reason(N.ALEXNET)
        else:
            nets.lpips = N.LpipsNet.load(options.lpips_weights, device)
    if "pckh" in wanted:
        nets.pose, nets.pose_name, note = _load_pose_backend(options)
        if nets.pose is None:
            nets.notes["pckh"] = note
        else:
            nets.pose_note = note
    return nets


@dataclass
class EvalResult:
    """Scores (None = requested but skipped), the protocol, counts, notes and the items that were skipped."""

    metrics: dict[str, float | None]
    protocol: str
    counts: dict[str, int]
    notes: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)
    pose_backend: str | None = None

    def as_json(self) -> dict:
        """A flat JSON object: metric -> value (null when skipped or not finite), protocol, counts."""
        out: dict[str, object] = {}
        for k, v in self.metrics.items():
            out[k] = round(float(v), 6) if v is not None and np.isfinite(v) else None
        out["protocol"] = self.protocol
        out.update(self.counts)
        if self.pose_backend:
            out["pckh_backend"] = self.pose_backend
        return out


class Scorer:
    """Accumulates every requested metric over batches of (generated, target) uint8 images."""

    def __init__(self, options: EvalOptions, networks: Networks, have_masks: bool, have_keypoints: bool):
        self.options = options
        self.nets = networks
        self.notes = dict(networks.notes)
        for m in options.metrics:
            if m in NEEDS_MASKS and not have_masks:
                self.notes.setdefault(m, "needs the targets' pose masks (give --annotations in folder mode)")
            if m == "pckh" and not have_keypoints:
                self.notes.setdefault(m, "needs the targets' keypoints (give --annotations in folder mode)")
        network = {"lpips": networks.lpips, "is": networks.inception, "mask_is": networks.inception,
                   "fid": networks.inception, "pckh": networks.pose}
        for m in options.metrics:
            if m in network and network[m] is None:
                self.notes.setdefault(m, "its network was not loaded (see load_networks)")
        self.active = [m for m in options.metrics if m not in self.notes]
        self.values: dict[str, list[float]] = {m: [] for m in ("ssim", "mask_ssim", "psnr", "l1", "lpips")}
        self.feats_gen: list[np.ndarray] = []
        self.feats_tgt: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.mask_probs: list[np.ndarray] = []
        self.pck = M.PCKhCounts()
        self.count = 0

    def update(self, generated: np.ndarray, targets: np.ndarray, masks: np.ndarray | None = None,
               keypoints: np.ndarray | None = None) -> None:
        """Score one batch: generated, targets uint8 [B, H, W, 3]; masks [B, H, W] {0,1}; keypoints [B, 18, 2]."""
        generated, targets = np.asarray(generated), np.asarray(targets)
        if generated.shape != targets.shape or generated.ndim != 4:
            raise ValueError(f"generated {generated.shape} and targets {targets.shape} must both be [B, H, W, 3]")
        act, proto = set(self.active), self.options.protocol
        masked = None
        if masks is not None and act & NEEDS_MASKS:
            masked = np.stack([M.apply_mask(g, m) for g, m in zip(generated, masks)])  # [B, H, W, 3]
        for i, (g, t) in enumerate(zip(generated, targets)):
            if "ssim" in act:
                self.values["ssim"].append(M.ssim(g, t, proto))
            if "mask_ssim" in act:
                self.values["mask_ssim"].append(M.ssim(masked[i], M.apply_mask(t, masks[i]), proto))
            if "psnr" in act:
                self.values["psnr"].append(M.psnr(g, t))
            if "l1" in act:
                self.values["l1"].append(M.l1(g, t))
        if "lpips" in act:
            self.values["lpips"].extend(self.nets.lpips(generated, targets).tolist())
        if act & {"is", "fid"}:
            feats, probs = self.nets.inception(generated)
            self.probs.append(probs)
            if "fid" in act:
                self.feats_gen.append(feats)
                self.feats_tgt.append(self.nets.inception(targets)[0])
        if "mask_is" in act:
            self.mask_probs.append(self.nets.inception(masked)[1])
        if "pckh" in act:
            self.pck += M.pckh(self._detect(generated), keypoints)
        self.count += len(generated)

    def _detect(self, images: np.ndarray) -> np.ndarray:
        """Best person's keypoints [B, 18, 2] per image (all NaN where nobody is found)."""
        people = self.nets.pose.detect(list(images))
        out = np.full((len(images), NUM_KEYPOINTS, 2), np.nan, np.float32)
        for i, found in enumerate(people):
            if found:
                out[i] = found[0].keypoints
        return out

    def result(self, counts: dict[str, int] | None = None, skipped: list[tuple[str, str]] | None = None) -> EvalResult:
        """The mean of each per-pair metric, IS (mean over splits), FID, pooled PCKh; skipped metrics as None."""
        act = set(self.active)
        out: dict[str, float | None] = {}
        notes = dict(self.notes)
        if "pckh" in act and self.nets.pose_note:
            notes["pckh"] = self.nets.pose_note
        for m in self.options.metrics:
            if m not in act:
                out[m] = None
            elif m in self.values:
                out[m] = float(np.mean(self.values[m])) if self.values[m] else None
            elif m in ("is", "mask_is"):
                probs = self.probs if m == "is" else self.mask_probs
                if probs:
                    out[m], out[f"{m}_std"] = M.inception_score(np.concatenate(probs), self.options.is_splits)
                else:
                    out[m] = None
            elif m == "fid":
                if self.count < 2:
                    out[m] = None
                    notes["fid"] = "needs at least two images"
                else:
                    out[m] = M.fid_from_features(np.concatenate(self.feats_gen), np.concatenate(self.feats_tgt))
            elif m == "pckh":
                out[m] = self.pck.value if self.pck.total else None
        all_counts = {"pairs": self.count}
        if "pckh" in act:
            all_counts.update(pckh_keypoints=self.pck.total, pckh_correct=self.pck.correct,
                              pckh_images_without_head=self.pck.skipped)
        all_counts.update(counts or {})
        return EvalResult(out, self.options.protocol, all_counts, notes, list(skipped or []),
                          self.nets.pose_name if "pckh" in act else None)


def _batches(n: int, size: int) -> Iterable[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def score_images(generated: Sequence[np.ndarray] | np.ndarray, targets: Sequence[np.ndarray] | np.ndarray,
                 masks: Sequence[np.ndarray] | np.ndarray | None = None,
                 target_keypoints: np.ndarray | None = None, options: EvalOptions = EvalOptions(),
                 networks: Networks | None = None) -> EvalResult:
    """Score generated images against targets held in memory (uint8 [N, H, W, 3] each; masks [N, H, W];
    target_keypoints [N, 18, 2] for PCKh).

    A copy-source baseline is `score_images(sources, targets, masks)`: the source image offered as the answer.
    """
    generated, targets = np.asarray(generated), np.asarray(targets)
    if generated.shape != targets.shape or generated.ndim != 4 or len(generated) == 0:
        raise DataError(f"expected generated and target images of one shape [N, H, W, 3], N >= 1; "
                        f"got {generated.shape} and {targets.shape}")
    masks = None if masks is None else np.asarray(masks)
    if target_keypoints is not None:
        target_keypoints = np.asarray(target_keypoints, np.float32).reshape(len(generated), NUM_KEYPOINTS, 2)
    with _networks_for(options, networks) as nets:
        scorer = Scorer(options, nets, masks is not None, target_keypoints is not None)
        for s in _batches(len(generated), options.batch_size):
            scorer.update(generated[s], targets[s], None if masks is None else masks[s],
                          None if target_keypoints is None else target_keypoints[s])
        return scorer.result()


# ---------------------------------------------------------------------------------------------- folder mode

def _key(rel: str) -> str:
    """Matching key of an image: its relative path without the suffix."""
    return str(PurePosixPath(rel).with_suffix(""))


_PATN_NAME = re.compile(r"___(.+?)(?:_vis)?(?:\.\w+)?$")


def match_folders(generated_dir: str | os.PathLike, targets_dir: str | os.PathLike
                  ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
    """Pairs (generated, target) of relative names matched by file name without the suffix (so a PNG can
    score against a JPEG target). A generated name `source___target[_vis].png` (PATN's convention) also
    matches `target`. Returns (pairs, unmatched generated with a reason, number of targets left unmatched)."""
    from pg2cli.images import list_images

    gen, tgt = list_images(generated_dir), list_images(targets_dir)
    if not gen:
        raise DataError(f"{generated_dir}: no images found (expected the generated images)")
    if not tgt:
        raise DataError(f"{targets_dir}: no images found (expected the target images)")
    by_key: dict[str, str] = {}
    for rel in tgt:
        k = _key(rel)
        if k in by_key:
            raise DataError(f"{targets_dir}: {by_key[k]!r} and {rel!r} have the same name; cannot match by file name")
        by_key[k] = rel
    pairs, unmatched, used = [], [], set()
    for rel in gen:
        t = by_key.get(_key(rel))
        if t is None:
            m = _PATN_NAME.search(PurePosixPath(rel).name)
            t = by_key.get(_key(m.group(1))) if m else None
        if t is None:
            unmatched.append((rel, f"no target named {_key(rel)}.* in {targets_dir}"))
        else:
            pairs.append((rel, t))
            used.add(t)
    if not pairs:
        raise DataError(f"{generated_dir}: none of {len(gen)} generated images has a partner in {targets_dir} "
                        f"(matched by file name without the suffix; e.g. {gen[0]!r})")
    return pairs, unmatched, len(tgt) - len(used)


def _annotation_lookup(annotations) -> Callable[[str], np.ndarray | None]:
    """Find a target's keypoints by its relative name, its file name, or either without the suffix."""
    table: dict[str, np.ndarray] = {}
    for name, kp in annotations:
        for k in (name, PurePosixPath(name).name, _key(name), _key(PurePosixPath(name).name)):
            table.setdefault(k, kp)

    def lookup(rel: str) -> np.ndarray | None:
        for k in (rel, PurePosixPath(rel).name, _key(rel), _key(PurePosixPath(rel).name)):
            if k in table:
                return table[k]
        return None

    return lookup


def evaluate_folders(generated_dir: str | os.PathLike, targets_dir: str | os.PathLike,
                     annotations: str | os.PathLike | None = None, options: EvalOptions = EvalOptions(),
                     networks: Networks | None = None, progress: Progress | None = None) -> EvalResult:
    """Score a folder of generated images against a folder of targets matched by file name.

    `annotations` (an annotation CSV of the targets) gives the pose masks (mask-SSIM, mask-IS) and the
    target keypoints (PCKh). A generated image without a partner, of another size than its target,
    unreadable, or whose target has no annotation row is skipped and reported; none scored is an error.
    """
    pairs, skipped, unmatched_targets = match_folders(generated_dir, targets_dir)
    lookup = None
    if annotations is not None:
        from pg2cli.formats import read_annotations

        lookup = _annotation_lookup(read_annotations(annotations))
    with _networks_for(options, networks) as nets:
        return _score_folders(Scorer(options, nets, lookup is not None, lookup is not None), pairs, skipped,
                              unmatched_targets, generated_dir, targets_dir, annotations, lookup, progress)


def _score_folders(scorer: Scorer, pairs: list[tuple[str, str]], skipped: list[tuple[str, str]],
                   unmatched_targets: int, generated_dir, targets_dir, annotations, lookup,
                   progress: Progress | None) -> EvalResult:
    """The batch loop of `evaluate_folders`: read, check, mask and score every matched pair."""
    from pg2cli.data.render import render_pose_mask
    from pg2cli.images import ImageError, read_image

    options = scorer.options
    total = len(pairs)
    for s in _batches(total, options.batch_size):
        outs, tgts, masks, kps = [], [], [], []
        for g_rel, t_rel in pairs[s]:
            try:
                g = read_image(Path(generated_dir, g_rel))
                t = read_image(Path(targets_dir, t_rel))
            except ImageError as e:
                skipped.append((g_rel, e.reason if Path(e.path).name == Path(g_rel).name else f"target: {e}"))
                continue
            if g.shape != t.shape:
                skipped.append((g_rel, f"size {g.shape[0]}x{g.shape[1]} differs from the target's "
                                       f"{t.shape[0]}x{t.shape[1]} ({t_rel})"))
                continue
            if lookup is not None:
                kp = lookup(t_rel)
                if kp is None:
                    skipped.append((g_rel, f"target {t_rel!r} has no row in {annotations}"))
                    continue
                masks.append(render_pose_mask(kp, t.shape[:2]))
                kps.append(kp)
            outs.append(g)
            tgts.append(t)
        if outs:
            # One batch may mix sizes; score by size group so every array is [B, H, W, 3].
            for shape in dict.fromkeys(g.shape for g in outs):
                idx = [i for i, g in enumerate(outs) if g.shape == shape]
                scorer.update(np.stack([outs[i] for i in idx]), np.stack([tgts[i] for i in idx]),
                              np.stack([masks[i] for i in idx]) if lookup else None,
                              np.stack([kps[i] for i in idx]) if lookup else None)
        if progress:
            progress(min(s.stop, total), total)
    if scorer.count == 0:
        raise DataError(f"no pair could be scored: {len(skipped)} skipped, e.g. {skipped[0][0]}: {skipped[0][1]}")
    return scorer.result({"skipped": len(skipped), "targets_unmatched": unmatched_targets}, skipped)


# ---------------------------------------------------------------------------------------------- run mode

def pair_file_name(source: str, target: str) -> str:
    """File name of a generated pair: `source___target.png` (PATN's `___` convention, folders flattened)."""
    def flat(name: str) -> str:
        return str(PurePosixPath(name).with_suffix("")).replace("/", "_")

    return f"{flat(source)}___{flat(target)}.png"


class _Saver:
    """Writes DIR/generated/*.png, DIR/targets/*.png (same names) and DIR/annotations.csv (the targets'
    keypoints), so `pg2 eval --generated DIR/generated --targets DIR/targets --annotations DIR/annotations.csv`
    scores the same images again."""

    def __init__(self, root: str | os.PathLike, overwrite: bool):
        from pg2cli.errors import OutputExistsError

        self.root = Path(root)
        if self.root.exists() and any(self.root.iterdir()) and not overwrite:
            raise OutputExistsError(self.root)
        self.names: list[str] = []
        self.keypoints: list[np.ndarray] = []

    def write(self, name: str, generated: np.ndarray, target: np.ndarray, keypoints: np.ndarray) -> None:
        from pg2cli.images import write_image

        if name in self.names:  # the same pair twice in the pairs table
            name = f"{Path(name).stem}_{len(self.names)}.png"
        write_image(self.root / "generated" / name, generated, overwrite=True)
        write_image(self.root / "targets" / name, target, overwrite=True)
        self.names.append(name)
        self.keypoints.append(keypoints)

    def close(self) -> None:
        from pg2cli.formats import Annotations, write_annotations

        if self.names:
            write_annotations(self.root / "annotations.csv", Annotations(self.names, np.stack(self.keypoints)),
                              overwrite=True)


def evaluate_packed(data: str | os.PathLike, run: str | os.PathLike | None = None, *, stage: int | None = None,
                    baseline: str | None = None, options: EvalOptions = EvalOptions(),
                    networks: Networks | None = None, save_images: str | os.PathLike | None = None,
                    overwrite: bool = False, limit: int | None = None, progress: Progress | None = None) -> EvalResult:
    """Generate every pair of a packed HDF5 file with a run's final networks (`stage` None = the latest) in
    batches and score it against the targets, with the file's masks and keypoints for mask-SSIM, mask-IS, PCKh.

    `baseline="copy_source"` scores the source image of each pair as the answer instead (no run needed).
    `limit` keeps the first N pairs; `save_images` writes what was scored (see `_Saver`).
    """
    from pg2cli.data.dataset import PairDataset

    if (run is None) == (baseline is None):
        raise UsageError("evaluate_packed needs exactly one of a run or a baseline")
    if baseline is not None and baseline not in BASELINES:
        raise UsageError(f"--baseline {baseline!r}: expected one of {', '.join(BASELINES)}")
    ds = PairDataset(data, flip=False)
    info = ds.info
    n = len(ds) if limit is None else min(int(limit), len(ds))
    if n <= 0:
        raise DataError(f"{data}: no pairs to evaluate ({len(ds)} pairs in the file, --limit {limit})")
    gens, rerender = None, False
    if run is not None:
        from pg2cli.infer import flush_denormals
        from pg2cli.train.checkpoint import load_generators

        flush_denormals()
        gens = load_generators(run, stage=stage, device=options.device)
        if tuple(gens.image_size) != (info.height, info.width):
            raise DataError(f"{data}: images are {info.height}x{info.width} but {run} was trained at "
                            f"{gens.image_size[0]}x{gens.image_size[1]} (pack the test set with --size "
                            f"{gens.image_size[0]}x{gens.image_size[1]})")
        # The file's pose maps are used as they are when they were made the way the run was trained;
        # otherwise they are rendered again from the keypoints with the run's settings.
        rerender = (info.pose_map, info.pose_radius, info.pose_sigma) != (gens.pose_map, gens.pose_radius,
                                                                          gens.pose_sigma)
    names, pair_rows = ds.reader.names, ds.reader.pairs[:n]
    saver = _Saver(save_images, overwrite) if save_images is not None else None
    with _networks_for(options, networks) as nets:
        result = _score_packed(Scorer(options, nets, have_masks=True, have_keypoints=True), ds, n, gens, rerender,
                               names, pair_rows, saver, progress)
    if rerender:
        result.notes["pose_maps"] = (f"the file's {info.pose_map} pose maps differ from the run's {gens.pose_map}; "
                                     "rendered again from the keypoints")
    return result


def _score_packed(scorer: Scorer, ds, n: int, gens, rerender: bool, names: list[str], pair_rows: np.ndarray,
                  saver: "_Saver | None", progress: Progress | None) -> EvalResult:
    """The batch loop of `evaluate_packed`: generate (or copy the source), score, save."""
    from torch.utils.data import DataLoader, Subset

    from pg2cli.infer import pose_tensor, to_uint8

    options = scorer.options
    loader = DataLoader(Subset(ds, range(n)), batch_size=options.batch_size, shuffle=False, num_workers=0)
    done = 0
    for batch in loader:
        targets = to_uint8(batch["target"])  # [B, H, W, 3]
        masks = batch["target_mask"][:, 0].numpy().astype(np.uint8)  # [B, H, W]
        kps = batch["target_keypoints"].numpy()  # [B, 18, 2]
        if gens is None:
            generated = to_uint8(batch["source"])
        else:
            poses = pose_tensor(kps, gens) if rerender else batch["target_pose"]  # [B, 18, H, W]
            generated = to_uint8(gens(batch["source"], poses)[1])
        scorer.update(generated, targets, masks, kps)
        if saver is not None:
            for j, (g, t, kp) in enumerate(zip(generated, targets, kps)):
                src, tgt = pair_rows[done + j]
                saver.write(pair_file_name(names[src], names[tgt]), g, t, kp)
        done += len(targets)
        if progress:
            progress(done, n)
        del batch
    if saver is not None:
        saver.close()
    counts = {"pairs_in_file": len(ds)}
    if gens is not None:
        counts["stage"] = int(gens.stage)
    return scorer.result(counts)


def evaluate(*, run: str | os.PathLike | None = None, data: str | os.PathLike | None = None,
             generated: str | os.PathLike | None = None, targets: str | os.PathLike | None = None,
             annotations: str | os.PathLike | None = None, baseline: str | None = None, stage: int | None = None,
             options: EvalOptions = EvalOptions(), networks: Networks | None = None,
             save_images: str | os.PathLike | None = None, overwrite: bool = False, limit: int | None = None,
             progress: Progress | None = None) -> EvalResult:
    """Run mode (`run` + `data`, or `baseline` + `data`) or folder mode (`generated` + `targets`
    [+ `annotations`]); every wrong combination is reported at once as a UsageError."""
    folder = generated is not None or targets is not None
    packed = data is not None or run is not None or baseline is not None
    problems = []
    if folder and packed:
        problems.append("give either --run/--data (run mode) or --generated/--targets (folder mode), not both")
    elif folder:
        if generated is None or targets is None:
            problems.append("folder mode needs both --generated DIR and --targets DIR")
        for name, value in (("--stage", stage), ("--save-images", save_images), ("--limit", limit)):
            if value is not None:
                problems.append(f"{name} applies to run mode (--run/--data) only")
    elif packed:
        if data is None:
            problems.append("run mode needs --data test.h5 (the packed pairs to generate)")
        if run is not None and baseline is not None:
            problems.append("give --run or --baseline, not both")
        if run is None and baseline is None:
            problems.append("run mode needs --run RUN (or --baseline copy_source)")
        if annotations is not None:
            problems.append("--annotations applies to folder mode; the packed file has its own masks and keypoints")
        if baseline is not None and stage is not None:
            problems.append("--stage needs --run")
    else:
        problems.append("nothing to evaluate: give --run RUN --data test.h5, or --generated DIR --targets DIR")
    if problems:
        raise UsageError("; ".join(problems))
    if folder:
        return evaluate_folders(generated, targets, annotations, options, networks, progress)
    return evaluate_packed(data, run, stage=stage, baseline=baseline, options=options, networks=networks,
                           save_images=save_images, overwrite=overwrite, limit=limit, progress=progress)
