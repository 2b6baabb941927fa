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


# JSON names that would collide, and runs that read nothing.


@pytest.fixture
def stub_cli(monkeypatch):
    """The CLI with StubBackend instead of a real model (fast, deterministic)."""
    import pg2cli.pose

    monkeypatch.setattr(pg2cli.pose, "get_backend", lambda name, **kwargs: StubBackend())


def colliding_folder(tmp_path):
    """x.png / x.jpg side by side, in the root and in a subfolder, plus images whose stem is their own."""
    root = tmp_path / "coll"
    for i, name in enumerate(["x.png", "x.jpg", "a/x.png", "a/x.bmp", "y.png", "a/z.png"]):
        write_png(root / name, np.full((40, 20, 3), 10 + i, np.uint8))  # StubBackend: keypoints move with the mean
    return root


def json_files(jdir):
    return {p.relative_to(jdir).as_posix(): p.read_bytes() for p in sorted(jdir.rglob("*.json"))}


def test_images_sharing_a_stem_get_distinct_json(tmp_path):
    from pg2cli.pose.extract import json_names

    root = colliding_folder(tmp_path)
    out, jdir = tmp_path / "ann.csv", tmp_path / "json"
    res = extract_poses(root, out, StubBackend(), json_dir=jdir, batch_size=2)
    assert sorted(json_files(jdir)) == ["a/x.bmp_keypoints.json", "a/x.png_keypoints.json", "a/z_keypoints.json",
                                        "x.jpg_keypoints.json", "x.png_keypoints.json", "y_keypoints.json"]
    assert res.json_suffixed == ["a/x.bmp", "a/x.png", "x.jpg", "x.png"]
    ann = read_annotations(out)
    names = json_names(ann.names)
    for name in ann.names:  # each file holds its own image's keypoints
        people = read_openpose_json(json_path(jdir, name, keep_suffix=name in names))
        np.testing.assert_allclose(people[0].keypoints, ann.get(name), atol=0.5, equal_nan=True)
    assert not np.allclose(ann.get("x.png"), ann.get("x.jpg"), equal_nan=True)
    # Shards (and resumed runs) name the files from the whole folder, exactly as one run does.
    for i in range(2):
        extract_poses(root, tmp_path / f"s{i}.csv", StubBackend(), json_dir=tmp_path / "sharded", shard=(i, 2))
    assert json_files(tmp_path / "sharded") == json_files(jdir)
    assert len(read_annotations(tmp_path / "s0.csv")) not in (0, 6)  # the pairs really were split
    resumed = tmp_path / "resumed.csv"
    resumed.write_text("".join(out.read_text().splitlines(keepends=True)[:3]))  # x.png's pair done, not x.jpg
    extract_poses(root, resumed, StubBackend(), json_dir=tmp_path / "rj")
    assert set(json_files(tmp_path / "rj")) <= set(json_files(jdir))
    # A stem that is another image's kept suffix: still one file per image.
    write_png(root / "x.png.jpg", np.full((40, 20, 3), 99, np.uint8))
    extract_poses(root, tmp_path / "more.csv", StubBackend(), json_dir=tmp_path / "more")
    assert len(json_files(tmp_path / "more")) == 7 and (tmp_path / "more" / "x.png.jpg_keypoints.json").is_file()


def test_cli_reports_json_that_keeps_the_suffix(tmp_path, stub_cli):
    root = colliding_folder(tmp_path)
    args = ["extract-pose", str(root), "-o", str(tmp_path / "ann.csv"), "--json-dir", str(tmp_path / "js")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if "share a name stem" in line]
    assert len(lines) == 1 and "4 images" in lines[0] and "a/x.bmp_keypoints.json" in lines[0]
    r = runner.invoke(app, ["extract-pose", str(root), "-o", str(tmp_path / "b.csv")])  # no JSON: nothing to say
    assert r.exit_code == 0 and "name stem" not in r.output


def test_cli_nothing_readable_leaves_no_csv(tmp_path, stub_cli):
    root = tmp_path / "bad"
    root.mkdir()
    add_bad_files(root)
    out = tmp_path / "ann.csv"
    r = runner.invoke(app, ["extract-pose", str(root), "-o", str(out), "--json-dir", str(tmp_path / "js")])
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert "none of the 3 images could be read" in r.output
    assert not out.exists() and not list(tmp_path.glob(".ann*"))  # no header-only CSV, no temporary file
    assert len(errors_path(out).read_text().splitlines()) == 4  # but the list of bad files stays
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["extract-pose", str(empty), "-o", str(out)])
    assert r.exit_code == 1 and "no images found" in r.output and not out.exists()
    # --overwrite of an existing CSV: still nothing lost when nothing can be read.
    out.write_text("name:keypoints_y:keypoints_x\n")
    r = runner.invoke(app, ["extract-pose", str(root), "-o", str(out), "--overwrite"])
    assert r.exit_code == 1 and out.read_text() == "name:keypoints_y:keypoints_x\n"


