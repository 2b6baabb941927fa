"""Shared fixtures: the real data beside the repository (../shared/data), skipped with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """`$PG2_SHARED_DATA`, else ../shared/data beside the repository; None when neither exists."""
    env = os.environ.get("PG2_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real Market-1501 / DeepFashion samples; skips when absent (a user's clone). CI always has them."""
    d = shared_data_dir()
    if d is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/data is missing in CI; these tests must run there")
        pytest.skip("../shared/data not found (set PG2_SHARED_DATA); real-data tests skipped")
    return d


@pytest.fixture(scope="session")
def market(shared_data) -> Path:
    """The 187 real Market-1501 crops: images/, annotations.csv, pairs.csv."""
    return shared_data / "market"


@pytest.fixture(scope="session")
def packed_market(market, tmp_path_factory):
    """(path, PackReport) of the real Market crops packed once with the defaults; read-only for tests."""
    from pg2cli.data.pack import PackOptions, pack

    out = tmp_path_factory.mktemp("packed") / "market.h5"
    report = pack(market / "images", market / "annotations.csv", market / "pairs.csv", out, PackOptions(workers=0))
    return out, report


@pytest.fixture(scope="session")
def pairs_packed(shared_data, tmp_path_factory):
    """Eight real Market pairs packed at 64x32 (eval and generate tests)."""
    from pg2cli.data.pack import PackOptions, pack

    d = tmp_path_factory.mktemp("eval_data")
    lines = (shared_data / "market" / "pairs.csv").read_text().splitlines()[:9]
    (d / "pairs.csv").write_text("\n".join(lines) + "\n")
    m = shared_data / "market"
    pack(m / "images", m / "annotations.csv", d / "pairs.csv", d / "test.h5",
         PackOptions(size=(64, 32), only_paired=True, workers=0))
    return d / "test.h5"


@pytest.fixture(scope="session")
def tiny_run(pairs_packed, tmp_path_factory):
    """A two-stage run of tiny networks trained for two + one steps by the real training code."""
    import torch

    from pg2cli.train.config import resolve_config
    from pg2cli.train.loop import train

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("eval_runs") / "run"
    config = resolve_config("tiny", overrides={
        "device": "cpu", "stage1_iters": 2, "stage2_iters": 1, "log_every": 1000, "sample_every": 1000,
        "ckpt_every": 1000, "model.base_channels": 8, "model.z_dim": 8, "model.d_channels": 8, "num_samples": 2})
    train(config, pairs_packed, out, 1)
    train(config, pairs_packed, out, 2)
    return out


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    """Keep tests polite on small machines: one intra-op thread when torch is already in use."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    yield


@pytest.fixture(autouse=True)
def _no_flush_to_zero():
    """Training and generation turn on flushing of denormal floats process-wide (a CPU speed fix); turn it off
    after each test, or later ones see a flush-to-zero FPU (Hypothesis refuses to generate floats then)."""
    yield
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_flush_denormal(False)
