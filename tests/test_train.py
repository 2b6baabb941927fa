"""Training on real Market-1501 crops (packed at 64x32, tiny networks): both stages, exact resume, checkpoints,
NaN handling, configs and the `pg2 train` command's errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from pg2cli import losses
from pg2cli.cli import app
from pg2cli.errors import DataError, OutputExistsError, TrainingError, UsageError
from pg2cli.train.checkpoint import latest_checkpoint, list_checkpoints, load_generators
from pg2cli.train.config import PRESETS, apply_overrides, resolve_config
from pg2cli.train.loop import train
from pg2cli.train.sampler import StepBatchSampler

runner = CliRunner()
SIZE = (64, 32)


def _pack(shared, out, pairs_csv=None, size=SIZE):
    from pg2cli.data.pack import PackOptions, pack

    market = shared / "market"
    pack(market / "images", market / "annotations.csv", pairs_csv or market / "pairs.csv", out,
         PackOptions(size=size, only_paired=True))
    return out


@pytest.fixture(scope="module")
def market_h5(shared_data, tmp_path_factory):
    """The 100 real Market pairs, packed at 64x32."""
    return _pack(shared_data, tmp_path_factory.mktemp("data") / "market.h5")


@pytest.fixture(scope="module")
def market4_h5(shared_data, tmp_path_factory):
    """The first 4 real Market pairs, packed at 64x32."""
    d = tmp_path_factory.mktemp("data4")
    lines = (shared_data / "market" / "pairs.csv").read_text().splitlines()[:5]
    (d / "pairs.csv").write_text("\n".join(lines) + "\n")
    return _pack(shared_data, d / "market4.h5", d / "pairs.csv")


def tiny(**overrides):
    """The tiny preset made tinier for tests: quiet intervals unless asked, CPU."""
    base = {"device": "cpu", "log_every": 1000, "sample_every": 1000, "ckpt_every": 1000, "model.base_channels": 8,
            "model.z_dim": 8, "model.d_channels": 8, "num_samples": 2}
    return resolve_config("tiny", overrides={**base, **overrides})


@pytest.fixture(scope="module")
def stage1_run(market_h5, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    train(tiny(stage1_iters=3, ckpt_every=1, keep_last=2), market_h5, out, 1)
    return out


def _state(path):
    return torch.load(path, weights_only=True)


def _assert_same_tree(a, b, atol=1e-6):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same_tree(a[k], b[k], atol)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_tree(x, y, atol)
    elif isinstance(a, torch.Tensor):
        assert a.shape == b.shape and a.dtype == b.dtype
        if a.is_floating_point():
            torch.testing.assert_close(a, b, atol=atol, rtol=0)
        else:
            assert torch.equal(a, b)
    else:
        assert a == b


# ---- configs -------------------------------------------------------------------------------------------------

def test_presets_are_the_papers_settings():
    m, f = PRESETS["market"], PRESETS["deepfashion"]
    assert (m.model.image_size, m.batch_size, m.stage1_iters, m.stage2_iters, m.l1_weight) == ((128, 64), 16, 22000, 14000, 10)
    assert (f.model.image_size, f.batch_size, f.stage1_iters, f.stage2_iters, f.l1_weight) == ((256, 256), 8, 30000, 20000, 50)
    for p in (m, f):
        assert (p.lr, p.beta1, p.beta2, p.flip, p.loss) == (2e-5, 0.5, 0.999, True, "pose-mask")
        assert (p.model.base_channels, p.model.z_dim, p.model.d_channels) == (128, 64, 64)
    assert PRESETS["tiny"].model.image_size is None and PRESETS["tiny"].model.base_channels <= 16


def test_toml_then_set_overrides(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('preset = "tiny"\nbatch_size = 2\nflip = false\n[model]\nz_dim = 4\npose_embedding = "coords"\n')
    cfg = resolve_config(None, toml, {"model.base_channels": "12", "lr": "1e-3", "model.image_size": "64x32"})
    assert (cfg.preset, cfg.batch_size, cfg.flip, cfg.lr) == ("tiny", 2, False, 1e-3)
    assert (cfg.model.z_dim, cfg.model.base_channels, cfg.model.pose_embedding, cfg.model.image_size) == \
        (4, 12, "coords", (64, 32))
    assert resolve_config("market", toml).model.image_size == (128, 64)  # an explicit preset wins over the file's


@pytest.mark.parametrize("overrides, message", [
    ({"nonsense": 1}, "unknown config key 'nonsense'; valid keys: preset, batch_size"),
    ({"lr": "abc"}, "lr='abc': expected float"),
    ({"flip": "maybe"}, "flip='maybe': expected bool"),
    ({"model.image_size": "big"}, "expected HxW"),
    ({"amp": "fp8"}, "amp must be one of off, bf16, fp16"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
])
def test_bad_overrides(overrides, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        apply_overrides(PRESETS["tiny"], overrides)


def test_bad_toml(tmp_path):
    (tmp_path / "a.toml").write_text("[optim]\nlr = 1\n")
    with pytest.raises(UsageError, match=r"unknown table \[optim\]"):
        resolve_config(None, tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text("lr = \n")
    with pytest.raises(UsageError, match="not a valid TOML"):
        resolve_config(None, tmp_path / "b.toml")


# ---- data order ----------------------------------------------------------------------------------------------

def test_sampler_epochs_and_ranks():
    one = StepBatchSampler(10, 4, seed=3, start_step=0, total_steps=5)
    batches = list(one)
    stream = [k for b in batches for k in b]
    assert [e for e, _ in stream] == [0] * 10 + [1] * 10  # 5 steps x 4 = two whole epochs
    assert sorted(i for e, i in stream if e == 0) == list(range(10))
    assert [i for e, i in stream if e == 0] != list(range(10))  # shuffled
    ranks = [StepBatchSampler(10, 4, 3, 0, 5, rank=r, world_size=2) for r in range(2)]
    for step, batch in enumerate(batches):
        assert ranks[0].batch(step) + ranks[1].batch(step) == batch
    assert list(StepBatchSampler(10, 4, 3, start_step=3, total_steps=5)) == batches[3:]


# ---- training ------------------------------------------------------------------------------------------------

def test_overfitting_four_pairs_halves_the_stage1_loss(market4_h5, tmp_path):
    cfg = resolve_config("tiny", overrides={"device": "cpu", "stage1_iters": 100, "log_every": 1, "flip": False,
                                            "sample_every": 100, "ckpt_every": 100})
    train(cfg, market4_h5, tmp_path / "run", 1)
    stats = [json.loads(x) for x in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == list(range(1, 101))
    first, last = stats[0]["loss_g1"], np.mean([s["loss_g1"] for s in stats[-5:]])
    assert last < 0.5 * first, (first, last)


def test_run_directory_and_checkpoints(stage1_run, market_h5):
    ckpts = list_checkpoints(stage1_run, 1)
    assert [s for s, _ in ckpts] == [2, 3]  # keep_last=2 of checkpoints at steps 1, 2, 3
    for _, p in ckpts:
        ck = _state(p)  # tensors and primitives only
        assert ck["format"] == "pg2cli.checkpoint" and ck["stage"] == 1 and set(ck["nets"]) == {"g1"}
        assert ck["data"]["fingerprint"] == json.loads((stage1_run / "data.json").read_text())["stage1"]["fingerprint"]
    cfg = json.loads((stage1_run / "config.json").read_text())
    assert cfg["model"]["image_size"] == [64, 32] and cfg["preset"] == "tiny"
    stats = [json.loads(x) for x in (stage1_run / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [3] and {"loss_g1", "it_s", "lr"} <= stats[0].keys()
    assert (stage1_run / "samples" / "stage1-00000003.png").is_file()
    assert not list(stage1_run.rglob(".*partial*"))  # no temporary files left behind


def test_stage2_on_a_stage1_run(stage1_run, market_h5, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(stage1_run, run)
    result = train(tiny(stage2_iters=2, sample_every=2), market_h5, run, 2)
    assert result.step == 2 and result.checkpoint == latest_checkpoint(run, 2)
    s1, s2 = _state(latest_checkpoint(run, 1)), _state(result.checkpoint)
    assert set(s2["nets"]) == {"g1", "g2", "d"}
    _assert_same_tree(s1["nets"]["g1"], s2["nets"]["g1"], atol=0)  # G1 is frozen in stage II
    assert (run / "samples" / "stage2-00000002.png").is_file()
    assert set(json.loads((run / "data.json").read_text())) == {"stage1", "stage2"}

    gens = load_generators(run)
    assert gens.stage == 2 and gens.g2 is not None and gens.image_size == SIZE and gens.pose_map == "disc"
    src, pose = torch.rand(2, 3, *SIZE) * 2 - 1, torch.rand(2, 18, *SIZE) * 2 - 1
    coarse, final = gens(src, pose)
    assert coarse.shape == final.shape == (2, 3, *SIZE) and not torch.equal(coarse, final)
    assert final.abs().max() <= 1
    for g1only in (load_generators(run, stage=1), load_generators(result.checkpoint, stage=1)):
        assert g1only.stage == 1 and g1only.g2 is None and torch.equal(*g1only(src, pose))
        assert torch.allclose(g1only(src, pose)[0], coarse)

    # --g1 into a fresh run dir gives the same stage 2.
    other = train(tiny(stage2_iters=2), market_h5, tmp_path / "other", 2, g1=stage1_run)
    _assert_same_tree(_state(other.checkpoint)["nets"], s2["nets"])
    # G2/D-only settings may differ from the G1 run's (e.g. the DeepFashion G2's full skip); G1's may not.
    train(tiny(stage2_iters=1, **{"model.g2_full_skip": True, "model.d_channels": 4}), market_h5,
          tmp_path / "full-skip", 2, g1=stage1_run)
    with pytest.raises(UsageError, match="model.z_dim"):
        train(tiny(stage2_iters=1, **{"model.z_dim": 4}), market_h5, tmp_path / "other-g1", 2, g1=stage1_run)
    # --g1 into a folder that holds something else: refused, the folder untouched.
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "config.json").write_text("mine")
    with pytest.raises(OutputExistsError):
        train(tiny(stage2_iters=1), market_h5, tmp_path / "busy", 2, g1=stage1_run)
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["config.json"]
    assert (tmp_path / "busy" / "config.json").read_text() == "mine"


def test_resume_equals_uninterrupted(market4_h5, tmp_path):
    # batch 3 over 4 pairs: batches straddle epochs, flips on, so data order and flips must resume exactly.
    cfg = tiny(batch_size=3, stage1_iters=4, ckpt_every=2)
    full = train(cfg, market4_h5, tmp_path / "full", 1)
    train(tiny(batch_size=3, stage1_iters=2, ckpt_every=2), market4_h5, tmp_path / "split", 1)
    resumed = train(cfg, market4_h5, tmp_path / "split", 1, resume="auto")
    assert resumed.resumed_from.name == "stage1-00000002.pt" and resumed.step == 4
    a, b = _state(full.checkpoint), _state(resumed.checkpoint)
    _assert_same_tree(a["nets"], b["nets"], atol=1e-6)
    _assert_same_tree(a["optim"], b["optim"], atol=1e-6)

    # Stage 2 (G2, D with batch norm, two optimizers) resumes exactly as well.
    cfg2 = tiny(batch_size=3, stage2_iters=4, ckpt_every=2)
    full2 = train(cfg2, market4_h5, tmp_path / "full", 2)
    train(tiny(batch_size=3, stage2_iters=2, ckpt_every=2), market4_h5, tmp_path / "split", 2)
    resumed2 = train(cfg2, market4_h5, tmp_path / "split", 2, resume="auto")
    a, b = _state(full2.checkpoint), _state(resumed2.checkpoint)
    _assert_same_tree(a["nets"], b["nets"], atol=1e-6)
    _assert_same_tree(a["optim"], b["optim"], atol=1e-6)


def test_resume_refuses_changed_settings_and_other_data(market4_h5, market_h5, tmp_path):
    train(tiny(stage1_iters=1), market4_h5, tmp_path / "run", 1)
    with pytest.raises(UsageError, match=r"changed: lr: 0.0002 -> 0.001"):
        train(tiny(stage1_iters=2, lr=1e-3), market4_h5, tmp_path / "run", 1, resume="auto")
    with pytest.raises(DataError, match="is not the data"):
        train(tiny(stage1_iters=2), market_h5, tmp_path / "run", 1, resume="auto")
    with pytest.raises(UsageError, match="already holds stage-1 checkpoints"):
        train(tiny(stage1_iters=2), market4_h5, tmp_path / "run", 1)
    again = train(tiny(stage1_iters=1, seed=5), market4_h5, tmp_path / "run", 1, overwrite=True)
    assert again.resumed_from is None and again.config.seed == 5


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(market4_h5, tmp_path, monkeypatch):
    calls = {"n": 0}
    good = losses.RECONSTRUCTION["pose-mask"]

    def poisoned(pred, target, mask):  # finite for 2 steps, then NaN
        calls["n"] += 1
        loss = good(pred, target, mask)
        return loss * float("nan") if calls["n"] > 2 else loss

    monkeypatch.setitem(losses.RECONSTRUCTION, "pose-mask", poisoned)
    with pytest.raises(TrainingError, match=r"non-finite \(loss_g1=nan\) between steps 3 and 4.*stage1-00000002.pt is kept"):
        train(tiny(stage1_iters=10, ckpt_every=2), market4_h5, tmp_path / "run", 1)
    assert [s for s, _ in list_checkpoints(tmp_path / "run", 1)] == [2]


def test_stage2_needs_a_g1(market4_h5, tmp_path):
    with pytest.raises(UsageError, match="no stage-1 checkpoint"):
        train(tiny(), market4_h5, tmp_path / "empty", 2)


def test_load_generators_errors(stage1_run, tmp_path):
    with pytest.raises(DataError, match="no such checkpoint or run directory"):
        load_generators(tmp_path / "nothing")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="not a readable pg2cli checkpoint"):
        load_generators(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(DataError, match="not a pg2cli checkpoint"):
        load_generators(tmp_path / "foreign.pt")
    ck = _state(latest_checkpoint(stage1_run, 1))
    ck["config"]["model"]["base_channels"] = 4
    torch.save(ck, tmp_path / "mismatch.pt")
    with pytest.raises(DataError, match="weights do not match"):
        load_generators(tmp_path / "mismatch.pt")
    with pytest.raises(DataError, match="no stage-2 checkpoint"):
        load_generators(stage1_run, stage=2)


# ---- the command ---------------------------------------------------------------------------------------------

def test_cli_trains_both_stages(market4_h5, tmp_path):
    run = str(tmp_path / "run")
    common = ["train", "--data", str(market4_h5), "--out", run, "--preset", "tiny", "--device", "cpu",
              "--set", "model.base_channels=8", "--iters", "2"]
    r = runner.invoke(app, common + ["--stage", "1"])
    assert r.exit_code == 0, r.output
    assert "stage1-00000002.pt" in r.output and "--stage 2" in r.output
    r = runner.invoke(app, common + ["--stage", "2", "--threads", "0"])
    assert r.exit_code == 2 and "--threads 0: expected a count >= 1" in r.output
    import torch

    before = torch.get_num_threads()
    r = runner.invoke(app, common[:-2] + ["--stage", "2", "--iters", "2", "--threads", "1"])  # settings from the run
    assert torch.get_num_threads() == 1
    torch.set_num_threads(before)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["base_channels"] == 8
    r = runner.invoke(app, common + ["--stage", "1"])
    assert r.exit_code == 2 and "--resume auto" in r.output
    r = runner.invoke(app, common[:-1] + ["3", "--stage", "1", "--resume", "auto"])
    assert r.exit_code == 0 and "resumed from" in r.output


def test_cli_dry_run_prints_config_and_counts():
    r = runner.invoke(app, ["train", "--dry-run", "--preset", "market", "--set", "batch_size=4"])
    assert r.exit_code == 0, r.output
    assert '"batch_size": 4' in r.output
    for n in ("70,795,075", "6,058,883", "4,324,737"):
        assert n in r.output


@pytest.mark.parametrize("args, code, message", [
    (["--stage", "3"], 2, "--stage must be 1 or 2"),
    (["--amp", "fp8"], 2, "amp must be one of off, bf16, fp16"),
    (["--device", "tpu"], 2, "device must be one of"),
    (["--set", "nonsense"], 2, "expected KEY=VALUE"),
    (["--set", "model.wings=2"], 2, "unknown config key 'model.wings'"),
    (["--preset", "huge"], 2, "unknown preset 'huge'"),
    (["--batch-size", "0"], 2, "batch_size must be >= 1"),
    (["--resume", "auto", "--overwrite"], 2, "exclude each other"),
])
def test_cli_bad_flags(market4_h5, tmp_path, args, code, message):
    r = runner.invoke(app, ["train", "--data", str(market4_h5), "--out", str(tmp_path / "r"), "--preset", "tiny",
                            *args])
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output


def test_cli_wrong_size_and_schema(market4_h5, tmp_path):
    r = runner.invoke(app, ["train", "--data", str(market4_h5), "--out", str(tmp_path / "r"), "--preset", "market"])
    assert r.exit_code == 1 and "holds 64x32 images" in r.output and "128x64" in r.output, r.output
    bad = tmp_path / "other.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["schema"] = "someone.else"
    r = runner.invoke(app, ["train", "--data", str(bad), "--out", str(tmp_path / "r"), "--preset", "tiny"])
    assert r.exit_code == 1 and "unknown schema" in r.output, r.output
    (tmp_path / "text.h5").write_text("hello")
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "text.h5"), "--out", str(tmp_path / "r")])
    assert r.exit_code == 1 and "not an HDF5 file" in r.output, r.output
    assert not (tmp_path / "r").exists()


# ---- failed starts and process state -------------------------------------------------------------------------

def _denormal_survives() -> bool:
    return float(torch.tensor(1e-39, dtype=torch.float32) * 1.0) != 0.0


def test_cli_corrupt_data_leaves_no_run_folder_and_the_rerun_works(market4_h5, tmp_path, monkeypatch):
    import hostile as H

    bad = H.corrupt_chunks(market4_h5, tmp_path / "bad.h5")
    out = tmp_path / "new" / "run"  # its parent is made for it too, and removed with it
    cmd = ["train", "--out", str(out), "--preset", "tiny", "--device", "cpu", "--set", "model.base_channels=8",
           "--iters", "1"]
    r = runner.invoke(app, cmd + ["--data", str(bad)])
    assert r.exit_code == 1 and "cannot read pose_maps[" in r.output and "Traceback" not in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()

    # A DataError after the run folder was written (a chunk that only the training batches read) and before the
    # first checkpoint: the folder goes too.
    def damaged(pred, target, mask):
        raise DataError(f"{bad}: cannot read images[3] (boom); the file may be damaged or truncated")

    with monkeypatch.context() as m:
        m.setitem(losses.RECONSTRUCTION, "pose-mask", damaged)
        r = runner.invoke(app, cmd + ["--data", str(market4_h5)])
    assert r.exit_code == 1 and "cannot read images[3]" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()

    r = runner.invoke(app, cmd + ["--data", str(market4_h5)])  # the same command, no --overwrite needed
    assert r.exit_code == 0, r.output
    assert [s for s, _ in list_checkpoints(out, 1)] == [1]


def test_interrupted_start_keeps_what_was_there_before(market4_h5, tmp_path):
    def interrupt(record):
        raise KeyboardInterrupt

    cfg = tiny(stage1_iters=3, log_every=1, ckpt_every=2)
    flushed_before = not _denormal_survives()

    # A folder this call created: removed.
    with pytest.raises(KeyboardInterrupt):
        train(cfg, market4_h5, tmp_path / "fresh", 1, on_log=interrupt)
    assert not (tmp_path / "fresh").exists()
    assert (not _denormal_survives()) == flushed_before  # restored on the way out of a raise too

    # An empty folder the user made: kept, emptied of what pg2 wrote, so the same call works again.
    (tmp_path / "mine").mkdir()
    with pytest.raises(KeyboardInterrupt):
        train(cfg, market4_h5, tmp_path / "mine", 1, on_log=interrupt)
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())

    # --overwrite of a folder with someone else's file: the file and the folder stay.
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, market4_h5, tmp_path / "mine", 1, overwrite=True, on_log=interrupt)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]

    # A path that only names the existing folder once mkdir has made a folder on the way: still the user's.
    with pytest.raises(KeyboardInterrupt):
        train(cfg, market4_h5, tmp_path / "nothere" / ".." / "mine", 1, on_log=interrupt)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    assert not (tmp_path / "nothere").exists()  # the folder made on the way is removed while empty

    # Once a checkpoint exists nothing is removed: a resume interrupted before its next checkpoint...
    train(tiny(stage1_iters=2, ckpt_every=2), market4_h5, tmp_path / "mine", 1, overwrite=True)
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "mine").rglob("*"))
    with pytest.raises(KeyboardInterrupt):
        train(tiny(stage1_iters=4, log_every=1, ckpt_every=2), market4_h5, tmp_path / "mine", 1, resume="auto",
              on_log=interrupt)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "mine").rglob("*")) == before
    # ...and a run interrupted after its first checkpoint keeps it and the folder.
    seen = []

    def interrupt_at_3(record):
        seen.append(record["step"])
        if record["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, market4_h5, tmp_path / "later", 1, on_log=interrupt_at_3)
    assert seen == [1, 2, 3] and [s for s, _ in list_checkpoints(tmp_path / "later", 1)] == [2]


@pytest.mark.parametrize("flushing", [False, True])
def test_train_leaves_denormal_flushing_as_it_found_it(market4_h5, tmp_path, flushing):
    if not torch.set_flush_denormal(flushing) and flushing:
        pytest.skip("this CPU cannot flush denormals")
    before = _denormal_survives()
    assert before != flushing
    train(tiny(stage1_iters=1), market4_h5, tmp_path / "run", 1)
    assert _denormal_survives() == before


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(market4_h5, tmp_path):
    def interrupt(record):
        raise KeyboardInterrupt

    out = tmp_path / "run"
    train(tiny(stage1_iters=2, ckpt_every=2, log_every=1, sample_every=1), market4_h5, out, 1)
    train(tiny(stage2_iters=2, ckpt_every=2, log_every=1), market4_h5, out, 2)
    before = _snapshot(out)
    assert any(k.startswith("checkpoints/stage2") for k in before) and "stats.jsonl" in before

    for stage in (2, 1):  # a replacement that fails before its first checkpoint leaves the run as it was
        with pytest.raises(KeyboardInterrupt):
            train(tiny(stage1_iters=4, stage2_iters=4, ckpt_every=2, log_every=1, sample_every=1), market4_h5, out,
                  stage, overwrite=True, on_log=interrupt)
        assert _snapshot(out) == before, stage
        assert not (out / ".replaced").exists()

    seen = []

    def interrupt_at_3(record):  # after the new run's first checkpoint (step 2): the old run is gone
        seen.append(record["step"])
        if record["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(stage1_iters=4, ckpt_every=2, log_every=1), market4_h5, out, 1, overwrite=True,
              on_log=interrupt_at_3)
    assert [s for s, _ in list_checkpoints(out, 1)] == [2] and not list_checkpoints(out, 2)
    assert not (out / ".replaced").exists()
