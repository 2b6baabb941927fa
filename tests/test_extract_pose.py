"""`pg2 extract-pose` and its core: folder walking, CSV + JSON, resume after a kill, bad files, shards, weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from pg2cli.cli import app
from pg2cli.errors import DataError, MissingWeightsError
from pg2cli.formats import OpenPosePerson, read_annotations, read_openpose_json
from pg2cli.pose.extract import errors_path, extract_poses, in_shard, json_path, parse_shard

runner = CliRunner()


class StubBackend:
    """A fast deterministic backend: two people in bright images, nobody in black ones."""

    name = "stub"

    def __init__(self):
        self.calls = []

    def detect(self, images):
        self.calls.append(len(images))
        out = []
        for im in images:
            h, w = im.shape[:2]
            if im.max() == 0:
                out.append([])
                continue
            base = np.stack([np.linspace(0, w - 1, 18), np.linspace(0, h - 1, 18)], 1).astype(np.float32)
            base[3] = np.nan  # one keypoint missing
            conf = np.where(np.isnan(base[:, 0]), 0, 0.9).astype(np.float32)
            second = OpenPosePerson(base[::-1].copy() * 0.5 + 0.25, conf * 0.5)
            out.append([OpenPosePerson(base + float(im.mean()) % 3, conf), second])
        return out

    def close(self):
        pass


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


@pytest.fixture
def folder(tmp_path):
    """A small folder: nested, several formats, a black image, and the odd kinds of images users have."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    write_png(root / "a.png", rng.integers(1, 255, (40, 20, 3), dtype=np.uint8))
    write_png(root / "sub" / "b.jpg", rng.integers(1, 255, (40, 20, 3), dtype=np.uint8))
    write_png(root / "sub" / "deeper" / "c.bmp", rng.integers(1, 255, (30, 30, 3), dtype=np.uint8))
    write_png(root / "black.png", np.zeros((40, 20, 3), np.uint8))
    write_png(root / "gray.png", rng.integers(1, 255, (40, 20), dtype=np.uint8))
    write_png(root / "rgba.png", rng.integers(1, 255, (40, 20, 4), dtype=np.uint8))
    write_png(root / "deep16.png", rng.integers(256, 65535, (40, 20, 3), dtype=np.uint16))
    (root / "notes.txt").write_text("not an image, not listed")
    return root


def add_bad_files(root):
    (root / "zero.png").write_bytes(b"")
    good = cv2.imencode(".png", np.full((40, 20, 3), 99, np.uint8))[1].tobytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "text.jpg").write_text("hello")


def test_folder_to_csv_and_json(folder, tmp_path):
    out, jdir = tmp_path / "ann.csv", tmp_path / "json"
    backend = StubBackend()
    res = extract_poses(folder, out, backend, json_dir=jdir, batch_size=3)
    names = ["a.png", "black.png", "deep16.png", "gray.png", "rgba.png", "sub/b.jpg", "sub/deeper/c.bmp"]
    ann = read_annotations(out)
    assert ann.names == names and res.processed == 7 and res.with_person == 6 and not res.errors
    assert max(backend.calls) <= 3
    assert np.isnan(ann.get("black.png")).all()  # nobody: an all -1 row
    for name in names:
        people = read_openpose_json(json_path(jdir, name))
        if name == "black.png":
            assert people == []
            continue
        assert len(people) == 2  # every person in the JSON, the best one in the CSV
        np.testing.assert_allclose(people[0].keypoints, ann.get(name), atol=0.5, equal_nan=True)
        assert people[0].confidence[3] == 0 and people[0].confidence[0] == pytest.approx(0.9)
    assert (jdir / "sub" / "deeper" / "c_keypoints.json").is_file()
    assert not errors_path(out).exists()


def test_bad_files_are_skipped_and_listed(folder, tmp_path):
    add_bad_files(folder)
    out = tmp_path / "ann.csv"
    res = extract_poses(folder, out, StubBackend(), batch_size=4)
    assert len(read_annotations(out)) == 7
    reasons = dict(res.errors)
    assert set(reasons) == {"zero.png", "truncated.png", "text.jpg"}
    assert "empty" in reasons["zero.png"] and "truncated" in reasons["truncated.png"]
    lines = errors_path(out).read_text().splitlines()
    assert lines[0] == "name,reason" and len(lines) == 4 and any(line.startswith("text.jpg,") for line in lines)


