"""Hostile inputs, command by command: each gets one clear `error:` line and its exit code, never a traceback,
and nothing is left under an output's final name. docs/errors.md is the table of these cases.

Every hostile file is made at test time (tests/hostile.py) from real Market-1501 crops copied into tmp_path.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from typer.testing import CliRunner

import hostile as H
from pg2cli.cli import app
from pg2cli.formats import read_annotations, write_annotations, write_openpose_json, write_pairs
from pg2cli.formats.openpose import OpenPosePerson
from pg2cli.images import ImageError, read_image

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


# ---------------------------------------------------------------------------------------------- helpers


def cli(*args) -> Result:
    """Run `pg2 ARGS` in process; any exception that escaped the command's error boundary fails the test."""
    r = runner.invoke(app, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"pg2 {' '.join(map(str, args))}: uncaught {type(r.exception).__name__} "
                             f"(a traceback for the user):\n{r.output}") from r.exception
    assert "Traceback" not in r.output, r.output
    return r


def no_partials(*folders: Path) -> None:
    """No temporary '.NAME.partial-PID' file is left in any of `folders` (recursively)."""
    for folder in folders:
        if folder.is_dir():
            left = [p for p in folder.rglob("*") if ".partial-" in p.name]
            assert not left, f"temporary files left behind: {left}"


def refused(args, code: int, message: str, outputs=()) -> str:
    """`pg2 ARGS` fails with exit `code`, one `error:` line holding `message`, and writes none of `outputs`."""
    r = cli(*args)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == code, r.output
    assert lines and lines[-1].startswith("error: "), r.output
    assert sum(ln.startswith("error: ") for ln in lines) == 1, r.output
    assert message in lines[-1], f"expected {message!r} in: {lines[-1]}"
    for out in map(Path, outputs):
        assert not out.exists(), f"{out} was written"
        no_partials(out.parent)
    return lines[-1]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def market_ann(market):
    return read_annotations(market / "annotations.csv")


@pytest.fixture
def crops(market, market_ann, tmp_path):
    """A folder of 3 real crops (copied) and their keypoints: (folder, names, keypoints [3, 18, 2])."""
    img = tmp_path / "img"
    img.mkdir()
    names = market_ann.names[:3]
    for n in names:
        shutil.copyfile(market / "images" / n, img / n)
    return img, names, market_ann.keypoints[:3]


