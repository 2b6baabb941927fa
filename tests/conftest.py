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