def test_an_image_the_backend_fails_on_is_skipped_and_listed(folder, tmp_path):
    class Picky(StubBackend):
        def detect(self, images):
            if any(im.shape[1] == 30 for im in images):  # sub/deeper/c.bmp
                raise ValueError("cannot handle a square image")
            return super().detect(images)

    out = tmp_path / "ann.csv"
    res = extract_poses(folder, out, Picky(), batch_size=8)
    assert res.processed == 6 and len(read_annotations(out)) == 6
    reason = "pose detection failed on this image (ValueError: cannot handle a square image)"
    assert res.errors == [("sub/deeper/c.bmp", reason)]


def test_resume_processes_only_missing_rows_and_drops_a_partial_line(folder, tmp_path):
    out = tmp_path / "ann.csv"
    extract_poses(folder, out, StubBackend(), batch_size=2)
    full = out.read_text()
    lines = full.splitlines(keepends=True)
    # A kill in the middle of the third row's write: two complete rows, then half a line.
    out.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    backend = StubBackend()
    res = extract_poses(folder, out, backend, batch_size=2)
    assert res.already_done == 2 and res.processed == 5 and sum(backend.calls) == 5
    assert sorted(out.read_text().splitlines()) == sorted(full.splitlines())  # same rows, no duplicate
    res = extract_poses(folder, out, StubBackend())
    assert res.processed == 0 and res.already_done == 7


def test_a_foreign_file_is_refused_and_overwrite_starts_afresh(folder, tmp_path):
    out = tmp_path / "ann.csv"
    out.write_text("from,to\na,b\n")
    with pytest.raises(DataError, match="not an annotation CSV"):
        extract_poses(folder, out, StubBackend())
    assert out.read_text() == "from,to\na,b\n"
    out.write_bytes(b"\x89PNG binary without any line end")
    with pytest.raises(DataError, match="not an annotation CSV"):
        extract_poses(folder, out, StubBackend())
    assert out.read_bytes() == b"\x89PNG binary without any line end"  # left as it was
    res = extract_poses(folder, out, StubBackend(), overwrite=True)
    assert res.processed == 7 and len(read_annotations(out)) == 7
    out.write_text("name:keypoints_y:key")  # killed while writing the header: starts afresh
    assert extract_poses(folder, out, StubBackend()).processed == 7