def _hostile_images(folder: Path, rgb: np.ndarray) -> dict[str, str]:
    """Write one broken image of each kind into `folder`: file name -> the reason a reader must give."""
    files = {
        "truncated.jpg": (H.truncated(H.jpeg_bytes(rgb)), "truncated image file"),
        "truncated.png": (H.truncated(H.png_bytes(rgb)), "truncated image file"),
        "empty.png": (b"", "empty file (0 bytes)"),
        "html.jpg": (H.NOT_AN_IMAGE, "not a readable image"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    H.bomb_png(folder / "bomb.png")
    H.bomb_jpeg(folder / "bomb.jpg")
    reasons = {k: why for k, (_, why) in files.items()}
    reasons["bomb.png"] = reasons["bomb.jpg"] = "decompression-bomb guard"
    return reasons


def _pack(images, annotations, pairs, out, *extra):
    args = ["pack", "--images", images, "--annotations", annotations, "-o", out, "--workers", "0", *extra]
    return cli(*args, *(["--pairs", pairs] if pairs else []))


@pytest.fixture(scope="module")
def data(market, tmp_path_factory):
    """Packed files: the first 4 real pairs at 64x32 ('small'), the same at radius 3 ('other': another
    fingerprint), and at 128x64 ('big': another size)."""
    d = tmp_path_factory.mktemp("packed")
    lines = (market / "pairs.csv").read_text().splitlines()[:5]
    (d / "pairs.csv").write_text("\n".join(lines) + "\n")
    out = {}
    for key, extra in (("small", ["--size", "64x32"]), ("other", ["--size", "64x32", "--radius", "3"]),
                       ("big", [])):
        out[key] = d / f"{key}.h5"
        r = _pack(market / "images", market / "annotations.csv", d / "pairs.csv", out[key], "--only-paired", *extra)
        assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """A tiny trained run (1 step of each stage) on data['small']: the run dir, its stage-1 and stage-2 files."""
    from pg2cli.train.checkpoint import latest_checkpoint
    from pg2cli.train.config import resolve_config
    from pg2cli.train.loop import train

    cfg = resolve_config("tiny", overrides={
        "device": "cpu", "log_every": 1000, "sample_every": 1000, "ckpt_every": 1000, "model.base_channels": 8,
        "model.z_dim": 8, "model.d_channels": 8, "num_samples": 2, "stage1_iters": 1, "stage2_iters": 1,
        "batch_size": 2})
    out = tmp_path_factory.mktemp("runs") / "run"
    train(cfg, data["small"], out, 1)
    stage1_only = out.with_name("stage1-only")
    shutil.copytree(out, stage1_only)
    train(cfg, data["small"], out, 2)
    return {"dir": out, "s1": latest_checkpoint(out, 1), "s2": latest_checkpoint(out, 2), "s1_dir": stage1_only}


@pytest.fixture(scope="module")
def pose_json(market_ann, tmp_path_factory):
    """A valid OpenPose JSON of a real annotated pose."""
    path = tmp_path_factory.mktemp("pose") / "pose.json"
    write_openpose_json(path, [OpenPosePerson(market_ann.keypoints[1], np.ones(18, np.float32))])
    return path


# ---------------------------------------------------------------------------------------------- images


def test_pack_leaves_out_broken_images_and_strict_refuses_them(crops, tmp_path):
    img, names, kp = crops
    reasons = _hostile_images(img, read_image(img / names[0]))
    rows = list(zip(names, kp)) + [(n, kp[0]) for n in reasons]
    write_annotations(tmp_path / "a.csv", rows)
    out = tmp_path / "o.h5"
    r = _pack(img, tmp_path / "a.csv", None, out)
    assert r.exit_code == 0, r.output
    assert "left out: row: unreadable image" in r.output
    import h5py

    with h5py.File(out) as f:
        assert [n.decode() for n in f["names"][()]] == names  # the good ones, in order
        assert json.loads(f.attrs["left_out"]) == {"row: unreadable image": len(reasons)}
    refused(["pack", "--images", img, "--annotations", tmp_path / "a.csv", "-o", tmp_path / "strict.h5",
             "--strict", "--workers", "0"], 1, "--strict: 1 item(s) cannot be packed; first: row: unreadable image: "
            "truncated.jpg: truncated image file", [tmp_path / "strict.h5"])


def test_extract_pose_skips_broken_images_naming_each_reason(crops, tmp_path):
    pytest.importorskip("mediapipe")
    img, names, _ = crops
    reasons = _hostile_images(img, read_image(img / names[0]))
    out = tmp_path / "ann.csv"
    r = cli("extract-pose", img, "-o", out, "--backend", "mediapipe")
    assert r.exit_code == 0, r.output
    assert read_annotations(out).names == sorted(names)
    import csv

    with open(out.with_name(out.name + ".errors.csv"), newline="", encoding="utf-8") as f:
        listed = {row["name"]: row["reason"] for row in csv.DictReader(f)}
    assert listed.keys() == reasons.keys()
    for name, why in reasons.items():
        assert why in listed[name], (name, listed[name])

    # Nothing readable at all: one line, exit 1.
    for n in names:
        (img / n).unlink()
    refused(["extract-pose", img, "-o", tmp_path / "none.csv", "--backend", "mediapipe"], 1,
            f"none of the {len(reasons)} images could be read")


@pytest.mark.parametrize("kind", ["truncated.jpg", "truncated.png", "empty.png", "html.jpg", "bomb.png", "bomb.jpg"])
def test_generate_refuses_a_broken_source_image(kind, crops, run, pose_json, tmp_path):
    img, names, _ = crops
    reasons = _hostile_images(img, read_image(img / names[0]))
    out = tmp_path / "out.png"
    t0 = time.perf_counter()
    refused(["generate", "--run", run["dir"], "--image", img / kind, "--pose", pose_json, "-o", out], 1,
            reasons[kind], [out])
    assert time.perf_counter() - t0 < 10  # a bomb is refused from its header, not after decoding it


def test_decompression_bombs_are_tiny_files_refused_from_the_header(tmp_path):
    """The bombs claim 10^10 and 4.2*10^9 pixels in a few hundred bytes; the guard's message names both sizes."""
    png, jpg = H.bomb_png(tmp_path / "b.png"), H.bomb_jpeg(tmp_path / "b.jpg")
    assert png.stat().st_size < 2000 and jpg.stat().st_size < 2000
    for path, claim in ((png, "100000x100000 pixels"), (jpg, "65000x65000 pixels")):
        with pytest.raises(ImageError, match=claim) as e:
            read_image(path)
        assert "PG2_MAX_PIXELS" in str(e.value)


def test_unusual_encodings_are_converted_not_refused(crops, tmp_path):
    """Grayscale, RGBA, 16-bit and CMYK files pack as the RGB a careful reader gives."""
    img, names, kp = crops
    rgb = read_image(img / names[0])
    expected = {"gray.png": H.grayscale(img / "gray.png", rgb), "rgba.png": H.rgba(img / "rgba.png", rgb),
                "wide.png": H.png16(img / "wide.png", rgb), "cmyk.jpg": H.cmyk_jpeg(img / "cmyk.jpg", rgb)}
    write_annotations(tmp_path / "a.csv", [(n, kp[0]) for n in expected])
    out = tmp_path / "o.h5"
    r = _pack(img, tmp_path / "a.csv", None, out, "--strict")
    assert r.exit_code == 0, r.output
    import h5py

    with h5py.File(out) as f:
        packed = dict(zip((n.decode() for n in f["names"][()]), f["images"][()]))
    for name, want in expected.items():
        tol = 2 if name == "cmyk.jpg" else 0  # Pillow and libjpeg round CMYK -> RGB a unit apart
        assert np.abs(packed[name].astype(int) - want).max() <= tol, name


# ---------------------------------------------------------------------------------------------- names


def test_unusual_file_names_survive_extract_pose_and_pack(crops, tmp_path):
    """Non-ASCII, spaces, ':' (the CSV separator), ',' (the pairs separator), subfolders; a line break is skipped."""
    pytest.importorskip("mediapipe")
    img, names, _ = crops
    odd = ["Zoë 人物.png", "cam:1:x.png", "a,b.png", "sub dir/ñ#1.png", "-dash.png"]
    (img / "sub dir").mkdir()
    for i, n in enumerate(odd):
        shutil.copyfile(img / names[i % len(names)], img / n)
    shutil.copyfile(img / names[0], img / "line\nbreak.png")
    for n in names:
        (img / n).unlink()
    ann = tmp_path / "ann.csv"
    r = cli("extract-pose", img, "-o", ann, "--backend", "mediapipe")
    assert r.exit_code == 0, r.output
    assert sorted(read_annotations(ann).names) == sorted(odd)
    errors = (tmp_path / "ann.csv.errors.csv").read_text(encoding="utf-8")
    assert "line break" in errors

    write_pairs(tmp_path / "p.csv", [(odd[0], odd[1]), (odd[2], odd[3]), (odd[3], odd[4])])
    out = tmp_path / "o.h5"
    r = _pack(img, ann, tmp_path / "p.csv", out, "--strict")
    assert r.exit_code == 0, r.output
    import h5py

    with h5py.File(out) as f:
        packed = [n.decode() for n in f["names"][()]]
        pairs = [(packed[a], packed[b]) for a, b in f["pairs"][()]]
    assert sorted(packed) == sorted(odd)
    assert pairs == [(odd[0], odd[1]), (odd[2], odd[3]), (odd[3], odd[4])]


def test_names_escaping_the_image_folder_are_refused(crops, tmp_path):
    """'../x', 'a/../../x', absolute names and NUL bytes never read a file outside --images, even one that exists."""
    img, names, kp = crops
    shutil.copyfile(img / names[0], tmp_path / "outside.png")  # a real image the names point at
    escapes = ["../outside.png", "sub/../../outside.png", str(tmp_path / "outside.png"), str(img / names[1]),
               f"{names[1]}\0.png"]
    write_annotations(tmp_path / "a.csv", [(names[0], kp[0])] + [(n, kp[0]) for n in escapes])
    out = tmp_path / "o.h5"
    r = _pack(img, tmp_path / "a.csv", None, out)
    assert r.exit_code == 0, r.output
    import h5py

    with h5py.File(out) as f:
        assert [n.decode() for n in f["names"][()]] == [names[0]]
        assert json.loads(f.attrs["left_out"]) == {"row: image name escapes the image folder": len(escapes)}
    refused(["pack", "--images", img, "--annotations", tmp_path / "a.csv", "-o", tmp_path / "s.h5", "--strict",
             "--workers", "0"], 1, "row: image name escapes the image folder: ../outside.png", [tmp_path / "s.h5"])
    write_annotations(tmp_path / "b.csv", [("../outside.png", kp[0])])
    refused(["show", "--images", img, "--annotations", tmp_path / "b.csv", "-o", tmp_path / "s.png"], 1,
            "'../outside.png': image name escapes the image folder", [tmp_path / "s.png"])


def test_a_folder_of_symlinks_into_an_image_store_packs(crops, tmp_path):
    """Links placed in the folder are followed (extract-pose reads them too); only the names are confined."""
    img, names, kp = crops
    linked = tmp_path / "linked"
    linked.mkdir()
    for n in names:
        (linked / n).symlink_to(img / n)
    write_annotations(tmp_path / "a.csv", list(zip(names, kp)))
    out = tmp_path / "o.h5"
    r = _pack(linked, tmp_path / "a.csv", None, out, "--strict")
    assert r.exit_code == 0, r.output
    import h5py

    with h5py.File(out) as f:
        for i, n in enumerate(names):
            np.testing.assert_array_equal(f["images"][i], read_image(img / n))


# ---------------------------------------------------------------------------------------------- CSVs


@pytest.mark.parametrize("label", sorted(H.bad_annotation_files("x.png")))
def test_malformed_annotation_csv(label, crops, tmp_path):
    img, names, _ = crops
    data, message, line = H.bad_annotation_files(names[0])[label]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data)
    where = f"{bad}:{line}: " if line is not None else f"{bad}: "
    out = tmp_path / "o.h5"
    err = refused(["pack", "--images", img, "--annotations", bad, "-o", out], 1, message, [out])
    assert where in err
    refused(["make-pairs", bad, "-o", tmp_path / "p.csv"], 1, message, [tmp_path / "p.csv"])


@pytest.mark.parametrize("label", sorted(H.bad_pairs_files()))
def test_malformed_pairs_csv(label, crops, tmp_path):
    img, names, kp = crops
    data, message, line = H.bad_pairs_files()[label]
    write_annotations(tmp_path / "a.csv", list(zip(names, kp)))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data)
    out = tmp_path / "o.h5"
    err = refused(["pack", "--images", img, "--annotations", tmp_path / "a.csv", "--pairs", bad, "-o", out], 1,
                  message, [out])
    assert (f"{bad}:{line}: " if line is not None else f"{bad}: ") in err