def test_a_resumed_run_that_reads_nothing_new_leaves_the_csv_untouched(folder, tmp_path):
    out = tmp_path / "ann.csv"
    extract_poses(folder, out, StubBackend())
    before = out.read_bytes()
    add_bad_files(folder)
    res = extract_poses(folder, out, StubBackend())
    assert res.processed == 0 and res.already_done == 7 and len(res.errors) == 3
    assert out.read_bytes() == before and errors_path(out).is_file()
    # Even a partial last line (a killed run) stays until a row can be written after it.
    partial = before + b"sub/x.png:[1,"
    out.write_bytes(partial)
    extract_poses(folder, out, StubBackend())
    assert out.read_bytes() == partial
    # --overwrite of a CSV with rows, nothing readable: the old rows stay.
    bad_only = tmp_path / "bad"
    bad_only.mkdir()
    add_bad_files(bad_only)
    with pytest.raises(DataError, match="none of the 3 images could be read"):
        extract_poses(bad_only, out, StubBackend(), overwrite=True)
    assert out.read_bytes() == partial


def test_a_fresh_csv_appears_only_once_it_has_a_row(folder, tmp_path):
    """The header and first batch go to a temporary file that is renamed into place; then rows are appended."""
    out = tmp_path / "ann.csv"
    seen = []

    class Watching(StubBackend):
        def detect(self, images):
            seen.append(out.read_text() if out.exists() else None)
            return super().detect(images)

    stale = tmp_path / ".ann.partial-999999999.csv"  # left by a killed run (no such process)
    stale.write_text("name:keypoints_y:keypoints_x\n")
    extract_poses(folder, out, Watching(), batch_size=3)
    assert seen[0] is None and seen[1].count("\n") == 4 and seen[2].count("\n") == 7
    assert len(read_annotations(out)) == 7 and not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.csv", "images"]
    # An empty shard (nothing to read, nothing failed) still gives a valid, header-only CSV.
    one = tmp_path / "one"
    write_png(one / "a.png", np.full((40, 20, 3), 50, np.uint8))
    empty_shard = next((i, 4) for i in range(4) if not in_shard("a.png", (i, 4)))
    res = extract_poses(one, tmp_path / "s.csv", StubBackend(), shard=empty_shard)
    assert res.total == 0 and (tmp_path / "s.csv").read_text() == "name:keypoints_y:keypoints_x\n"


def test_a_last_row_without_its_line_end_is_kept_on_resume(folder, tmp_path):
    """A CSV written by another tool may end without a line end: its last row is whole, not a killed write."""
    out = tmp_path / "ann.csv"
    extract_poses(folder, out, StubBackend())
    lines = out.read_text().splitlines()
    kept = [lines[0]] + [ln for ln in lines[1:] if not ln.startswith("sub/")]
    out.write_text("\n".join(kept))  # no final line end after the last row
    res = extract_poses(folder, out, StubBackend())
    assert res.already_done == len(kept) - 1 and res.processed == 2
    again = read_annotations(out)
    assert sorted(again.names) == sorted(ln.split(":")[0] for ln in lines[1:])  # every image once
    assert out.read_text().endswith("\n")


def test_names_the_csv_cannot_hold_are_reported_not_fatal(folder, tmp_path):
    import os

    write_png(folder / " lead.png", np.full((40, 20, 3), 50, np.uint8))
    raw = os.path.join(os.fsencode(folder), b"caf\xe9.png")  # a Latin-1 name, not valid UTF-8
    assert cv2.imwrite(str(folder / "x.png"), np.full((40, 20, 3), 60, np.uint8))
    os.rename(os.fsencode(folder / "x.png"), raw)
    out = tmp_path / "ann.csv"
    for _ in range(2):  # and a rerun neither duplicates nor crashes
        res = extract_poses(folder, out, StubBackend())
        reasons = dict(res.errors)
        assert "starts or ends with a space" in reasons[" lead.png"]
        assert "not valid UTF-8" in reasons["caf\\xe9.png"]
        names = read_annotations(out).names
        assert len(names) == len(set(names)) == 7 and "lead.png" not in names
    assert "caf\\xe9.png" in errors_path(out).read_text(encoding="utf-8")


def test_an_interrupted_resume_keeps_the_list_of_bad_files(folder, tmp_path):
    add_bad_files(folder)
    out = tmp_path / "ann.csv"
    extract_poses(folder, out, StubBackend())
    listed = errors_path(out).read_text()
    assert "zero.png" in listed

    class Interrupting(StubBackend):
        def detect(self, images):
            raise KeyboardInterrupt

    write_png(folder / "aaa.png", np.full((40, 20, 3), 70, np.uint8))  # first in line, before the bad files
    with pytest.raises(KeyboardInterrupt):
        extract_poses(folder, out, Interrupting(), batch_size=1)
    assert errors_path(out).read_text() == listed  # the bad files were not even retried
