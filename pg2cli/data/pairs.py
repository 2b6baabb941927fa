"""Same-person, different-pose pairs: identity rules, the standard keypoint filter, sampling and splits."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable, Sequence

import numpy as np

from pg2cli.errors import UsageError
from pg2cli.formats.annotations import Annotations
from pg2cli.skeleton import KEYPOINT_NAMES, TORSO

DISTRACTOR_IDS = frozenset({"-1", "0000"})
_MARKET = re.compile(r"^(-1|\d+)_")
_FASHION_FLAT = re.compile(r"(id\d{10})(?!\d)")
_FASHION_NESTED = re.compile(r"id_(\d{8})/(\d{2})_")


def market_identity(name: str) -> str | None:
    """Market-1501: the digits before the first '_' of the file name ('0002_c1s1_000451_03.jpg' -> '0002')."""
    m = _MARKET.match(PurePosixPath(name).name)
    return m.group(1) if m else None


def deepfashion_identity(name: str) -> str | None:
    """DeepFashion In-shop: 'id' + 10 digits of the flat name, or built from the nested
    `WOMEN/Blouses_Shirts/id_00006350/04_1_front.jpg` layout (-> 'id0000635004')."""
    m = _FASHION_NESTED.search(name.replace("\\", "/"))
    if m:
        return f"id{m.group(1)}{m.group(2)}"
    m = _FASHION_FLAT.search(PurePosixPath(name).name)
    return m.group(1) if m else None


def regex_identity(pattern: str) -> Callable[[str], str | None]:
    """An identity rule from a regular expression searched in the name: its first group, else the whole match."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise UsageError(f"--id-regex {pattern!r}: not a valid regular expression ({e})") from None

    def identity(name: str) -> str | None:
        m = rx.search(name)
        if not m:
            return None
        return m.group(1) if rx.groups else m.group(0)

    return identity


IDENTITY_RULES: dict[str, Callable[[str], str | None]] = {
    "market": market_identity,
    "deepfashion": deepfashion_identity,
}


@dataclass(frozen=True)
class PairOptions:
    """How `make_pairs` filters images and forms pairs. Defaults are the community's standard rule."""

    dataset: str = "market"
    id_regex: str | None = None
    require: tuple[int, ...] = TORSO  # keypoints that must be present (default: both shoulders, both hips)
    min_keypoints: int = 0
    drop_distractors: bool = True
    sample: int | None = None  # keep this many pairs, drawn uniformly without replacement
    max_per_identity: int | None = None
    seed: int = 0
    test_fraction: float = 0.0  # share of identities held out for the test pairs
    test_identities: int | None = None  # or an exact number of held-out identities

    def identity_rule(self) -> Callable[[str], str | None]:
        if self.id_regex:
            return regex_identity(self.id_regex)
        if self.dataset not in IDENTITY_RULES:
            raise UsageError(f"--dataset {self.dataset!r}: expected one of {', '.join(IDENTITY_RULES)} "
                             "(or give --id-regex)")
        return IDENTITY_RULES[self.dataset]


@dataclass
class PairResult:
    """Pairs (train, and test when identities are split) and what happened to every row."""

    pairs: list[tuple[str, str]]
    test_pairs: list[tuple[str, str]] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    identities: int = 0
    test_identities: list[str] = field(default_factory=list)
    candidate_pairs: int = 0


def _validate(opts: PairOptions) -> None:
    problems = []
    if opts.min_keypoints < 0 or opts.min_keypoints > len(KEYPOINT_NAMES):
        problems.append(f"--min-keypoints {opts.min_keypoints}: expected 0..{len(KEYPOINT_NAMES)}")
    if opts.sample is not None and opts.sample < 0:
        problems.append(f"--sample {opts.sample}: expected a count >= 0")
    if opts.max_per_identity is not None and opts.max_per_identity < 1:
        problems.append(f"--max-per-identity {opts.max_per_identity}: expected a count >= 1")
    if not 0.0 <= opts.test_fraction < 1.0:
        problems.append(f"--test-fraction {opts.test_fraction}: expected a share in [0, 1)")
    if opts.test_identities is not None and opts.test_identities < 0:
        problems.append(f"--test-identities {opts.test_identities}: expected a count >= 0")
    if problems:
        raise UsageError("; ".join(problems))