def test_pairs_naming_unknown_or_unusable_images(crops, tmp_path):
    img, names, kp = crops
    (img / names[2]).unlink()  # annotated, but its file is gone
    write_annotations(tmp_path / "a.csv", list(zip(names, kp)))
    write_pairs(tmp_path / "p.csv", [(names[0], names[1]), (names[0], "ghost.png"), (names[1], names[2])])
    out = tmp_path / "o.h5"
    r = _pack(img, tmp_path / "a.csv", tmp_path / "p.csv", out)
    assert r.exit_code == 0, r.output
    import h5py

    with h5py.File(out) as f:
        assert f["pairs"].shape == (1, 2)
        assert json.loads(f.attrs["left_out"]) == {"pair: image has no annotation row": 1,
                                                   "pair: image has no usable file": 1, "row: no image file": 1}
    refused(["pack", "--images", img, "--annotations", tmp_path / "a.csv", "--pairs", tmp_path / "p.csv",
             "-o", tmp_path / "s.h5", "--strict"], 1, "pair: image has no annotation row", [tmp_path / "s.h5"])
    write_pairs(tmp_path / "q.csv", [(names[0], "ghost.png")])
    refused(["show", "--images", img, "--annotations", tmp_path / "a.csv", "--pairs-file", tmp_path / "q.csv",
             "-o", tmp_path / "s.png"], 1, "'ghost.png': named by", [tmp_path / "s.png"])


