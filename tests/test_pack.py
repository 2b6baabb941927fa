"""`pg2 pack` / `pg2 info` / `pg2 show`: round trip on real data, left-out items, atomicity, clean errors."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from pg2cli.cli import app
from pg2cli.data.pack import ESCAPES, NO_FILE, PAIR_NO_IMAGE, PAIR_NO_ROW, UNREADABLE, WRONG_SIZE, PackOptions, pack
from pg2cli.data.render import render_pose_maps, render_pose_mask, transform_keypoints
from pg2cli.data.schema import SCHEMA, SCHEMA_VERSION, inspect_packed
from pg2cli.errors import DataError, FormatError, OutputExistsError
from pg2cli.formats import read_annotations, read_pairs, write_annotations, write_pairs
from pg2cli.images import read_image

runner = CliRunner()


@pytest.fixture(scope="module")
def packed(packed_market):
    return packed_market


def test_round_trip_equals_sources(market, packed):
    out, report = packed
    ann = read_annotations(market / "annotations.csv")
    pairs = read_pairs(market / "pairs.csv")
    assert (report.num_images, report.num_pairs, report.left_out) == (187, 100, {})
    with h5py.File(out, "r") as f:
        names = [n.decode() for n in f["names"][()]]
        assert names == ann.names  # every row, in annotation order
        np.testing.assert_array_equal(f["keypoints"][()], ann.keypoints)  # NaN where missing
        for i in range(0, 187, 7):
            np.testing.assert_array_equal(f["images"][i], read_image(market / "images" / names[i]))
            np.testing.assert_array_equal(f["pose_maps"][i], render_pose_maps(ann.keypoints[i], (128, 64), dtype=np.uint8))
            np.testing.assert_array_equal(f["masks"][i], render_pose_mask(ann.keypoints[i], (128, 64)))
        assert [(names[a], names[b]) for a, b in f["pairs"][()]] == pairs
        assert f["images"].chunks == (1, 128, 64, 3) and f["pose_maps"].chunks == (1, 18, 128, 64)
        assert f["pose_maps"].compression == "gzip" and f["masks"].compression == "gzip"
        a = f.attrs
        assert a["schema"] == SCHEMA and a["schema_version"] == SCHEMA_VERSION
        assert (a["pose_map"], a["pose_radius"], a["mask_radius"], a["mask_closing"]) == ("disc", 4.0, 4, 5)
        assert (a["height"], a["width"]) == (128, 64)
        import hashlib

        assert a["source_annotations_sha256"] == hashlib.sha256((market / "annotations.csv").read_bytes()).hexdigest()
        assert a["source_pairs"].endswith("pairs.csv") and len(a["fingerprint"]) == 16


def test_size_is_at_least_20x_smaller_than_float32_npy(packed):
    _, report = packed
    npy_per_image = 18 * 128 * 64 * 4 + 128 * 64 + 2 * 128  # float32 maps + uint8 mask, with .npy headers
    assert npy_per_image / (report.file_bytes / report.num_images) >= 20


def test_workers_give_the_same_file(market, packed, tmp_path):
    out, report = packed
    r2 = pack(market / "images", market / "annotations.csv", market / "pairs.csv", tmp_path / "w.h5",
              PackOptions(workers=2))
    assert r2.fingerprint == report.fingerprint
    with h5py.File(out, "r") as a, h5py.File(tmp_path / "w.h5", "r") as b:
        for name in ("images", "pose_maps", "masks", "pairs"):
            np.testing.assert_array_equal(a[name][()], b[name][()])


def test_gaussian_and_float_pose_maps(market, tmp_path):
    ann = read_annotations(market / "annotations.csv")
    out = tmp_path / "g.h5"
    pack(market / "images", market / "annotations.csv", None, out,
         PackOptions(pose_map="gaussian", sigma=5.0, pose_dtype="float16", compression="small", workers=0))
    info = inspect_packed(out)
    assert (info.pose_map, info.pose_sigma, info.pose_dtype, info.num_pairs) == ("gaussian", 5.0, "float16", 0)
    with h5py.File(out, "r") as f:
        got = f["pose_maps"][3].astype(np.float32)
        assert f["images"].compression == "gzip"
    ref = render_pose_maps(ann.keypoints[3], (128, 64), "gaussian", sigma=5.0)
    assert np.abs(got - ref).max() <= 1e-3


def test_size_resizes_and_moves_keypoints(market, tmp_path):
    ann = read_annotations(market / "annotations.csv")
    out = tmp_path / "small.h5"
    pack(market / "images", market / "annotations.csv", market / "pairs.csv", out,
         PackOptions(size=(96, 96), only_paired=True, workers=0))
    with h5py.File(out, "r") as f:
        assert f["images"].shape[1:] == (96, 96, 3) and f["pose_maps"].shape[1:] == (18, 96, 96)
        names = [n.decode() for n in f["names"][()]]
        paired = {n for p in read_pairs(market / "pairs.csv") for n in p}
        assert set(names) == paired and len(names) == len(paired)
        i = ann.names.index(names[0])
        np.testing.assert_allclose(f["keypoints"][0], transform_keypoints(ann.keypoints[i], (128, 64), (96, 96)))
        assert f.attrs["resized"]


@pytest.fixture
def messy(market, tmp_path):
    """A folder with problems of every kind: missing file, broken image, wrong size, escaping name, bad pairs."""
    ann = read_annotations(market / "annotations.csv")
    img = tmp_path / "img"
    img.mkdir()
    rows = []
    for name, kp in list(ann)[:6]:
        shutil.copyfile(market / "images" / name, img / name)
        rows.append((name, kp))
    (img / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40 + b"IEND")
    import cv2

    cv2.imwrite(str(img / "big.png"), np.zeros((50, 50, 3), np.uint8))
    kp = ann.keypoints[0]
    rows += [("gone.png", kp), ("broken.png", kp), ("big.png", kp), ("../escape.png", kp)]
    write_annotations(tmp_path / "a.csv", rows)
    names = [r[0] for r in rows]
    write_pairs(tmp_path / "p.csv", [(names[0], names[1]), (names[2], "unknown.png"), (names[3], "gone.png"),
                                      (names[4], "broken.png"), (names[5], names[0])])
    return img, tmp_path / "a.csv", tmp_path / "p.csv"


def test_problems_are_left_out_with_reasons(messy, tmp_path):
    img, a, p = messy
    r = pack(img, a, p, tmp_path / "o.h5", PackOptions(workers=0))
    assert (r.num_images, r.num_pairs) == (6, 2)
    assert r.left_out == {NO_FILE: 1, ESCAPES: 1, UNREADABLE: 1, WRONG_SIZE: 1, PAIR_NO_ROW: 1, PAIR_NO_IMAGE: 2}
    assert r.examples[UNREADABLE][0].startswith("broken.png: ")
    assert "50x50, expected 128x64" in r.examples[WRONG_SIZE][0]
    assert json.loads(inspect_packed(tmp_path / "o.h5").attrs["left_out"]) == r.left_out


def test_strict_makes_problems_errors(messy, tmp_path):
    img, a, p = messy
    with pytest.raises(DataError, match="--strict"):
        pack(img, a, p, tmp_path / "o.h5", PackOptions(strict=True, workers=0))
    assert not (tmp_path / "o.h5").exists() and not list(tmp_path.glob(".o.partial*"))


def test_refuses_to_overwrite(packed, market):
    out, _ = packed
    with pytest.raises(OutputExistsError):
        pack(market / "images", market / "annotations.csv", None, out)


def test_failure_midway_leaves_no_file(market, tmp_path):
    def boom(done, total):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        pack(market / "images", market / "annotations.csv", None, tmp_path / "x.h5", PackOptions(workers=0),
             progress=boom)
    assert list(tmp_path.iterdir()) == []


_KILL_CHILD = """
import sys, time
from pg2cli.data.pack import PackOptions, pack
def slow(done, total):
    print("progress", done, flush=True)
    time.sleep(60)
