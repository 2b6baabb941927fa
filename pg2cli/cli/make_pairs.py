"""`pg2 make-pairs`: same-person, different-pose pairs from annotation CSVs."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pg2cli.cli._common import command, out_console


@command
def make_pairs_cmd(
    annotations: List[Path] = typer.Argument(..., help="Annotation CSV(s) (name:keypoints_y:keypoints_x); several are merged."),
    output: Path = typer.Option(..., "-o", "--output", help="Pairs CSV to write (from,to)."),
    dataset: str = typer.Option("market", "--dataset", help="Identity rule: market | deepfashion."),
    id_regex: Optional[str] = typer.Option(None, "--id-regex", help="Identity = first group of this regex searched in the name (any other dataset)."),
    require: str = typer.Option("right_shoulder,left_shoulder,right_hip,left_hip", "--require",
                                help="Keypoints that must be present, comma-separated ('none' for no requirement)."),
    min_keypoints: int = typer.Option(0, "--min-keypoints", help="Drop images with fewer visible keypoints."),
    keep_distractors: bool = typer.Option(False, "--keep-distractors", help="Keep Market-1501's '-1' and '0000' identities."),
    sample: Optional[int] = typer.Option(None, "--sample", help="Keep N pairs drawn uniformly (deterministic for --seed)."),
    max_per_identity: Optional[int] = typer.Option(None, "--max-per-identity", help="At most N pairs per identity."),
    seed: int = typer.Option(0, "--seed", help="Seed for --sample, --max-per-identity and the identity split."),
    test_fraction: float = typer.Option(0.0, "--test-fraction", help="Hold out this share of identities for test pairs."),
    test_identities: Optional[int] = typer.Option(None, "--test-identities", help="Hold out exactly N identities for test pairs."),
    test_output: Optional[Path] = typer.Option(None, "--test-output", help="Pairs CSV for the held-out identities."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Write every ordered pair of distinct images of one person (PG²'s pair rule), filtered and sampled."""
    from pg2cli.data.pairs import PairOptions, make_pairs
    from pg2cli.errors import UsageError
    from pg2cli.fileio import check_output
    from pg2cli.formats import read_annotations, write_pairs
    from pg2cli.skeleton import keypoint_index

    held_out = test_fraction > 0 or (test_identities or 0) > 0
    if held_out and test_output is None:
        raise UsageError("--test-fraction/--test-identities need --test-output for the held-out pairs")
    if test_output is not None and not held_out:
        raise UsageError("--test-output needs --test-fraction or --test-identities")
    check_output(output, overwrite)
    if test_output is not None:
        check_output(test_output, overwrite)
    req = () if require.strip().lower() in ("", "none") else tuple(keypoint_index(n) for n in require.split(","))
    opts = PairOptions(dataset=dataset, id_regex=id_regex, require=req, min_keypoints=min_keypoints,
                       drop_distractors=not keep_distractors, sample=sample, max_per_identity=max_per_identity,
                       seed=seed, test_fraction=test_fraction, test_identities=test_identities)
    opts.identity_rule()  # validate the rule before reading large files
    tables = [read_annotations(p) for p in annotations]
    result = make_pairs(tables, opts)
    write_pairs(output, result.pairs, overwrite=overwrite)
    if test_output is not None:
        write_pairs(test_output, result.test_pairs, overwrite=overwrite)

    from rich.table import Table

    t = Table(title="make-pairs", show_header=False, title_justify="left")
    t.add_row("rows read", f"{result.rows_read:,}")
    t.add_row("rows kept", f"{result.rows_kept:,}")
    for reason, n in sorted(result.dropped.items()):
        t.add_row(f"dropped: {reason}", f"{n:,}")
    t.add_row("identities", f"{result.identities:,}")
    t.add_row("candidate pairs", f"{result.candidate_pairs:,}")
    t.add_row("pairs written", f"{len(result.pairs):,} -> {output}")
    if test_output is not None:
        t.add_row("held-out identities", f"{len(result.test_identities):,}")
        t.add_row("test pairs written", f"{len(result.test_pairs):,} -> {test_output}")
    out_console().print(t)