def test_duplicate_names(crops, tmp_path):
    """Across merged CSVs the first row wins and the rest are counted (within one CSV a duplicate is an error on
    its line: test_malformed_annotation_csv[duplicate_name])."""
    img, names, kp = crops
    write_annotations(tmp_path / "a.csv", list(zip(names, kp)))
    r = cli("make-pairs", tmp_path / "a.csv", tmp_path / "a.csv", "-o", tmp_path / "p.csv", "--dataset", "market")
    assert r.exit_code == 0, r.output
    assert re.search(r"dropped: duplicate name\W+3\b", r.output), r.output
    # Two images whose names differ only by suffix cannot be matched by stem in eval's folder mode.
    gen, tgt = tmp_path / "gen", tmp_path / "tgt"
    gen.mkdir(), tgt.mkdir()
    shutil.copyfile(img / names[0], gen / "a.png")
    shutil.copyfile(img / names[0], tgt / "a.png")
    shutil.copyfile(img / names[1], tgt / "a.jpg")
    refused(["eval", "--generated", gen, "--targets", tgt, "--metrics", "ssim", "-o", tmp_path / "s.json"], 1,
            "have the same name; cannot match by file name", [tmp_path / "s.json"])


# ---------------------------------------------------------------------------------------------- HDF5


BAD_PACKED = {
    "truncated_10": (lambda s, d: H.truncated_copy(s, d, 0.1), "truncated"),
    "truncated_90": (lambda s, d: H.truncated_copy(s, d, 0.9), "truncated"),
    "truncated_last_byte": (lambda s, d: H.truncated_copy(s, d, 1 - 1e-6), "truncated"),
    "zero_bytes": (lambda s, d: H.write_bytes(d, b""), "not an HDF5 file"),
    "text": (lambda s, d: H.write_bytes(d, b"images,names\n1,2\n"), "not an HDF5 file"),
    "foreign": (lambda s, d: H.foreign_h5(d), "unknown schema: no 'schema' attribute"),
    "other_schema": (lambda s, d: H.edited_h5_copy(s, d, lambda f: f.attrs.__setitem__("schema", "x")),
                     "unknown schema: schema 'x'"),
    "newer_version": (lambda s, d: H.edited_h5_copy(s, d, lambda f: f.attrs.__setitem__("schema_version", 99)),
                      "schema version 99 is newer"),
    "missing_dataset": (lambda s, d: H.edited_h5_copy(s, d, lambda f: f.__delitem__("masks")),
                        "missing dataset masks"),
    "pair_out_of_range": (lambda s, d: H.edited_h5_copy(s, d, lambda f: f["pairs"].__setitem__((0, 1), 99)),
                          "pairs hold index 99"),
    "corrupt_chunks": (H.corrupt_chunks, "cannot read pose_maps["),
}


