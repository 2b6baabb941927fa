"""Scale-out: `torchrun --nproc-per-node 2 -m pg2cli train` (DDP over gloo on CPU) equals one process at the same
global batch, resumes the same way, writes the run from rank 0 only, and runs stage 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from test_train import _assert_same_tree, _pack
from typer.testing import CliRunner

from pg2cli.cli import app
from pg2cli.train.checkpoint import latest_checkpoint

# Two processes average two half-batch gradients where one process takes one full-batch mean: the same
# numbers up to float32 summation order (measured ~4e-7 after 4 Adam steps at lr 2e-4), hence 1e-5.
TOLERANCE = 1e-5


def _args(data, out, iters, stage=1):
    return ["train", "--data", str(data), "--out", str(out), "--stage", str(stage), "--preset", "tiny",
            "--device", "cpu", "--set", "model.base_channels=8", "--set", "model.z_dim=8",
            "--set", "model.d_channels=8", "--batch-size", "4", "--iters", str(iters), "--ckpt-every", "2",
            "--log-every", "2", "--sample-every", "2"]


def _torchrun(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "pg2cli", *args]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.mark.slow
def test_two_processes_equal_one(shared_data, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("\n".join((shared_data / "market" / "pairs.csv").read_text().splitlines()[:7]) + "\n")
    data = _pack(shared_data, tmp_path / "six.h5", pairs)  # 6 pairs, global batch 4: steps cross epochs

    one = CliRunner().invoke(app, _args(data, tmp_path / "one", 4))
    assert one.exit_code == 0, one.output
    _torchrun(_args(data, tmp_path / "two", 2), tmp_path)
    r = _torchrun(_args(data, tmp_path / "two", 4) + ["--resume", "auto"], tmp_path)
    assert r.stdout.count("resumed from") == 1  # rank 0 alone reports

    a = torch.load(latest_checkpoint(tmp_path / "one", 1), weights_only=True)
    b = torch.load(latest_checkpoint(tmp_path / "two", 1), weights_only=True)
    assert a["step"] == b["step"] == 4 and b["world_size"] == 2
    _assert_same_tree(a["nets"], b["nets"], atol=TOLERANCE)
    _assert_same_tree(a["optim"]["g"]["state"], b["optim"]["g"]["state"], atol=TOLERANCE)
    stats = [json.loads(x) for x in (tmp_path / "two" / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [2, 4]  # one line per logging step, not one per process

    # Stage 2 under DDP (D's batch norm keeps per-process statistics on CPU, so no equality is claimed here).
    _torchrun(_args(data, tmp_path / "two", 2, stage=2), tmp_path)
    s2 = torch.load(latest_checkpoint(tmp_path / "two", 2), weights_only=True)
    assert s2["step"] == 2 and set(s2["nets"]) == {"g1", "g2", "d"}
    _assert_same_tree(s2["nets"]["g1"], b["nets"]["g1"], atol=0)
