"""The offline mediapipe backend: accuracy against the standard annotations, COCO-18 order, the mapping."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pg2cli.errors import Pg2Error
from pg2cli.formats import read_annotations
from pg2cli.images import read_image
from pg2cli.pose.mediapipe_backend import BLAZEPOSE_TO_COCO18, landmarks_to_coco18
from pg2cli.skeleton import FLIP_PERMUTATION, KEYPOINT_NAMES

pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed")


@pytest.fixture(scope="module")
def backend():
    from pg2cli.pose import get_backend

    b = get_backend("mediapipe")
    yield b
    b.close()


def pck(pred: np.ndarray, truth: np.ndarray, heights: np.ndarray, alpha: float = 0.1) -> float:
    """PCK@alpha*H: share of the annotated keypoints predicted within alpha x image height (missing = wrong)."""
    visible = np.isfinite(truth).all(-1)
    dist = np.linalg.norm(pred - truth, axis=-1)  # NaN where the prediction is missing
    ok = np.nan_to_num(dist, nan=np.inf) <= alpha * heights[:, None]
    return float(ok[visible].mean())


def predict(backend, folder, names):
    from pg2cli.pose import estimate_keypoints

    images = [read_image(folder / "images" / n) for n in names]
    kp = np.stack([estimate_keypoints(im, backend) for im in images])
    return kp, np.array([im.shape[0] for im in images], np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("dataset, bar", [("market", 0.85), ("fashion", 0.90)])
def test_pck_against_the_standard_annotations(shared_data, backend, dataset, bar):
    ann = read_annotations(shared_data / dataset / "annotations.csv")
    pred, heights = predict(backend, shared_data / dataset, ann.names)
    assert pck(pred, ann.keypoints, heights) >= bar
    assert np.isfinite(pred).all(-1).any(-1).mean() >= 0.98  # somebody found in nearly every image


def test_left_and_right_are_the_persons_own(shared_data, backend):
    """On real crops the mapping beats its left/right mirror by far (a swap would invert that)."""
    ann = read_annotations(shared_data / "market" / "annotations.csv")
    names = ann.names[::6]
    truth = ann.keypoints[::6]
    pred, heights = predict(backend, shared_data / "market", names)
    swapped = pred[:, list(FLIP_PERMUTATION)]
    sided = [i for i, n in enumerate(KEYPOINT_NAMES) if n.startswith(("left", "right"))]
    right, wrong = pck(pred[:, sided], truth[:, sided], heights), pck(swapped[:, sided], truth[:, sided], heights)
    assert right >= 0.8 and right - wrong >= 0.3, (right, wrong)


def test_landmark_mapping_neck_visibility_and_edges():
    xy = np.stack([np.arange(33) * 2.0, np.arange(33) + 10.0], 1).astype(np.float32)
    vis = np.ones(33, np.float32)
    vis[7] = 0.4  # left ear below the threshold
    xy[27] = (-5.0, 50.0)  # left ankle outside the image
    p = landmarks_to_coco18(xy, vis, (128, 100))
    for k, j in enumerate(BLAZEPOSE_TO_COCO18):
        if KEYPOINT_NAMES[k] in ("neck", "left_ear", "left_ankle"):
            continue
        np.testing.assert_array_equal(p.keypoints[k], xy[j])
    np.testing.assert_allclose(p.keypoints[1], (xy[11] + xy[12]) / 2)  # neck = shoulders' midpoint
    assert np.isnan(p.keypoints[KEYPOINT_NAMES.index("left_ear")]).all()
    assert np.isnan(p.keypoints[KEYPOINT_NAMES.index("left_ankle")]).all()
    assert p.confidence[KEYPOINT_NAMES.index("left_ear")] == 0
    assert KEYPOINT_NAMES[BLAZEPOSE_TO_COCO18.index(12)] == "right_shoulder"  # BlazePose 12 = right shoulder
    vis[11] = 0.1
    assert np.isnan(landmarks_to_coco18(xy, vis, (128, 100)).keypoints[1]).all()  # no neck without both


def test_blank_image_has_nobody(backend):
    from pg2cli.pose import estimate_keypoints

    assert np.isnan(estimate_keypoints(np.zeros((128, 64, 3), np.uint8), backend)).all()
    assert backend.detect([np.full((256, 256, 3), 255, np.uint8)]) == [[]]


def test_missing_extra_is_one_clear_error(monkeypatch):
    from pg2cli.pose import get_backend

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # makes `import mediapipe` fail
    with pytest.raises(Pg2Error, match=r'pip install "pg2cli\[mediapipe\]"'):
        get_backend("mediapipe")