@pytest.mark.parametrize("label", sorted(BAD_PACKED))
def test_bad_packed_files(label, data, run, tmp_path):
    make, message = BAD_PACKED[label]
    bad = make(data["small"], tmp_path / "bad.h5")
    out = tmp_path / "out"
    if label != "corrupt_chunks":  # info reads no pixel data, so bit rot inside chunks is found by readers
        refused(["info", bad], 1, message)
    refused(["show", bad, "-o", out / "s.png"], 1, message, [out / "s.png"])
    refused(["eval", "--data", bad, "--run", run["dir"], "--metrics", "ssim", "-o", out / "s.json"], 1, message,
            [out / "s.json"])
    refused(["train", "--data", bad, "--out", out / "run", "--preset", "tiny", "--iters", "1", "--device", "cpu",
             "--set", "model.base_channels=8"], 1, message)
    assert not (out / "run" / "checkpoints").exists()


# ---------------------------------------------------------------------------------------------- pose JSON


@pytest.mark.parametrize("label", sorted(H.bad_pose_json_files()))
def test_malformed_or_empty_pose_json(label, run, crops, tmp_path):
    img, names, _ = crops
    data, message = H.bad_pose_json_files()[label]
    bad = tmp_path / "pose.json"
    bad.write_bytes(data)
    out = tmp_path / "out.png"
    refused(["generate", "--run", run["dir"], "--image", img / names[0], "--pose", bad, "-o", out], 1, message, [out])


# ---------------------------------------------------------------------------------------------- checkpoints