def test_a_folder_of_unreadable_files_fails(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    add_bad_files(root)
    (root / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(DataError, match="none of the 4 images could be read"):
        extract_poses(root, tmp_path / "ann.csv", StubBackend())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images found"):
        extract_poses(empty, tmp_path / "x.csv", StubBackend())


def test_shards_partition_the_folder_exactly(shared_data, tmp_path):
    root = shared_data / "market" / "images"
    seen = []
    for i in range(3):
        out = tmp_path / f"s{i}.csv"
        res = extract_poses(root, out, StubBackend(), batch_size=64, shard=(i, 3))
        seen.append(read_annotations(out).names)
        assert res.total == len(seen[-1]) and 40 <= res.total <= 85  # roughly a third each
    flat = [n for names in seen for n in names]
    assert len(flat) == len(set(flat)) == 187
    assert seen[1] == [n for n in sorted(flat) if in_shard(n, (1, 3))]  # deterministic by name
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(Exception, match="--shard"):
            parse_shard(bad)


# The command line, with the real offline backend.

def test_cli_bad_files_exit_0_with_a_summary(folder, tmp_path):
    pytest.importorskip("mediapipe")
    add_bad_files(folder)
    out = tmp_path / "ann.csv"
    r = runner.invoke(app, ["extract-pose", str(folder), "-o", str(out), "--backend", "mediapipe",
                            "--json-dir", str(tmp_path / "js")])
    assert r.exit_code == 0, r.output
    assert "unreadable, skipped" in r.output and "truncated.png" in r.output
    assert len(read_annotations(out)) == 7 and len(errors_path(out).read_text().splitlines()) == 4


def test_cli_all_unreadable_is_one_line_exit_1(tmp_path):
    pytest.importorskip("mediapipe")
    root = tmp_path / "bad"
    root.mkdir()
    add_bad_files(root)
    (root / "truncated.png").unlink()
    r = runner.invoke(app, ["extract-pose", str(root), "-o", str(tmp_path / "a.csv"), "--backend", "mediapipe"])
    assert r.exit_code == 1
    assert r.output.count("error:") == 1 and "none of the 2 images could be read" in r.output


def test_cli_under_torchrun_takes_its_rank_shard(folder, tmp_path, monkeypatch):
    pytest.importorskip("mediapipe")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "ann.csv"
    r = runner.invoke(app, ["extract-pose", str(folder), "-o", str(out), "--backend", "mediapipe"])
    assert r.exit_code == 0, r.output
    assert not out.exists()
    names = read_annotations(tmp_path / "ann.rank1.csv").names
    assert names and all(in_shard(n, (1, 2)) for n in names)
    r = runner.invoke(app, ["extract-pose", str(folder), "-o", str(out), "--shard", "0/2", "--backend", "mediapipe"])
    assert r.exit_code == 2 and "torchrun" in r.output


def test_cli_refine_is_for_the_openpose_backend_only(folder, tmp_path):
    out = tmp_path / "ann.csv"
    r = runner.invoke(app, ["extract-pose", str(folder), "-o", str(out), "--backend", "mediapipe", "--refine"])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "--refine applies to the openpose backend only" in r.output
    assert not out.exists()
    r = runner.invoke(app, ["extract-pose", "--help"])
    assert "--refine" in r.output and "--no-refine" in r.output


@pytest.mark.slow
def test_cli_resumes_after_a_killed_process(shared_data, tmp_path):
    """Kill a real run mid-way (SIGKILL): the CSV stays valid, a rerun completes it with no duplicate."""
    pytest.importorskip("mediapipe")
    root = shared_data / "walk"
    out = tmp_path / "ann.csv"
    cmd = [sys.executable, "-m", "pg2cli", "extract-pose", str(root), "-o", str(out), "--backend", "mediapipe",
           "--batch-size", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 9:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = read_annotations(out)  # parseable as it is
    assert 8 <= len(partial) < 68
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ann = read_annotations(out)  # would raise on a duplicate name
    assert len(ann) == 68 and ann.names[: len(partial)] == partial.names
    fresh = tmp_path / "fresh.csv"
    subprocess.run(cmd[:6] + [str(fresh)] + cmd[7:], check=True, capture_output=True)
    assert sorted(out.read_text().splitlines()) == sorted(fresh.read_text().splitlines())


# The openpose backend's weights.


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    from pg2cli.pose.openpose import save_random_weights

    return save_random_weights(tmp_path_factory.mktemp("weights") / "body_pose_model.pth")


def test_cli_openpose_with_weights_from_a_folder_or_the_environment(folder, tmp_path, random_weights, monkeypatch):
    import torch

    torch.set_num_threads(1)
    out = tmp_path / "ann.csv"
    args = ["extract-pose", str(folder), "-o", str(out), "--device", "cpu", "--scale", "32", "--batch-size", "4"]
    r = runner.invoke(app, args + ["--weights", str(random_weights.parent)])
    assert r.exit_code == 0, r.output
    assert len(read_annotations(out)) == 7
    monkeypatch.setenv("PG2_OPENPOSE_WEIGHTS", str(random_weights))
    r = runner.invoke(app, args + ["--overwrite"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, args + ["--overwrite", "--refine"])  # sub-pixel keypoints: same rows, other numbers
    assert r.exit_code == 0, r.output
    assert len(read_annotations(out)) == 7
    r = runner.invoke(app, args + ["--overwrite", "--weights", str(tmp_path / "nowhere")])
    assert r.exit_code == 1 and "nowhere" in r.output and r.output.count("\n") == 1


def test_missing_weights_offline_is_one_line_saying_how_to_get_them(monkeypatch, tmp_path):
    import huggingface_hub

    from pg2cli.pose.openpose import resolve_weights

    def not_cached(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("not in the cache")

    monkeypatch.delenv("PG2_OPENPOSE_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", not_cached)
    with pytest.raises(MissingWeightsError) as e:
        resolve_weights(None)
    message = str(e.value)
    assert "\n" not in message and "--weights" in message and "PG2_OPENPOSE_WEIGHTS" in message
    assert "huggingface-cli download lllyasviel/Annotators body_pose_model.pth" in message


def test_a_file_that_is_not_the_body_model_is_refused(tmp_path):
    import torch

    from pg2cli.pose.openpose import load_body_model

    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="not a PyTorch weights file"):
        load_body_model(tmp_path / "junk.pth")
    torch.save({"conv1_1.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(DataError, match="tensors of the OpenPose body model are missing"):
        load_body_model(tmp_path / "partial.pth")
