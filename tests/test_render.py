"""Pose maps, pose masks, skeleton drawing and image fitting against direct reference implementations."""

from __future__ import annotations

import numpy as np
import pytest

from pg2cli.data.render import (
    colorize_pose_maps,
    draw_pose,
    fit_image,
    mask_centres,
    render_pose_maps,
    render_pose_mask,
    transform_keypoints,
)
from pg2cli.skeleton import COLORS, MASK_LIMBS


@pytest.fixture(scope="module")
def market(shared_data):
    from pg2cli.formats import read_annotations

    return read_annotations(shared_data / "market" / "annotations.csv")


def reference_disc(kp, size, radius=4.0):
    """Per pixel, per keypoint: 1 where (col - x)^2 + (row - y)^2 <= r^2, over the whole frame."""
    h, w = size
    rows, cols = np.mgrid[0:h, 0:w]
    out = np.zeros((18, h, w), np.float32)
    for k, (x, y) in enumerate(kp):
        if np.isfinite(x) and np.isfinite(y):
            out[k] = ((cols - x) ** 2 + (rows - y) ** 2 <= radius ** 2)
    return out


def reference_gaussian(kp, size, sigma=6.0):
    h, w = size
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((18, h, w))
    for k, (x, y) in enumerate(kp):
        if np.isfinite(x) and np.isfinite(y):
            out[k] = np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma ** 2))
    return out


def reference_mask(kp, size, radius=4):
    """PG²'s original _getPoseMask, transcribed: per-pixel loops, int() truncation, skimage closing."""
    from skimage.morphology import dilation, erosion

    h, w = size
    dense = np.zeros((h, w), np.uint8)

    def disc(r, c):
        r, c = int(r), int(c)
        for i in range(-radius, radius + 1):
            for j in range(-radius, radius + 1):
                if 0 <= r + i < h and 0 <= c + j < w and np.sqrt(i * i + j * j) <= radius:
                    dense[r + i, c + j] = 1

    for a, b in MASK_LIMBS:
        (c0, r0), (c1, r1) = kp[a], kp[b]
        if not (np.isfinite(kp[a]).all() and np.isfinite(kp[b]).all()):
            continue
        disc(r0, c0)
        disc(r1, c1)
        n = int(np.sqrt((r0 - r1) ** 2 + (c0 - c1) ** 2) / radius)
        for i in range(1, n):
            disc(r0 + (r1 - r0) * i / n, c0 + (c1 - c0) * i / n)
    square = np.ones((5, 5), bool)
    return erosion(dilation(dense, square), square)


def test_disc_maps_equal_per_pixel_reference(market):
    for kp in market.keypoints:
        got = render_pose_maps(kp, (128, 64), "disc", radius=4)
        assert got.dtype == np.float32 and got.shape == (18, 128, 64)
        np.testing.assert_array_equal(got, reference_disc(kp, (128, 64)))
        np.testing.assert_array_equal(render_pose_maps(kp, (128, 64), dtype=np.uint8), got.astype(np.uint8) * 255)


def test_disc_maps_at_fractional_positions_and_other_radius():
    rng = np.random.default_rng(0)
    kp = rng.uniform(-5, 70, size=(18, 2)).astype(np.float32)  # some outside the 64-wide frame
    kp[3] = np.nan
    for r in (1.5, 4, 7):
        np.testing.assert_array_equal(render_pose_maps(kp, (80, 64), "disc", radius=r), reference_disc(kp, (80, 64), r))


def test_gaussian_maps_within_1_over_255(market):
    for kp in market.keypoints[:60]:
        ref = reference_gaussian(kp, (128, 64), 6.0)
        np.testing.assert_allclose(render_pose_maps(kp, (128, 64), "gaussian", sigma=6.0), ref, atol=1e-6)
        u8 = render_pose_maps(kp, (128, 64), "gaussian", sigma=6.0, dtype=np.uint8)
        assert np.abs(u8 / 255.0 - ref).max() <= 1 / 255
    assert render_pose_maps(market.keypoints[0], (128, 64), "gaussian").max() == pytest.approx(1.0)