def test_checkpoints_of_another_stage_size_or_architecture(run, data, crops, pose_json, tmp_path):
    import torch

    img, names, _ = crops
    arch = H.other_architecture(run["s1"], tmp_path / "arch.pt")
    newer = tmp_path / "newer.pt"
    ckpt = torch.load(run["s1"], weights_only=True)
    ckpt["version"] = 99
    torch.save(ckpt, newer)
    out = tmp_path / "o.png"
    gen = ["generate", "--image", img / names[0], "--pose", pose_json, "-o", out]
    train = ["train", "--device", "cpu", "--iters", "2"]
    cases = [
        # another stage
        ([*gen, "--run", run["s1"], "--stage", "2"], 1, "is a stage-1 checkpoint, stage 2 was asked for"),
        ([*gen, "--run", run["s1_dir"], "--stage", "2"], 1, "no stage-2 checkpoint"),
        ([*train, "--data", data["small"], "--out", tmp_path / "r1", "--resume", run["s2"]], 1,
         "is a stage-2 checkpoint; this is stage 1"),
        # another size
        (["eval", "--run", run["dir"], "--data", data["big"], "--metrics", "ssim"], 1,
         "images are 128x64 but"),
        ([*train, "--stage", "2", "--data", data["big"], "--out", tmp_path / "r2", "--g1", run["s1"]], 1,
         "holds 128x64 images but the config (tiny preset) builds networks for 64x32"),
        # another architecture: weights that do not fit the config saved with them, or a changed config
        ([*gen, "--run", arch], 1, "weights do not match the saved config"),
        (["eval", "--run", arch, "--data", data["small"], "--metrics", "ssim"], 1,
         "weights do not match the saved config"),
        ([*train, "--stage", "2", "--data", data["small"], "--out", tmp_path / "r3", "--g1", arch], 1,
         "weights do not match the saved config"),
        ([*train, "--data", data["small"], "--out", tmp_path / "r4", "--resume", run["s1"],
          "--set", "model.base_channels=16"], 2, "changed: model.base_channels: 8 -> 16"),
        # other data, another format version, foreign and broken files
        ([*train, "--data", data["other"], "--out", tmp_path / "r5", "--resume", run["s1"]], 1,
         "is not the data stage1-00000001.pt was trained on"),
        ([*gen, "--run", newer], 1, "checkpoint version 99 is not supported"),
        ([*gen, "--run", H.foreign_checkpoint(tmp_path / "foreign.pt")], 1, "not a pg2cli checkpoint"),
        ([*gen, "--run", H.truncated_copy(run["s1"], tmp_path / "cut.pt")], 1, "not a readable pg2cli checkpoint"),
        ([*gen, "--run", tmp_path / "empty.pt"], 1, "not a readable pg2cli checkpoint"),
        ([*gen, "--run", tmp_path / "missing.pt"], 1, "no such checkpoint or run directory"),
    ]
    (tmp_path / "empty.pt").write_bytes(b"")
    for args, code, message in cases:
        refused(args, code, message, [out])
    for r in ("r1", "r2", "r3", "r4", "r5"):
        assert not list((tmp_path / r).glob("checkpoints/*.pt")), r


# ---------------------------------------------------------------------------------------------- options


@pytest.mark.parametrize("args, message", [
    (["demo-data", "{out}", "--size", "12"], "--size '12': expected HxW"),
    (["demo-data", "{out}", "--people", "0"], "--people 0: expected 1..9999"),
    (["quickstart", "--out", "{out}", "--fast", "--people", "2"], "people must be >= 3"),
    (["quickstart", "--out", "{out}", "--fast", "--stage1-iters", "0"], "stage1_iters must be >= 1"),
    (["quickstart", "--out", "{out}", "--fast", "--device", "tpu"], "device must be one of auto, cpu, cuda, mps"),
    (["pack", "--images", "{out}", "--annotations", "a.csv", "-o", "{out}/o.h5", "--size", "64by32"],
     "--size '64by32': expected HxW"),
    (["train", "--data", "d.h5", "--out", "{out}", "--stage", "3"], "--stage must be 1 or 2"),
    (["train", "--data", "d.h5", "--out", "{out}", "--set", "model.nonsense=1"], "model.nonsense"),
    (["extract-pose", ".", "-o", "{out}/a.csv", "--backend", "alphapose"], "--backend 'alphapose'"),
    (["eval", "--generated", ".", "--targets", ".", "--metrics", "ssim,vibes"], "--metrics: unknown vibes"),
])
def test_bad_option_values_are_refused_before_any_work(args, message, tmp_path):
    out = tmp_path / "out"
    refused([a.format(out=out) for a in args], 2, message)
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- pickled payloads


def test_the_payload_runs_when_unpickled_unsafely(tmp_path):
    """The control: the evil checkpoint is live, so the tests below would see its marker if anything ran it."""
    import torch

    marker = tmp_path / "pwned"
    H.evil_checkpoint(tmp_path / "evil.pt", marker)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert len(H.markers(marker)) == 2


