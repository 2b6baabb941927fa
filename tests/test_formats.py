"""Formats: exact round trips on the community's real files, and one clear error per malformed input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pg2cli.errors import DataError, FormatError
from pg2cli.formats import (
    read_annotations,
    read_coco_keypoints,
    read_openpose_json,
    read_pairs,
    write_annotations,
    write_openpose_json,
    write_pairs,
)
from pg2cli.formats.openpose import OpenPosePerson, people_from_openpose

STANDARD = ["market-annotation-train.csv", "fasion-annotation-test.csv"]


@pytest.mark.parametrize("name", STANDARD)
def test_annotation_round_trip_is_exact(shared_data, tmp_path, name):
    src = shared_data / "standard" / name
    ann = read_annotations(src)
    out = write_annotations(tmp_path / name, ann)
    assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("folder", ["market", "fashion", "market-jpeg"])
def test_small_annotation_files_round_trip(shared_data, tmp_path, folder):
    src = shared_data / folder / "annotations.csv"
    out = write_annotations(tmp_path / "a.csv", read_annotations(src))
    assert out.read_bytes() == src.read_bytes()


def test_annotation_convention_is_y_first_and_minus_one_missing(shared_data):
    ann = read_annotations(shared_data / "standard" / "market-annotation-train.csv")
    line = (shared_data / "standard" / "market-annotation-train.csv").read_text().splitlines()[1]
    name, ys, xs = line.split(": ")
    ys, xs = json.loads(ys), json.loads(xs)
    assert ann.names[0] == name
    kp = ann.keypoints[0]
    for k in range(18):
        if ys[k] == -1:
            assert np.isnan(kp[k]).all()
        else:
            assert tuple(kp[k]) == (xs[k], ys[k])


def test_pairs_round_trip_is_exact(shared_data, tmp_path):
    src = shared_data / "standard" / "fashion-pairs-test.csv"
    pairs = read_pairs(src)
    assert len(pairs) == 8570
    assert write_pairs(tmp_path / "p.csv", pairs).read_bytes() == src.read_bytes()


def test_pairs_accepts_pandas_index_column(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text(",from,to\n0,a.jpg,b.jpg\n1,b.jpg,a.jpg\n")
    assert read_pairs(p) == [("a.jpg", "b.jpg"), ("b.jpg", "a.jpg")]


HEADER = "name:keypoints_y:keypoints_x\n"
ROW = "a.jpg: " + json.dumps(list(range(18))) + ": " + json.dumps(list(range(18))) + "\n"


@pytest.mark.parametrize(
    "text, line, problem",
    [
        (HEADER + "a.jpg: [1, 2]\n", 2, "fields, expected 3"),  # wrong arity
        (HEADER + "a.jpg: {1: 2}: [1]\n", 2, "not a JSON list"),  # non-JSON list
        (HEADER + "a.jpg: [1, 2, 3]: " + json.dumps([0] * 18) + "\n", 2, "has 3 values, expected 18"),
        (HEADER + "a.jpg: " + json.dumps(["x"] * 18) + ": " + json.dumps([0] * 18) + "\n", 2, "expected integers"),
        (HEADER + "a.jpg: " + json.dumps([-5] * 18) + ": " + json.dumps([0] * 18) + "\n", 2, "-1 for missing"),
        ("name,keypoints\n" + ROW, 1, "header is"),  # wrong header
        (HEADER + ROW + ROW, 3, "duplicate name"),
        (HEADER + ": [1]: [2]\n", 2, "empty image name"),
    ],
)
def test_malformed_annotation_rows_name_file_line_and_problem(tmp_path, text, line, problem):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(FormatError) as e:
        read_annotations(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:{line}: ") and problem in msg
    assert "\n" not in msg


def test_empty_and_missing_annotation_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(FormatError, match="empty file"):
        read_annotations(empty)
    with pytest.raises(DataError, match="no such file"):
        read_annotations(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_annotations(tmp_path)


def test_malformed_pairs(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("from,to\na.jpg\n")
    with pytest.raises(FormatError, match=r"p.csv:2: 1 comma-separated fields, expected 2"):
        read_pairs(p)
    p.write_text("src,dst\na,b\n")
    with pytest.raises(FormatError, match=r":1: header is"):
        read_pairs(p)


def test_openpose_json_round_trip_with_several_people(tmp_path):
    rng = np.random.default_rng(0)
    people = []
    for _ in range(3):
        kp = rng.uniform(0, 100, (18, 2)).astype(np.float32).round(2)
        conf = rng.uniform(0.1, 1, 18).astype(np.float32).round(3)
        kp[[3, 9]] = np.nan
        conf[[3, 9]] = 0
        people.append(OpenPosePerson(kp, conf))
    path = write_openpose_json(tmp_path / "p.json", people)
    back = read_openpose_json(path)
    assert len(back) == 3
    for a, b in zip(people, back):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
    doc = json.loads(path.read_text())
    assert len(doc["people"][0]["pose_keypoints_2d"]) == 54


def test_openpose_body25_maps_to_coco18():
    flat = []
    for k in range(25):
        flat += [float(k), float(100 + k), 0.9]
    (p,) = people_from_openpose({"people": [{"pose_keypoints_2d": flat}]})
    # BODY_25's mid-hip (8) is dropped: COCO-18 right hip (8) is BODY_25's 9.
    assert p.keypoints[8, 0] == 9 and p.keypoints[17, 0] == 18 and p.keypoints[7, 0] == 7


@pytest.mark.parametrize("doc", ['{"people": 3}', "[]", "not json", '{"people": [{"pose_keypoints_2d": [1, 2]}]}'])
def test_malformed_openpose_json(tmp_path, doc):
    p = tmp_path / "bad.json"
    p.write_text(doc)
    with pytest.raises(FormatError) as e:
        read_openpose_json(p)
    assert str(p) in str(e.value)


def test_coco17_to_coco18_on_human_labels(shared_data):
    doc = json.loads((shared_data / "keypoints-gt" / "coco" / "test_coco.json").read_text())
    rows = read_coco_keypoints(shared_data / "keypoints-gt" / "coco" / "test_coco.json")
    assert len(rows) == len(doc["annotations"])
    ann = doc["annotations"][0]
    k17 = np.asarray(ann["keypoints"], float).reshape(17, 3)
    _, k18 = rows[0]
    # COCO-17: 5 left shoulder, 6 right shoulder; COCO-18: 2 right shoulder, 5 left shoulder, 1 neck.
    for c18, c17 in [(0, 0), (2, 6), (5, 5), (8, 12), (11, 11), (14, 2), (15, 1), (16, 4), (17, 3)]:
        if k17[c17, 2] > 0:
            assert tuple(k18[c18]) == tuple(k17[c17, :2])
        else:
            assert np.isnan(k18[c18]).all()
    if k17[5, 2] > 0 and k17[6, 2] > 0:
        np.testing.assert_allclose(k18[1], (k17[5, :2] + k17[6, :2]) / 2)