@pytest.mark.parametrize("dataset, size, count", [("market", (128, 64), 187), ("fashion", (256, 256), 40)])
def test_masks_match_the_original_recipe(shared_data, dataset, size, count):
    from pg2cli.formats import read_annotations

    ious, same = [], 0
    for kp in read_annotations(shared_data / dataset / "annotations.csv").keypoints[:count]:
        got = render_pose_mask(kp, size)
        ref = reference_mask(kp, size)
        assert got.dtype == np.uint8 and set(np.unique(got)) <= {0, 1}
        ious.append((got & ref).sum() / max((got | ref).sum(), 1))
        same += bool((got == ref).all())
    assert min(ious) >= 0.97, f"worst IoU {min(ious):.3f}"
    assert same >= 0.95 * len(ious)  # pixel-identical almost always (borders may differ: cv2 vs skimage)


def test_missing_keypoints_give_empty_channels_and_skip_limbs():
    kp = np.full((18, 2), np.nan, np.float32)
    assert not render_pose_maps(kp, (32, 16)).any()
    assert not render_pose_maps(kp, (32, 16), "gaussian").any()
    assert not render_pose_mask(kp, (32, 16)).any()
    kp[0] = (8, 8)  # the nose alone: its channel only, and no limb with both ends
    maps = render_pose_maps(kp, (32, 16))
    assert maps[0].any() and not maps[1:].any()
    assert not render_pose_mask(kp, (32, 16)).any()
    kp[1] = (8, 20)  # neck: the limb (1, 0) appears, nothing else
    assert len(mask_centres(kp)) == 2 + (int(12 / 4) - 1)
    mask = render_pose_mask(kp, (32, 16))
    assert mask[8:21, 8].all() and not mask[:, 0].any()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="pose map kind"):
        render_pose_maps(np.zeros((18, 2)), (8, 8), "square")
    with pytest.raises(ValueError, match="shape"):
        render_pose_maps(np.zeros((17, 2)), (8, 8))


def test_draw_pose_uses_keypoint_colours():
    kp = np.full((18, 2), np.nan, np.float32)
    kp[2], kp[5] = (10, 20), (40, 20)
    img = draw_pose(kp, (64, 64))
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert tuple(img[20, 10]) == COLORS[2] and tuple(img[20, 40]) == COLORS[5]
    assert not img[60].any()  # nothing where no keypoint or limb is
    photo = np.full((64, 64, 3), 7, np.uint8)
    over = draw_pose(kp, (64, 64), photo)
    assert tuple(over[60, 60]) == (7, 7, 7) and (photo == 7).all()  # drawn over a copy


def test_colorize_pose_maps():
    kp = np.full((18, 2), np.nan, np.float32)
    kp[12] = (5, 5)
    rgb = colorize_pose_maps(render_pose_maps(kp, (16, 16), dtype=np.uint8))
    assert tuple(rgb[5, 5]) == COLORS[12] and not rgb[15, 15].any()


def _dot_image(size, x, y):
    img = np.zeros((*size, 3), np.uint8)
    img[y - 2:y + 3, x - 2:x + 3] = 255
    return img


def _centroid(img):
    m = img[:, :, 0].astype(np.float64)
    rows, cols = np.mgrid[0:m.shape[0], 0:m.shape[1]]
    return (cols * m).sum() / m.sum(), (rows * m).sum() / m.sum()


@pytest.mark.parametrize("src, dst", [((256, 128), (128, 64)), ((100, 100), (128, 64)), ((64, 32), (128, 64)),
                                      ((120, 90), (256, 256))])
def test_fit_image_moves_keypoints_with_pixels(src, dst):
    kp = np.full((18, 2), np.nan, np.float32)
    kp[0] = (src[1] * 0.3, src[0] * 0.6)
    x, y = int(kp[0, 0]), int(kp[0, 1])
    kp[0] = (x, y)
    img, moved = fit_image(_dot_image(src, x, y), kp, dst)
    assert img.shape == (*dst, 3) and img.dtype == np.uint8
    cx, cy = _centroid(img)
    assert abs(cx - moved[0, 0]) < 0.5 and abs(cy - moved[0, 1]) < 0.5
    assert np.isnan(moved[1:]).all()
    np.testing.assert_allclose(transform_keypoints(kp, src, dst), moved)