LOADERS = {
    # every place pg2cli reads a .pt file given by the user: label -> (args with {ckpt}, expected message part)
    "generate --run FILE": (["generate", "--run", "{ckpt}", "--image", "{image}", "--pose", "{pose}", "-o", "{out}"],
                            "refused: it holds pickled Python objects"),
    "generate --run DIR": (["generate", "--run", "{rundir}", "--image", "{image}", "--pose", "{pose}", "-o", "{out}"],
                           "refused: it holds pickled Python objects"),
    "animate --run": (["animate", "--run", "{ckpt}", "--image", "{image}", "--poses", "{csv}", "-o", "{gif}"],
                      "refused: it holds pickled Python objects"),
    "eval --run": (["eval", "--run", "{ckpt}", "--data", "{data}", "--metrics", "ssim"],
                   "refused: it holds pickled Python objects"),
    "train --resume FILE": (["train", "--data", "{data}", "--out", "{out_run}", "--resume", "{ckpt}",
                             "--device", "cpu"], "refused: it holds pickled Python objects"),
    "train --resume auto": (["train", "--data", "{data}", "--out", "{rundir}", "--resume", "auto", "--device", "cpu"],
                            "refused: it holds pickled Python objects"),
    "train --stage 2 --g1": (["train", "--stage", "2", "--data", "{data}", "--out", "{out_run}", "--g1", "{ckpt}",
                              "--device", "cpu"], "refused: it holds pickled Python objects"),
    "eval --lpips-weights": (["eval", "--data", "{data}", "--baseline", "copy_source", "--metrics", "lpips",
                              "--lpips-weights", "{ckpt}"], "cannot load the AlexNet"),
    "eval --inception-weights": (["eval", "--data", "{data}", "--baseline", "copy_source", "--metrics", "is",
                                  "--inception-weights", "{ckpt}"], "cannot load the"),
    "extract-pose --weights": (["extract-pose", "{images}", "-o", "{out_csv}", "--backend", "openpose",
                                "--weights", "{ckpt}"], "not a PyTorch weights file"),
}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "bare-pickle"])
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_pickled_payload_is_never_executed(loader, legacy, run, data, crops, pose_json, tmp_path):
    if loader == "extract-pose --weights":
        pytest.importorskip("controlnet_aux")
    img, names, kp = crops
    marker = tmp_path / "pwned"
    # The payload rides inside a real checkpoint (zip), or alone in torch's legacy bare-pickle format.
    evil = H.evil_checkpoint(tmp_path / "evil.pt", marker, base=None if legacy else run["s1"], legacy=legacy)
    rundir = tmp_path / "rundir"
    shutil.copytree(run["s1_dir"], rundir)
    shutil.copyfile(evil, rundir / "checkpoints" / "stage1-00000002.pt")  # the newest: what DIR and auto pick
    write_annotations(tmp_path / "poses.csv", [(names[1], kp[1])])
    fill = {"ckpt": evil, "rundir": rundir, "image": img / names[0], "pose": pose_json, "out": tmp_path / "o.png",
            "csv": tmp_path / "poses.csv", "gif": tmp_path / "o.gif", "data": data["small"],
            "out_run": tmp_path / "newrun", "images": img, "out_csv": tmp_path / "a.csv"}
    args, message = LOADERS[loader]
    args = [a.format(**{k: str(v) for k, v in fill.items()}) for a in args]
    if legacy and message.startswith("refused"):
        message = "not a complete PyTorch zip archive"  # refused before any unpickling
    refused(args, 1, message, [tmp_path / "o.png", tmp_path / "o.gif"])
    assert H.markers(marker) == [], "the checkpoint's pickled code ran"
    assert not list((tmp_path / "newrun").glob("checkpoints/*.pt"))


def test_every_torch_load_in_the_package_is_weights_only():
    """A static guard for loaders added later: torch.load(..., weights_only=True) and no raw unpickling."""
    calls = []
    for path in (REPO / "pg2cli").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if name.endswith("torch.load"):
                kw = {k.arg: k.value for k in node.keywords}
                assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, where
                calls.append(where)
            assert name not in ("pickle.load", "pickle.loads", "dill.load", "joblib.load"), where
            if name.endswith("np.load") or name.endswith("numpy.load"):
                kw = {k.arg: k.value for k in node.keywords}
                assert "allow_pickle" not in kw or getattr(kw["allow_pickle"], "value", True) is False, where
    assert len(calls) >= 3  # checkpoints, metric networks, OpenPose weights
