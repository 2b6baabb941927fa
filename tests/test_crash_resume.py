"""Interrupted runs: `pg2` killed with SIGKILL at random points (several seeds) reruns to the result of an
uninterrupted run, and Ctrl-C ends with one line, exit 130 and nothing half-written under a final name.

Each command runs as a real subprocess on tiny real inputs (Market-1501 crops copied into tmp_path). Kill points
are drawn from a seeded RNG and expressed in progress the command has made on disk (rows written, bytes packed,
checkpoints saved), so they land mid-run on a fast machine and on a slow one alike.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
INTERRUPTED = "error: interrupted; outputs that were not finished were not written"


def pg2(*args) -> list[str]:
    return [sys.executable, "-m", "pg2cli", *map(str, args)]


def run_to_end(cmd: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    return r


def interrupt_when(cmd: list[str], ready: Callable[[], bool], delay: float = 0.0, sig=signal.SIGKILL,
                   **popen) -> tuple[bool, subprocess.Popen]:
    """Start `cmd`, wait until `ready()` (polled every 5 ms), sleep `delay`, send `sig`, wait for the end.

    Returns (whether the signal found the process still running, the finished process).
    """
    proc = subprocess.Popen(cmd, env=ENV, **popen)
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and not ready():
            assert time.monotonic() < deadline, "the command never reached the kill point"
            time.sleep(0.005)
        time.sleep(delay)
        running = proc.poll() is None
        if running:
            proc.send_signal(sig)
        proc.wait(timeout=120)
        return running, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def ctrl_c_when(cmd: list[str], ready: Callable[[], bool]) -> None:
    """Ctrl-C `cmd` once `ready()`; it must end like a Ctrl-C'd command: exit 130, one error line, no traceback."""
    running, proc = interrupt_when(cmd, ready, sig=signal.SIGINT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
    assert running
    stderr = proc.stderr.read()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == INTERRUPTED and stderr.count("error:") == 1
    assert "Traceback" not in stderr


def partials(folder: Path) -> list[Path]:
    """Temporary '.NAME.partial-PID' files (what a killed atomic write leaves; never a final name)."""
    return [p for p in folder.rglob("*") if ".partial-" in p.name]


# ---------------------------------------------------------------------------------------------- extract-pose

N_CROPS = 10


@pytest.fixture(scope="module")
def crops(shared_data, tmp_path_factory) -> Path:
    """10 real Market crops and one truncated file (listed in errors.csv on every run)."""
    pytest.importorskip("mediapipe")
    d = tmp_path_factory.mktemp("crops")
    names = sorted(p.name for p in (shared_data / "market" / "images").iterdir())[:N_CROPS]
    for n in names:
        shutil.copyfile(shared_data / "market" / "images" / n, d / n)
    (d / "0000_cut.png").write_bytes((d / names[0]).read_bytes()[:300])
    return d


def extract_cmd(crops: Path, out: Path) -> list[str]:
    return pg2("extract-pose", crops, "-o", out, "--backend", "mediapipe", "--batch-size", "1")


def rows_written(out: Path) -> int:
    """Complete data rows in the CSV so far (header excluded)."""
    return max(out.read_bytes().count(b"\n") - 1, 0) if out.exists() else -1


@pytest.fixture(scope="module")
def extract_reference(crops, tmp_path_factory) -> tuple[bytes, bytes]:
    out = tmp_path_factory.mktemp("ref") / "ann.csv"
    run_to_end(extract_cmd(crops, out))
    return out.read_bytes(), out.with_name("ann.csv.errors.csv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_extract_pose_killed_then_rerun_equals_an_uninterrupted_run(seed, crops, extract_reference, tmp_path):
    rng = np.random.default_rng(seed)
    out = tmp_path / "ann.csv"
    cmd = extract_cmd(crops, out)
    # seed 0: one kill; seed 1: two kills (the second one interrupts a resumed run).
    thresholds = np.sort(rng.choice(N_CROPS - 1, size=1 + seed, replace=False))
    killed = []
    for k in thresholds:
        hit, _ = interrupt_when(cmd, lambda: rows_written(out) >= k, delay=float(rng.uniform(0, 0.02)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        killed.append(hit)
        if hit:
            assert rows_written(out) < N_CROPS  # mid-run: the rerun has work left
    assert any(killed), "no kill landed mid-run"
    r = run_to_end(cmd)
    assert "resumed" in r.stdout
    ref_csv, ref_errors = extract_reference
    assert out.read_bytes() == ref_csv  # the same rows, in the same order, each once
    assert out.with_name("ann.csv.errors.csv").read_bytes() == ref_errors
    assert partials(tmp_path) == []


def test_extract_pose_ctrl_c_ends_cleanly_keeping_complete_rows(crops, extract_reference, tmp_path):
    from pg2cli.formats import read_annotations

    out = tmp_path / "ann.csv"
    ctrl_c_when(extract_cmd(crops, out), lambda: rows_written(out) >= 2)
    rows = read_annotations(out)  # every row that is there is complete
    ref = extract_reference[0].decode().splitlines()
    assert 2 <= len(rows) < N_CROPS
    assert out.read_text().splitlines() == ref[: len(rows) + 1]
    assert partials(tmp_path) == []


# ---------------------------------------------------------------------------------------------- pack


def pack_cmd(market: Path, out: Path, *extra) -> list[str]:
    return pg2("pack", "--images", market / "images", "--annotations", market / "annotations.csv",
               "--pairs", market / "pairs.csv", "-o", out, "--workers", "0", *extra)


def h5_contents(path: Path) -> dict:
    """Every dataset and attribute of a packed file except its creation time."""
    import h5py

    with h5py.File(path, "r") as f:
        out = {f"/{k}": f[k][()] for k in f}
        out.update({f"@{k}": v for k, v in f.attrs.items() if k != "created"})
    return out


def assert_same_h5(a: Path, b: Path) -> None:
    ca, cb = h5_contents(a), h5_contents(b)
    assert ca.keys() == cb.keys()
    for k in ca:
        if isinstance(ca[k], np.ndarray):
            np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)  # NaN == NaN here
        else:
            assert ca[k] == cb[k], k


def packed_bytes(folder: Path) -> int:
    """Bytes written so far under pack's temporary name."""
    return sum(p.stat().st_size for p in partials(folder) if p.exists())


@pytest.fixture(scope="module")
def pack_reference(market, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "market.h5"
    run_to_end(pack_cmd(market, out))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pack_killed_then_rerun_equals_an_uninterrupted_run(seed, market, pack_reference, tmp_path):
    rng = np.random.default_rng(seed)
    out = tmp_path / "market.h5"
    target = float(rng.uniform(0.05, 0.9)) * pack_reference.stat().st_size
    hit, _ = interrupt_when(pack_cmd(market, out), lambda: packed_bytes(tmp_path) >= target,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert hit, "the kill came after the pack finished"
    assert not out.exists()  # never half a file under the final name
    assert partials(tmp_path)  # the half-written data stayed under the hidden temporary name
    run_to_end(pack_cmd(market, out))  # no --overwrite needed: nothing was left under the final name
    assert_same_h5(out, pack_reference)


@pytest.mark.slow
def test_killed_pack_leaves_no_worker_processes(market, pack_reference, tmp_path):
    """With worker processes, a SIGKILL of pack must not leave its workers blocked forever on the result pipe."""
    out = tmp_path / "market.h5"
    cmd = pack_cmd(market, out)[:-1] + ["2"]  # --workers 2
    hit, proc = interrupt_when(cmd, lambda: packed_bytes(tmp_path) >= 0.2 * pack_reference.stat().st_size,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert hit
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                os.killpg(proc.pid, 0)  # anyone left in the killed pack's process group?
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "pack's worker processes outlived it"
            time.sleep(0.1)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run_to_end(cmd)
    assert_same_h5(out, pack_reference)


def test_pack_ctrl_c_ends_cleanly_and_leaves_nothing(market, pack_reference, tmp_path):
    out = tmp_path / "market.h5"
    ctrl_c_when(pack_cmd(market, out), lambda: packed_bytes(tmp_path) >= 0.2 * pack_reference.stat().st_size)
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file


# ---------------------------------------------------------------------------------------------- train

ITERS = 6


@pytest.fixture(scope="module")
def packed4(market, tmp_path_factory) -> Path:
    """The first 4 real pairs at 64x32."""
    from pg2cli.data.pack import PackOptions, pack

    d = tmp_path_factory.mktemp("p4")
    (d / "pairs.csv").write_text("\n".join((market / "pairs.csv").read_text().splitlines()[:5]) + "\n")
    pack(market / "images", market / "annotations.csv", d / "pairs.csv", d / "p4.h5",
         PackOptions(size=(64, 32), only_paired=True, workers=0))
    return d / "p4.h5"


def train_cmd(data: Path, out: Path, *extra) -> list[str]:
    # batch 3 over 4 pairs with flips: batches straddle epochs, so data order and flips must resume exactly.
    return pg2("train", "--data", data, "--out", out, "--preset", "tiny", "--set", "model.base_channels=8",
               "--set", "model.z_dim=8", "--set", "model.d_channels=8", "--set", "num_samples=2",
               "--iters", ITERS, "--batch-size", 3, "--ckpt-every", 1, "--log-every", 1, "--sample-every", 3,
               "--keep-last", 100, "--device", "cpu", "--seed", 0, *extra)


def checkpoint(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"stage1-{step:08d}.pt"


def losses(run: Path) -> list[tuple[int, float]]:
    lines = (run / "stats.jsonl").read_text().splitlines()
    return [(r["step"], r["loss_g1"]) for r in map(json.loads, lines)]


def assert_same_state(a: Path, b: Path) -> None:
    """Networks, optimizer moments, step and torch RNG state of two checkpoints are identical.

    (The NumPy and Python global RNG states are saved and restored too, but nothing in training draws from
    them, so two independent processes start them differently and they are not compared.)"""
    import torch

    sa, sb = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))
    assert sa["step"] == sb["step"]

    def same(x, y, where):
        if isinstance(x, dict):
            assert x.keys() == y.keys(), where
            for k in x:
                same(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), where
            for i, (u, v) in enumerate(zip(x, y)):
                same(u, v, f"{where}[{i}]")
        elif isinstance(x, torch.Tensor):
            assert torch.equal(x, y), where
        else:
            assert x == y, where

    for key in ("nets", "optim"):
        same(sa[key], sb[key], key)
    same(sa["rng"]["torch"], sb["rng"]["torch"], "rng.torch")


@pytest.fixture(scope="module")
def train_reference(packed4, tmp_path_factory) -> tuple[Path, float]:
    """An uninterrupted run, and its seconds per step (to place kills within a step on any machine)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    run_to_end(train_cmd(packed4, out))
    elapsed = [json.loads(ln)["elapsed_s"] for ln in (out / "stats.jsonl").read_text().splitlines()]
    return out, float(np.median(np.diff(elapsed)))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_train_killed_then_resumed_equals_an_uninterrupted_run(seed, packed4, train_reference, tmp_path):
    ref, step_s = train_reference
    rng = np.random.default_rng(seed)
    out = tmp_path / "run"
    k = int(rng.integers(1, ITERS - 2))  # kill within the step after checkpoint k is saved
    hit, _ = interrupt_when(train_cmd(packed4, out), lambda: checkpoint(out, k).exists(),
                            delay=float(rng.uniform(0, step_s)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert hit, "the kill came after training finished"
    from pg2cli.train.checkpoint import list_checkpoints, load_checkpoint

    for s, p in list_checkpoints(out, 1):  # a checkpoint cut short stays under its temporary name, unlisted
        assert load_checkpoint(p)["step"] == s
    r = run_to_end(train_cmd(packed4, out, "--resume", "auto"))
    resumed = Path(r.stdout.split("resumed from:")[1].split()[0])
    step = int(resumed.stem.split("-")[1])
    assert k <= step < ITERS
    # The checkpoint it resumed from is the uninterrupted run's at that step, and so is every later one.
    for s in range(step, ITERS + 1):
        assert_same_state(checkpoint(out, s), checkpoint(ref, s))
    # stats.jsonl: each step once (lines the killed run wrote past its checkpoint were dropped), same losses.
    assert losses(out) == losses(ref)


def test_train_ctrl_c_ends_cleanly_keeping_complete_checkpoints(packed4, tmp_path):
    from pg2cli.train.checkpoint import list_checkpoints, load_checkpoint

    out = tmp_path / "run"
    ctrl_c_when(train_cmd(packed4, out), lambda: checkpoint(out, 2).exists())
    saved = list_checkpoints(out, 1)
    assert saved and all(load_checkpoint(p)["step"] == s for s, p in saved)  # each one complete
    assert partials(out) == []


def test_stale_partial_of_a_killed_writer_is_removed_by_the_next_writer(tmp_path):
    """A SIGKILLed writer leaves its hidden temporary file; the next write of the same output removes it
    (and leaves a live process's temporary file alone)."""
    import os
    import subprocess
    import sys

    from pg2cli.fileio import temp_name, write_text_atomic

    out = tmp_path / "result.csv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = out.with_name(f".result.partial-{dead}.csv")
    stale.write_text("half")
    live = out.with_name(f".result.partial-{os.getppid()}.csv")
    live.write_text("in progress")
    write_text_atomic(out, "done\n")
    assert out.read_text() == "done\n"
    assert not stale.exists() and live.exists()
    assert not temp_name(out).exists()


def test_sigterm_ends_a_command_like_ctrl_c(tmp_path):
    """`kill` (SIGTERM, as schedulers pre-empt) gives the same clean one-line exit as Ctrl-C."""
    import signal
    import subprocess
    import sys
    import time

    code = ("import os, signal, sys, time\n"
            "sys.argv = ['pg2', 'demo-data', sys.argv[1], '--people', '400', '--poses', '20']\n"
            "from pg2cli.cli import main\n"
            "main()\n")
    out = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(out.glob(".images.partial-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # wait until it is drawing people, so the handler is installed
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert not (out / "annotations.csv").exists()
