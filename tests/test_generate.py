"""`pg2 generate` and `pg2 animate` with a tiny run trained by the real training code, on real Market-1501 data:
poses from OpenPose JSON, an annotation CSV row and a photo; input fitting; strips; GIF/MP4 with one frame per pose."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from pg2cli.cli import app
from pg2cli.errors import DataError, Pg2Error, UsageError
from pg2cli.images import read_image

runner = CliRunner()
SOURCE = "0007_c2s3_070952_01.png"
TARGET = "0007_c3s3_077419_03.png"


@pytest.fixture(scope="module")
def target_kp(market):
    from pg2cli.formats import read_annotations

    return read_annotations(market / "annotations.csv").get(TARGET)


@pytest.fixture()
def pose_json(tmp_path, target_kp):
    from pg2cli.formats import OpenPosePerson, write_openpose_json

    conf = np.where(np.isfinite(target_kp[:, 0]), 0.9, 0.0).astype(np.float32)
    decoy = OpenPosePerson(target_kp + 3, conf * 0.1)  # a weaker second person: the best one is used
    return write_openpose_json(tmp_path / "pose.json", [decoy, OpenPosePerson(target_kp, conf)])


def _generate(*args: str) -> object:
    return runner.invoke(app, ["generate", *args])


def test_generate_from_json_and_csv_row_equals_generate_images(tiny_run, market, pose_json, target_kp, tmp_path):
    from pg2cli.infer import generate_images
    from pg2cli.train.checkpoint import load_generators

    base = ["--run", str(tiny_run), "--image", str(market / "images" / SOURCE)]
    r = _generate(*base, "--pose", str(pose_json), "-o", str(tmp_path / "a.png"))
    assert r.exit_code == 0, r.output
    assert "stage 2 at 64x32" in r.output
    r = _generate(*base, "--pose", str(market / "annotations.csv"), "--pose-name", TARGET, "-o", str(tmp_path / "b.png"))
    assert r.exit_code == 0, r.output
    a, b = read_image(tmp_path / "a.png"), read_image(tmp_path / "b.png")
    assert a.shape == (64, 32, 3)
    np.testing.assert_array_equal(a, b)
    gens = load_generators(tiny_run, device="cpu")
    expected = generate_images(gens, read_image(market / "images" / SOURCE), target_kp)
    np.testing.assert_array_equal(a, expected.images[0])


def test_generate_from_a_photo_extracts_the_pose(tiny_run, market, target_kp, tmp_path):
    pytest.importorskip("mediapipe")
    r = _generate("--run", str(tiny_run), "--image", str(market / "images" / SOURCE), "--pose",
                  str(market / "images" / TARGET), "--pose-backend", "mediapipe", "-o", str(tmp_path / "c.png"))
    assert r.exit_code == 0, r.output
    assert "extracted by mediapipe" in r.output
    assert read_image(tmp_path / "c.png").shape == (64, 32, 3)


def test_stage_and_strip(tiny_run, market, pose_json, tmp_path):
    from pg2cli.data.render import draw_pose, fit_image, transform_keypoints
    from pg2cli.formats import read_openpose_json

    base = ["--run", str(tiny_run), "--image", str(market / "images" / SOURCE), "--pose", str(pose_json)]
    assert _generate(*base, "--stage", "1", "-o", str(tmp_path / "s1.png")).exit_code == 0
    assert _generate(*base, "--stage", "2", "-o", str(tmp_path / "s2.png")).exit_code == 0
    r = _generate(*base, "--strip", "-o", str(tmp_path / "strip.png"))
    assert r.exit_code == 0, r.output
    s1, s2, strip = (read_image(tmp_path / n) for n in ("s1.png", "s2.png", "strip.png"))
    assert not np.array_equal(s1, s2)
    assert strip.shape == (64, 3 * 32 + 2 * 2, 3)  # source | pose | result with 2-px gaps
    src = read_image(market / "images" / SOURCE)
    np.testing.assert_array_equal(strip[:, :32], fit_image(src, np.full((18, 2), np.nan), (64, 32))[0])
    kp = max(read_openpose_json(pose_json), key=lambda p: p.score).keypoints
    np.testing.assert_array_equal(strip[:, 34:66], draw_pose(transform_keypoints(kp, (128, 64), (64, 32)), (64, 32)))
    np.testing.assert_array_equal(strip[:, 68:], s2)
    assert _generate(*base, "--stage", "3", "-o", str(tmp_path / "x.png")).exit_code == 2


def test_any_input_size_moves_keypoints_with_the_image(tiny_run, market, target_kp):
    from pg2cli.infer import generate_images
    from pg2cli.train.checkpoint import load_generators

    gens = load_generators(tiny_run, device="cpu")
    src = read_image(market / "images" / SOURCE)  # 128x64
    native = generate_images(gens, src, target_kp)
    big = cv2.resize(src, (128, 256), interpolation=cv2.INTER_CUBIC)
    doubled = generate_images(gens, big, (target_kp + 0.5) * 2 - 0.5)  # the same pose in the 256x128 frame
    np.testing.assert_allclose(doubled.keypoints, native.keypoints, atol=1e-4, equal_nan=True)
    # A square photo is scaled by 0.25 into 64x32 and padded above and below: its centre stays the centre.
    square = np.zeros((128, 128, 3), np.uint8)
    kp = np.full((18, 2), np.nan, np.float32)
    kp[1] = (63.5, 63.5)
    out = generate_images(gens, square, kp)
    np.testing.assert_allclose(out.keypoints[0, 1], (15.5, 31.5), atol=1e-5)
    assert out.sources.shape == (1, 64, 32, 3) and out.images.shape == (1, 64, 32, 3)
    # A pose annotated on another frame: --pose-size says which.
    moved = generate_images(gens, big, target_kp, pose_size=(128, 64))
    np.testing.assert_allclose(moved.keypoints, native.keypoints, atol=1e-4, equal_nan=True)


def test_generate_errors(tiny_run, market, pose_json, tmp_path):
    base = ["--run", str(tiny_run), "--image", str(market / "images" / SOURCE)]
    r = _generate(*base, "--pose", str(market / "annotations.csv"), "-o", str(tmp_path / "o.png"))
    assert r.exit_code == 2 and "choose one with --pose-name" in r.output
    r = _generate(*base, "--pose", str(market / "annotations.csv"), "--pose-name", "nobody.png", "-o", str(tmp_path / "o.png"))
    assert r.exit_code == 1 and "no row named 'nobody.png'" in r.output
    (tmp_path / "empty.json").write_text('{"people": []}')
    r = _generate(*base, "--pose", str(tmp_path / "empty.json"), "-o", str(tmp_path / "o.png"))
    assert r.exit_code == 1 and "nobody found" in r.output
    r = _generate(*base, "--pose", str(tmp_path / "pose.txt"), "-o", str(tmp_path / "o.png"))
    assert r.exit_code == 2 and "expected an OpenPose .json" in r.output
    assert _generate(*base, "--pose", str(pose_json), "-o", str(tmp_path / "o.png")).exit_code == 0
    r = _generate(*base, "--pose", str(pose_json), "-o", str(tmp_path / "o.png"))
    assert r.exit_code == 2 and "already exists" in r.output
    r = _generate("--run", str(tmp_path), "--image", str(market / "images" / SOURCE), "--pose", str(pose_json),
                  "-o", str(tmp_path / "p.png"))
    assert r.exit_code == 1 and "no checkpoint" in r.output


# ---------------------------------------------------------------------------------------------- animate

@pytest.fixture()
def pose_csv(tmp_path, market):
    """Five annotated poses in order, and one row without any keypoint (skipped)."""
    from pg2cli.formats import Annotations, read_annotations, write_annotations

    ann = read_annotations(market / "annotations.csv")
    names, kps = ann.names[:5], list(ann.keypoints[:5])
    names.append("empty.png")
    kps.append(np.full((18, 2), np.nan, np.float32))
    return write_annotations(tmp_path / "poses.csv", Annotations(names, np.stack(kps)))


def _frames_gif(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(path, index=None)  # [T, H, W, C]


def _frames_mp4(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    return frames


def test_animate_gif_and_mp4_one_frame_per_pose(tiny_run, market, pose_csv, tmp_path):
    base = ["animate", "--run", str(tiny_run), "--image", str(market / "images" / SOURCE), "--poses", str(pose_csv),
            "--device", "cpu"]
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "a.gif"), "--fps", "5"])
    assert r.exit_code == 0, r.output
    assert "5 frames" in r.output and "skipped 1 pose" in r.output and "empty.png" in r.output
    gif = _frames_gif(tmp_path / "a.gif")
    assert gif.shape[:3] == (5, 64, 32)
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "a.mp4"), "--strip"])
    assert r.exit_code == 0, r.output
    frames = _frames_mp4(tmp_path / "a.mp4")
    assert len(frames) == 5 and frames[0].shape == (64, 100, 3)
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "a.avi")])
    assert r.exit_code == 2 and ".gif or .mp4" in r.output


def test_animate_frames_match_generate_images(tiny_run, market, pose_csv, tmp_path):
    """GIF frames are palette-quantised; they stay close to the generated images."""
    from pg2cli.formats import read_annotations
    from pg2cli.infer import animate_file, generate_images
    from pg2cli.train.checkpoint import load_generators

    report = animate_file(tiny_run, market / "images" / SOURCE, pose_csv, tmp_path / "b.gif", device="cpu")
    assert report.frames == 5 and report.stage == 2 and [s[0] for s in report.skipped] == ["empty.png"]
    gens = load_generators(tiny_run, device="cpu")
    ann = read_annotations(pose_csv)
    expected = generate_images(gens, read_image(market / "images" / SOURCE), ann.keypoints[:5]).images
    got = _frames_gif(tmp_path / "b.gif")[..., :3].astype(int)
    assert np.abs(got - expected.astype(int)).mean() < 6


def test_animate_a_folder_of_frames(tiny_run, shared_data, tmp_path):
    pytest.importorskip("mediapipe")
    walk = shared_data / "walk"
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    picked = sorted(p for p in walk.iterdir() if p.suffix == ".jpg" and p.name != "source-image.jpg")[:4]
    for p in picked:
        (frames_dir / p.name).symlink_to(p)
    r = runner.invoke(app, ["animate", "--run", str(tiny_run), "--image", str(walk / "source-image.jpg"),
                            "--poses", str(frames_dir), "--pose-backend", "mediapipe", "--device", "cpu",
                            "-o", str(tmp_path / "walk.gif")])
    assert r.exit_code == 0, r.output
    assert "4 frames" in r.output and "extracted by mediapipe" in r.output
    assert _frames_gif(tmp_path / "walk.gif").shape[0] == 4


def test_read_pose_and_sequence_errors(tmp_path, market):
    from pg2cli.infer import pose_sequence, read_pose

    with pytest.raises(UsageError, match="--pose-name applies to an annotation CSV"):
        read_pose(market / "images" / SOURCE, name="x")
    with pytest.raises(UsageError, match="folder of frames or an annotation .csv"):
        pose_sequence(tmp_path / "poses.json")
    from pg2cli.formats import Annotations, write_annotations

    write_annotations(tmp_path / "none.csv", Annotations(["a.png"], np.full((1, 18, 2), np.nan, np.float32)))
    with pytest.raises(DataError, match="no usable pose"):
        pose_sequence(tmp_path / "none.csv")


@pytest.mark.parametrize("codec", ["h264", "mp4v"])
def test_mp4_is_h264_with_the_video_extra_and_mp4v_without(codec, tmp_path, monkeypatch):
    import sys

    from pg2cli.infer import mp4_codec, write_animation

    if codec == "mp4v":
        monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as without the [video] extra
    else:
        pytest.importorskip("imageio_ffmpeg", reason="the [video] extra (in the dev extra) is not installed")
    assert mp4_codec() == codec
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (65, 33, 3), dtype=np.uint8), (9, 9), 3)  # odd sides
    frames = [np.roll(base, i, axis=1) for i in range(5)]
    out = write_animation(tmp_path / "a.mp4", frames, fps=5)
    cap = cv2.VideoCapture(str(out))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    back = _frames_mp4(out)
    assert len(back) == 5
    assert fourcc.lower() in (("avc1", "h264") if codec == "h264" else ("mp4v", "fmp4"))  # MPEG-4 part 2
    h, w = 66, 34  # both codecs need even sides: the edge row and column are repeated
    assert back[0].shape == (h, w, 3)
    got = cv2.cvtColor(back[2], cv2.COLOR_BGR2RGB)[:65, :33].astype(int)
    assert np.abs(got - frames[2]).mean() < 12  # lossy, but the same picture
    with pytest.raises(Pg2Error):
        write_animation(tmp_path / "a.mp4", frames)  # exists: not overwritten without overwrite=True