def test_fit_image_same_size_is_a_no_op_and_pads_keep_aspect():
    img = np.arange(128 * 64 * 3, dtype=np.uint32).astype(np.uint8).reshape(128, 64, 3)
    kp = np.zeros((18, 2), np.float32)
    out, k2 = fit_image(img, kp, (128, 64))
    assert out is img and (k2 == kp).all()
    out, _ = fit_image(np.full((100, 100, 3), 200, np.uint8), kp, (128, 64), fill=0)
    assert (out[:32] == 0).all() and (out[32:96] == 200).all() and (out[96:] == 0).all()


def _mask_alone(kp, size, radius, closing):
    """One sample drawn on its own canvas with OpenCV's own closing: what the stacked batch must reproduce."""
    import cv2

    h, w = size
    c = mask_centres(kp, radius) + radius
    canvas = np.zeros((h + 2 * radius, w + 2 * radius), np.uint8)
    ok = (c[:, 0] >= 0) & (c[:, 0] < canvas.shape[1]) & (c[:, 1] >= 0) & (c[:, 1] < canvas.shape[0])
    canvas[c[ok, 1], c[ok, 0]] = 1
    d = np.arange(-radius, radius + 1)
    disc = ((d[:, None] ** 2 + d[None, :] ** 2) <= radius * radius).astype(np.uint8)
    m = cv2.dilate(canvas, disc)[radius:radius + h, radius:radius + w]
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((closing, closing), np.uint8)) if closing > 1 else m


@pytest.mark.parametrize("size, radius, closing", [((128, 64), 4, 5), ((100, 80), 3, 4), ((9, 7), 2, 1),
                                                   ((40, 30), 5, 7)])
def test_a_batch_renders_exactly_its_samples_one_by_one(market, size, radius, closing):
    """Masks and maps of a stacked batch (real keypoints, jittered ones leaving the frame, missing ones, an
    empty person) equal each sample drawn alone."""
    rng = np.random.default_rng(0)
    kp = market.keypoints[:40].copy()
    jitter = kp + rng.uniform(-30, 30, kp.shape).astype(np.float32)
    jitter[rng.random(kp.shape[:2]) < 0.2] = np.nan
    far = kp[:8].copy()  # limbs from far outside that cross the frame, and limbs wholly outside it
    far[:, 0] = (3000, -2000)
    far[:4, 10] = (-1500, 7)
    far[4:, 13] = (size[1] / 2, 5000)
    batch = np.concatenate([kp, jitter, far, np.full((1, 18, 2), np.nan, np.float32)])
    masks = render_pose_mask(batch, size, radius, closing)
    assert masks.shape == (len(batch), *size)
    for i, k in enumerate(batch):
        np.testing.assert_array_equal(masks[i], _mask_alone(k, size, radius, closing), err_msg=f"sample {i}")
    for kind in ("disc", "gaussian"):
        maps = render_pose_maps(batch, size, kind, radius=radius + 0.5, dtype=np.uint8)
        assert maps.shape == (len(batch), 18, *size)
        for i, k in enumerate(batch):
            np.testing.assert_array_equal(maps[i], render_pose_maps(k, size, kind, radius=radius + 0.5, dtype=np.uint8))
    np.testing.assert_array_equal(render_pose_maps(batch[:5], size)[2], reference_disc(batch[2], size))


def test_a_keypoint_a_billion_pixels_away_costs_no_memory():
    """Only the visible part of a limb is sampled: a mad keypoint (the CSV allows up to 2^31) renders like a
    merely distant one instead of making hundreds of millions of disc centres."""
    kp = np.full((64, 18, 2), np.nan, np.float32)
    kp[:, 1] = (30, 20)
    kp[:, 2] = (30, 60)
    kp[0, 0] = (1e9, 1e9)
    kp[1, 0] = (-2e9, 20)
    masks = render_pose_mask(kp, (128, 64))
    assert masks.shape == (64, 128, 64)
    ref = kp[:2].copy()
    ref[0, 0] = (30 + 1e4, 20 + 1e4)  # the same directions, near enough to draw the classic way
    ref[1, 0] = (30 - 1e4, 20)
    for i in range(2):
        np.testing.assert_array_equal(masks[i], _mask_alone(ref[i], (128, 64), 4, 5))