def filter_rows(ann: Annotations, opts: PairOptions) -> tuple[dict[str, list[str]], Counter]:
    """Group the kept names by identity (in order of first appearance) and count drops by reason."""
    rule = opts.identity_rule()
    present = np.isfinite(ann.keypoints).all(axis=2)  # [N, 18]
    req = list(opts.require)
    has_required = present[:, req].all(axis=1) if req else np.ones(len(ann), bool)
    counts = present.sum(axis=1)
    groups: dict[str, list[str]] = {}
    dropped: Counter = Counter()
    for i, name in enumerate(ann.names):
        ident = rule(name)
        if ident is None:
            dropped["no identity in name"] += 1
        elif opts.drop_distractors and ident in DISTRACTOR_IDS:
            dropped["distractor/junk identity"] += 1
        elif not has_required[i]:
            dropped["required keypoints missing"] += 1
        elif counts[i] < opts.min_keypoints:
            dropped[f"fewer than {opts.min_keypoints} keypoints"] += 1
        else:
            groups.setdefault(ident, []).append(name)
    return groups, dropped


def _ordered_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, b) for a in names for b in names if a != b]


def _pairs_of(groups: dict[str, list[str]], idents: Sequence[str], opts: PairOptions,
              rng: np.random.Generator) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for ident in idents:
        p = _ordered_pairs(groups[ident])
        if opts.max_per_identity is not None and len(p) > opts.max_per_identity:
            keep = np.sort(rng.choice(len(p), opts.max_per_identity, replace=False))
            p = [p[i] for i in keep]
        pairs.extend(p)
    return pairs


def _sample(pairs: list[tuple[str, str]], n: int | None, rng: np.random.Generator) -> list[tuple[str, str]]:
    if n is None or n >= len(pairs):
        return pairs
    keep = np.sort(rng.choice(len(pairs), n, replace=False))
    return [pairs[i] for i in keep]


def make_pairs(annotations: Sequence[Annotations], opts: PairOptions = PairOptions()) -> PairResult:
    """Every ordered pair of distinct kept images of one identity (PAPER.md's pair rule), then the
    optional identity split, per-identity cap and sample. Deterministic for a given seed."""
    _validate(opts)
    merged_names: list[str] = []
    merged_kp = []
    seen: set[str] = set()
    dropped: Counter = Counter()
    rows_read = 0
    for ann in annotations:
        rows_read += len(ann)
        for name, kp in ann:
            if name in seen:
                dropped["duplicate name"] += 1
                continue
            seen.add(name)
            merged_names.append(name)
            merged_kp.append(kp)
    merged = Annotations(merged_names, np.stack(merged_kp) if merged_kp else np.zeros((0, 18, 2)))
    groups, d = filter_rows(merged, opts)
    dropped.update(d)
    idents = list(groups)
    rng = np.random.default_rng(opts.seed)

    # Only identities that can form a pair are eligible for the held-out set.
    eligible = sorted(i for i in idents if len(groups[i]) > 1)
    paired = len(eligible)
    n_test = opts.test_identities if opts.test_identities is not None else int(round(opts.test_fraction * paired))
    if n_test > 0 and n_test >= paired:
        raise UsageError(f"cannot hold out {n_test} of the {paired} identities with a pair: "
                         "nothing would be left to train on")
    perm = rng.permutation(paired) if n_test else np.arange(0)
    test_ids = sorted(eligible[i] for i in perm[:n_test])
    test_set = set(test_ids)
    train_ids = [i for i in idents if i not in test_set]

    candidates = sum(len(groups[i]) * (len(groups[i]) - 1) for i in idents)
    pairs = _sample(_pairs_of(groups, train_ids, opts, rng), opts.sample, rng)
    test_pairs = _pairs_of(groups, [i for i in idents if i in test_set], opts, rng)
    return PairResult(
        pairs=pairs, test_pairs=test_pairs, rows_read=rows_read,
        rows_kept=sum(len(v) for v in groups.values()), dropped=dropped, identities=len(idents),
        test_identities=test_ids, candidate_pairs=candidates,
    )