pack(sys.argv[1], sys.argv[2], None, sys.argv[3], PackOptions(workers=0), progress=slow)
"""


def test_killed_pack_leaves_no_final_file(market, tmp_path):
    out = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(market / "images"),
                             str(market / "annotations.csv"), str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("progress")  # mid-pack: a batch is written, more to come
        assert list(tmp_path.glob(".killed.partial-*.h5"))  # the data goes to a temporary name
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert not out.exists()


def test_info_and_show_cli(packed, tmp_path, market):
    out, _ = packed
    res = runner.invoke(app, ["info", str(out)])
    assert res.exit_code == 0, res.output
    assert "187 at 128x64" in res.output and "disc (radius 4)" in res.output
    res = runner.invoke(app, ["info", str(out), "--json"])
    assert json.loads(res.output)["num_pairs"] == 100
    for args in (["--pairs", "-n", "4"], ["-n", "5", "--seed", "1"]):
        png = tmp_path / f"sheet{len(args)}.png"
        res = runner.invoke(app, ["show", str(out), "-o", str(png), *args])
        assert res.exit_code == 0, res.output
        sheet = read_image(png)
        assert sheet.shape[0] >= 128 and sheet.shape[1] >= 4 * 64
    png = tmp_path / "files.png"
    res = runner.invoke(app, ["show", "--images", str(market / "images"), "--annotations",
                              str(market / "annotations.csv"), "--pairs-file", str(market / "pairs.csv"),
                              "-n", "2", "-o", str(png)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["show", str(out), "--images", "x", "-o", str(png)])
    assert res.exit_code == 2 and "either" in res.output


def test_pack_cli(market, tmp_path):
    out = tmp_path / "cli.h5"
    args = ["pack", "--images", str(market / "images"), "--annotations", str(market / "annotations.csv"),
            "--pairs", str(market / "pairs.csv"), "-o", str(out), "--workers", "0"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "images packed" in res.output and inspect_packed(out).num_images == 187
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "already exists" in res.output
    res = runner.invoke(app, [*args, "--overwrite", "--pose-map", "square"])
    assert res.exit_code == 2 and "--pose-map 'square'" in res.output


def _edit_copy(src, dst, fn):
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        fn(f)
    return dst


def test_clean_errors_for_bad_files(packed, tmp_path):
    out, _ = packed
    cases = {
        "missing": (tmp_path / "nope.h5", DataError, "no such file"),
        "text": (tmp_path / "t.h5", FormatError, "not an HDF5 file"),
        "schema": (_edit_copy(out, tmp_path / "s.h5", lambda f: f.attrs.__setitem__("schema", "other")),
                   FormatError, "unknown schema"),
        "version": (_edit_copy(out, tmp_path / "v.h5", lambda f: f.attrs.__setitem__("schema_version", 99)),
                    FormatError, "newer than this pg2cli"),
        "dataset": (_edit_copy(out, tmp_path / "d.h5", lambda f: f.__delitem__("masks")), FormatError,
                    "missing dataset masks"),
    }
    (tmp_path / "t.h5").write_text("hello")
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    cases["truncated"] = (trunc, FormatError, "truncated")
    for what, (path, err, msg) in cases.items():
        with pytest.raises(err, match=msg):
            inspect_packed(path)
        res = runner.invoke(app, ["info", str(path)])
        assert res.exit_code == 1 and msg in res.output and "Traceback" not in res.output, what
