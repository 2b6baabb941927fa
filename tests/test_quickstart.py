"""`pg2 quickstart --fast`: the whole pipeline end to end (demo-data, make-pairs, pack, train 1+2, eval, strips)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from pg2cli.cli import app
from pg2cli.data.pairs import market_identity
from pg2cli.formats import read_pairs


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "quickstart"
    result = CliRunner().invoke(app, ["quickstart", "--out", str(out), "--fast"])
    return out, result


@pytest.mark.slow
def test_fast_quickstart_runs_every_step_and_writes_a_summary(fast_run):
    out, result = fast_run
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    for key in ("stage1", "stage2", "copy_source"):
        for metric in ("mask_ssim", "ssim", "l1"):
            assert isinstance(summary[key][metric], float), (key, metric)
        assert 0.0 < summary[key]["mask_ssim"] <= 1.0
        assert summary[key]["pairs_in_file"] == summary["data"]["test_pairs"] > 0
    assert summary["final"] == "stage2"
    assert summary["training"]["stage1"]["steps"] == 40 and summary["training"]["stage2"]["steps"] == 10
    assert summary["beats_copy_source"] == (summary["stage2"]["mask_ssim"] > summary["copy_source"]["mask_ssim"])
    for rel in ("data/annotations.csv", "data/train_pairs.csv", "data/test_pairs.csv", "train.h5", "test.h5",
                "run/config.json", "run/stats.jsonl", "strips.png"):
        assert (out / rel).is_file(), rel
    assert len(list((out / "run" / "checkpoints").iterdir())) >= 2  # one per stage
    assert len(summary["strips"]) == 4 and all((out / "strips").joinpath(p.split("/")[-1]).is_file()
                                               for p in summary["strips"])
    assert str(out / "summary.json") in result.output.replace("\n", "")


@pytest.mark.slow
def test_held_out_people_never_reach_training(fast_run):
    out, _ = fast_run
    summary = json.loads((out / "summary.json").read_text())
    train_ids = {market_identity(a) for a, b in read_pairs(out / "data" / "train_pairs.csv")}
    test_ids = {market_identity(a) for a, b in read_pairs(out / "data" / "test_pairs.csv")}
    assert test_ids == set(summary["data"]["test_identities"]) and test_ids
    assert not train_ids & test_ids


@pytest.mark.slow
def test_copy_source_score_matches_an_independent_computation(fast_run):
    """The baseline in the summary is the mean mask-SSIM of (source, target) over the packed test pairs."""
    import h5py
    from skimage.metrics import structural_similarity

    out, _ = fast_run
    summary = json.loads((out / "summary.json").read_text())
    with h5py.File(out / "test.h5", "r") as f:
        images, masks, pairs = f["images"][()], f["masks"][()], f["pairs"][()]
    scores = []
    for a, b in pairs:
        m = (masks[b] > 0)[:, :, None]
        scores.append(structural_similarity(images[b] * m, images[a] * m, channel_axis=-1))
    assert summary["copy_source"]["mask_ssim"] == pytest.approx(float(np.mean(scores)), abs=1e-5)


@pytest.mark.slow
def test_refuses_to_overwrite_an_earlier_quickstart(fast_run):
    out, _ = fast_run
    result = CliRunner().invoke(app, ["quickstart", "--out", str(out), "--fast"])
    assert result.exit_code == 2 and "already exists" in result.output


def test_bad_sizes_are_one_line_usage_errors(tmp_path):
    result = CliRunner().invoke(app, ["quickstart", "--out", str(tmp_path / "q"), "--fast", "--people", "2"])
    assert result.exit_code == 2 and "people must be >= 3" in result.output
    assert not (tmp_path / "q").exists()


def test_strip_pairs_spread_over_the_held_out_people():
    from pg2cli.quickstart import _pick_strip_pairs

    pairs = [(f"{p:04d}_c1s1_{i:06d}_00.png", f"{p:04d}_c2s1_{j:06d}_00.png")
             for p in (3, 7, 9) for i in range(3) for j in range(3) if i != j]
    picked = _pick_strip_pairs(pairs, 4)
    assert len(picked) == 4 and len(set(picked)) == 4
    assert {market_identity(a) for a, _ in picked[:3]} == {"0003", "0007", "0009"}
