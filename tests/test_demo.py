"""`pg2 demo-data`: deterministic synthetic people whose annotations are exactly what was drawn."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

from pg2cli.cli import app
from pg2cli.data import demo as D
from pg2cli.data.pairs import PairOptions, make_pairs, market_identity
from pg2cli.formats import read_annotations
from pg2cli.images import read_image

SIZE = (128, 64)


def _ident(seed: int = 3) -> D.Identity:
    return D.sample_identity(np.random.default_rng(seed))


def _pose(**kw) -> D.Pose:
    """A plain standing pose, facing the camera, centred; keyword arguments replace fields."""
    base = D.Pose(kind="standing", yaw=0.0, head_yaw=0.0, arms=((0.0, 10.0, 5.0), (0.0, 10.0, 5.0)),
                  legs=((0.0, 4.0, 0.0), (0.0, 4.0, 0.0)), height=0.85, center=0.5, floor=0.97)
    return dataclasses.replace(base, **kw)


def _render(pose: D.Pose, ident: D.Identity | None = None, size=SIZE):
    return D.render_person(ident or _ident(), pose, size, np.random.default_rng(0))


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    opts = D.DemoOptions(people=3, poses=3, size=(64, 32), seed=5)
    a = D.make_demo_data(tmp_path / "a", opts)
    b = D.make_demo_data(tmp_path / "b", opts)
    c = D.make_demo_data(tmp_path / "c", dataclasses.replace(opts, seed=6))
    assert a.annotations.read_bytes() == b.annotations.read_bytes()
    assert sorted(p.name for p in a.images_dir.iterdir()) == a.names == b.names
    for name in a.names:
        assert np.array_equal(read_image(a.images_dir / name), read_image(b.images_dir / name))
    assert any(not np.array_equal(read_image(a.images_dir / n), read_image(c.images_dir / n)) for n in a.names)


def test_a_larger_set_extends_a_smaller_one(tmp_path):
    small = D.make_demo_data(tmp_path / "s", D.DemoOptions(people=2, poses=2, size=(64, 32), seed=4))
    large = D.make_demo_data(tmp_path / "l", D.DemoOptions(people=3, poses=4, size=(64, 32), seed=4))
    assert set(small.names) < set(large.names)
    rows = large.names
    for i, name in enumerate(small.names):
        assert np.array_equal(read_image(small.images_dir / name), read_image(large.images_dir / name))
        assert np.array_equal(small.keypoints[i], large.keypoints[rows.index(name)], equal_nan=True)


def test_files_and_csv_agree_and_names_follow_market(tmp_path):
    res = D.make_demo_data(tmp_path / "d", D.DemoOptions(people=4, poses=5, size=(64, 32), seed=1))
    ann = read_annotations(res.annotations)
    assert ann.names == res.names
    assert np.array_equal(ann.keypoints, res.keypoints, equal_nan=True)
    assert all(read_image(res.images_dir / n).shape == (64, 32, 3) for n in res.names)
    assert {market_identity(n) for n in res.names} == {"0001", "0002", "0003", "0004"}
    pairs = make_pairs([ann], PairOptions(dataset="market"))
    assert pairs.identities == 4 and len(pairs.pairs) > 0
    # Integer pixels inside the image (the CSV holds integers), NaN where not visible.
    kp = res.keypoints[np.isfinite(res.keypoints)]
    assert np.array_equal(kp, np.round(kp)) and kp.min() >= 0 and kp.max() < 64


def test_every_annotated_point_is_on_the_body_not_the_background():
    checked = 0
    for person in range(1, 9):
        ident = D.sample_identity(np.random.default_rng([0, person]))
        for index in range(6):
            rng = np.random.default_rng([0, person, index + 1])
            pose = D.sample_pose(rng)
            img, kp, bg, labels = D.render_person(ident, pose, SIZE, rng)
            for k in np.flatnonzero(np.isfinite(kp[:, 0])):
                x, y = int(kp[k, 0]), int(kp[k, 1])
                assert labels[y, x] != D.BG, (person, index, k)
                # The drawn pixel differs visibly from the bare background there.
                assert np.abs(img[y, x].astype(int) - bg[y, x].astype(int)).sum() > 20, (person, index, k)
                checked += 1
            # And the body covers a plausible area of the image.
            assert 0.05 < (labels != D.BG).mean() < 0.6
    assert checked > 500


def test_front_back_and_side_views_follow_coco_left_right():
    front, back = _render(_pose(yaw=0.0))[1], _render(_pose(yaw=180.0))[1]
    # Front: the person's right (2 = right shoulder) is on the image's left; back: the other way round.
    assert front[2, 0] < front[5, 0] and back[2, 0] > back[5, 0]
    assert np.isfinite(front[[0, 14, 15, 16, 17], 0]).all()
    assert np.isnan(back[[0, 14, 15], 0]).all() and np.isfinite(back[[16, 17], 0]).all()
    # Facing image right, the right side is the near one: right eye and ear show, the left ones do not,
    # and the nose points to the right of the neck.
    side = _render(_pose(yaw=90.0))[1]
    assert np.isfinite(side[[0, 14, 16], 0]).all() and np.isnan(side[[15, 17], 0]).all()
    assert side[0, 0] > side[1, 0]


def test_hidden_and_outside_points_are_missing():
    # Side view facing right: the far (left) arm hangs behind the chest; its elbow is hidden.
    img, kp, _, labels = _render(_pose(yaw=90.0, arms=((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))))
    assert np.isfinite(kp[3, 0]) and np.isnan(kp[6, 0])
    # Arms straight out to the sides of a person near the left edge: the right wrist is outside the image.
    _, kp, _, _ = _render(_pose(center=0.2, arms=((0.0, 90.0, 0.0), (0.0, 90.0, 0.0))))
    assert np.isnan(kp[4, 0]) and np.isfinite(kp[7, 0]) and np.isfinite(kp[2, 0])


def test_pose_prior_respects_joint_limits_and_covers_the_kinds_and_views():
    rng = np.random.default_rng(0)
    poses = [D.sample_pose(rng) for _ in range(400)]
    limits = D.JOINT_LIMITS
    for p in poses:
        for flex, abd, elbow in p.arms:
            assert limits["shoulder_flexion"][0] <= flex <= limits["shoulder_flexion"][1]
            assert limits["shoulder_abduction"][0] <= abd <= limits["shoulder_abduction"][1]
            assert limits["elbow_flexion"][0] <= elbow <= limits["elbow_flexion"][1]
        for flex, abd, knee in p.legs:
            assert limits["hip_flexion"][0] <= flex <= limits["hip_flexion"][1]
            assert limits["knee_flexion"][0] <= knee <= limits["knee_flexion"][1]
    assert {p.kind for p in poses} == set(D.POSE_KINDS)
    assert {D.view_name(p.yaw) for p in poses} == {"front", "back", "side", "three-quarter"}


def test_bones_keep_their_length_in_3d():
    j = D.skeleton_3d(_pose(arms=((40.0, 0.0, 90.0), (-20.0, 60.0, 120.0)), legs=((30.0, 5.0, 60.0), (0.0, 0.0, 0.0))))
    assert np.linalg.norm(j["relb"] - j["rsho"]) == pytest.approx(D.UPPER_ARM)
    assert np.linalg.norm(j["rwri"] - j["relb"]) == pytest.approx(D.FOREARM)
    assert np.linalg.norm(j["rkne"] - j["rhip"]) == pytest.approx(D.THIGH)
    assert np.linalg.norm(j["rank"] - j["rkne"]) == pytest.approx(D.SHIN)
    # A 90-degree elbow: forearm perpendicular to the upper arm; an abducted arm bends no more than asked.
    assert np.dot(j["relb"] - j["rsho"], j["rwri"] - j["relb"]) == pytest.approx(0.0, abs=1e-9)
    upper, fore = j["lelb"] - j["lsho"], j["lwri"] - j["lelb"]
    bend = np.degrees(np.arccos(np.dot(upper, fore) / np.linalg.norm(upper) / np.linalg.norm(fore)))
    assert 0 < bend <= 120.0


def test_cli_writes_refuses_and_overwrites(tmp_path):
    runner = CliRunner()
    out = tmp_path / "demo"
    args = ["demo-data", str(out), "--people", "2", "--poses", "3", "--size", "64x32", "--seed", "1"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert (out / "annotations.csv").is_file() and len(list((out / "images").iterdir())) == 6
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "already exists" in r.output
    r = runner.invoke(app, args + ["--overwrite", "--poses", "2"])
    assert r.exit_code == 0, r.output
    assert len(list((out / "images").iterdir())) == 4 and len(read_annotations(out / "annotations.csv")) == 4
    r = runner.invoke(app, ["demo-data", str(tmp_path / "x"), "--size", "16x8"])
    assert r.exit_code == 2 and "--size" in r.output
    assert not list(tmp_path.glob("demo/.images.partial-*"))
