"""The vectorised OpenPose decoder and the batched body network, checked against controlnet-aux's own `Body`."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from pg2cli.formats import read_annotations
from pg2cli.pose import decode as D
from pg2cli.skeleton import LIMBS, NUM_KEYPOINTS


@pytest.fixture(scope="module")
def cn():
    """controlnet-aux's body module and util (its package import is slow and noisy: once per module)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from controlnet_aux.open_pose import body, util
    return body, util


@pytest.fixture(scope="module")
def market(shared_data):
    return read_annotations(shared_data / "market" / "annotations.csv")


def render_maps(people: list[np.ndarray], geom: D.ScaleGeometry, sigma: float = 1.0, width: float = 1.0):
    """Maps an ideal body network would output for these people: Gaussian peaks and unit limb vectors.

    Drawn at the network's resolution (stride 8) in its coordinates: cell u covers scaled pixel 8u + 3.5.
    Returns paf [38, h, w] and heatmap [19, h, w] (float32).
    """
    (h0, w0), (hs, ws) = geom.image, geom.scaled
    h, w = geom.padded[0] // D.STRIDE, geom.padded[1] // D.STRIDE
    heat = np.zeros((19, h, w), np.float32)
    paf = np.zeros((38, h, w), np.float32)
    uu, vv = np.meshgrid(np.arange(w), np.arange(h))

    def to_net(p):
        return ((p[0] + 0.5) * ws / w0 - 4) / D.STRIDE, ((p[1] + 0.5) * hs / h0 - 4) / D.STRIDE

    for kp in people:
        for k, p in enumerate(kp):
            if np.isfinite(p).all():
                u, v = to_net(p)
                heat[k] = np.maximum(heat[k], np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / (2 * sigma**2)))
        for limb, (a, b) in enumerate(LIMBS):
            if not np.isfinite(kp[[a, b]]).all():
                continue
            (ua, va), (ub, vb) = to_net(kp[a]), to_net(kp[b])
            length = np.hypot(ub - ua, vb - va)
            if length < 1e-6:
                continue
            ex, ey = (ub - ua) / length, (vb - va) / length
            along = (uu - ua) * ex + (vv - va) * ey
            across = np.abs((uu - ua) * ey - (vv - va) * ex)
            near = (along >= -width) & (along <= length + width) & (across <= width)
            cx, cy = D.PAF_CHANNELS[limb]
            paf[cx][near], paf[cy][near] = ex, ey
    return paf, heat


class _MapsModel(torch.nn.Module):
    """Stands in for the body network inside controlnet-aux's Body: returns the maps it is given."""

    def __init__(self, padded):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # Body reads the device from a parameter
        self.padded, self.maps = padded, None

    def forward(self, x):
        assert tuple(x.shape[-2:]) == self.padded, "controlnet-aux made another network input size"
        return self.maps


def controlnet_people(cn, paf, heat, geom):
    """controlnet-aux's decoding (Body.__call__ after the network) of one image's maps: [P, 18, 2] NaN missing."""
    body_mod, _ = cn
    body = body_mod.Body.__new__(body_mod.Body)
    body.model = _MapsModel(geom.padded)
    body.model.maps = (torch.as_tensor(paf)[None], torch.as_tensor(heat)[None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        candidate, subset = body(np.zeros((*geom.image, 3), np.uint8))
    people = sorted(body.format_body_result(candidate, subset), key=lambda p: -p.total_score)  # stable, as pg2 ranks
    return np.array([[[k.x, k.y] if k is not None else [np.nan, np.nan] for k in p.keypoints] for p in people],
                    np.float32).reshape(-1, NUM_KEYPOINTS, 2)


def pg2_people(paf, heat, geom, refine=False):
    """pg2's decoding of a batch of maps: per image [P, 18, 2]."""
    out = D.decode_batch([(torch.as_tensor(np.stack(paf)), torch.as_tensor(np.stack(heat)))], [geom], refine=refine)
    return [np.array([p.keypoints for p in people], np.float32).reshape(-1, NUM_KEYPOINTS, 2) for people in out]


def same_people(a: np.ndarray, b: np.ndarray) -> bool:
    """Same number of people, the same keypoints present, each within 1 px (people in ranked order)."""
    if a.shape != b.shape:
        return False
    present = np.isfinite(a).all(-1)
    return bool((present == np.isfinite(b).all(-1)).all() and (np.abs(a - b)[present] <= 1).all())


@pytest.mark.parametrize("image, target", [((128, 64), 184), ((100, 80), 184), ((400, 300), 184), ((256, 256), 368)])
def test_axis_matrices_are_controlnet_aux_resizing_and_smoothing(cn, image, target):
    _, util = cn
    from scipy.ndimage import gaussian_filter

    geom = D.geometry(*image, target)
    h, w = geom.padded[0] // D.STRIDE, geom.padded[1] // D.STRIDE
    maps = np.random.default_rng(0).random((h, w, 19), dtype=np.float32)
    ref = util.smart_resize_k(maps, fx=D.STRIDE, fy=D.STRIDE)[: geom.scaled[0], : geom.scaled[1]]
    ref = util.smart_resize(ref, geom.image)  # [H, W, 19], exactly Body's chain
    interp = D._interp(geom.scaled, geom.image)
    ry, sy = D.axis_matrices(h, geom.scaled[0], image[0], interp)
    rx, sx = D.axis_matrices(w, geom.scaled[1], image[1], interp)
    ours = np.einsum("Hh,hwc,Ww->HWc", ry, maps, rx, optimize=True)
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    smoothed = np.einsum("Hh,hwc,Ww->HWc", sy, maps, sx, optimize=True)
    np.testing.assert_allclose(smoothed[..., 0], gaussian_filter(ref[..., 0].astype(np.float64), sigma=3), atol=2e-5)


def test_decoder_recovers_the_real_market_keypoints(market):
    """Maps drawn from the 187 real Market annotations decode back to them.

    Within 6 px of the edge a stride-8 map cannot place a peak (the upsampler replicates the border cell and
    the reference's reflect-mode smoothing merges a peak with its mirror image): controlnet-aux shows the
    same shift there (see the next test), so the 99% bar applies to the points further in (and on the edge);
    `refine=True` meets it for every visible point (test_refine_recovers_every_real_market_keypoint).
    """
    geom = D.geometry(128, 64, 184)
    maps = [render_maps([kp], geom) for kp in market.keypoints]
    found = pg2_people([m[0] for m in maps], [m[1] for m in maps], geom)
    assert [len(p) for p in found] == [1] * len(market)
    kp = market.keypoints
    visible = np.isfinite(kp).all(-1)
    err = np.abs(np.stack([p[0] for p in found]) - kp).max(-1)
    edge = np.minimum.reduce([kp[..., 0], kp[..., 1], 63 - kp[..., 0], 127 - kp[..., 1]])
    inner = visible & ((edge >= 6) | (edge == 0))
    assert inner.sum() > 0.9 * visible.sum()
    assert (err[inner] <= 1).mean() >= 0.99
    assert (err[visible] <= 1).mean() >= 0.95
    assert (err[visible] <= 4).mean() >= 0.999


def test_decoder_agrees_with_controlnet_aux_on_every_market_crop(cn, market):
    geom = D.geometry(128, 64, 184)
    maps = [render_maps([kp], geom) for kp in market.keypoints]
    ours = pg2_people([m[0] for m in maps], [m[1] for m in maps], geom)
    agree = [same_people(o, controlnet_people(cn, p, h, geom)) for o, (p, h) in zip(ours, maps)]
    assert np.mean(agree) == 1.0, np.flatnonzero(~np.array(agree))


def test_several_people_and_noisy_maps_agree_with_controlnet_aux(cn, market):
    """Crowded, overlapping and noisy maps exercise association: new people, merges, conflicts, ranking."""
    rng = np.random.default_rng(1)
    geom = D.geometry(128, 160, 184)
    pafs, heats = [], []
    for i in range(24):
        n = 1 + i % 4
        people = []
        for j in rng.choice(len(market), n, replace=False):
            kp = market.keypoints[j] + np.array([rng.integers(0, 96), rng.integers(-8, 8)], np.float32)
            kp[(kp[:, 0] > 159) | (kp[:, 1] < 0) | (kp[:, 1] > 127)] = np.nan
            people.append(kp)
        paf, heat = render_maps(people, geom)
        if i % 2:  # noise: spurious peaks of every part and weak, contradictory affinities
            h, w = heat.shape[1:]
            uu, vv = np.meshgrid(np.arange(w), np.arange(h))
            for k in rng.integers(0, NUM_KEYPOINTS, 20):
                u, v = rng.random(2) * (w, h)
                heat[k] += rng.uniform(0.2, 1) * np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / 2).astype(np.float32)
            paf += rng.normal(0, 0.15, paf.shape).astype(np.float32)
        pafs.append(paf)
        heats.append(heat)
    ours = pg2_people(pafs, heats, geom)
    refs = [controlnet_people(cn, p, h, geom) for p, h in zip(pafs, heats)]
    assert sum(len(r) for r in refs) > 40  # many people in total, several per image
    for i, (o, r) in enumerate(zip(ours, refs)):
        assert same_people(o, r), f"image {i}: {len(o)} vs {len(r)} people"


def test_empty_maps_give_nobody():
    geom = D.geometry(128, 64, 184)
    paf, heat = np.zeros((38, 23, 12), np.float32), np.zeros((19, 23, 12), np.float32)
    assert [len(p) for p in pg2_people([paf, paf], [heat, heat], geom)] == [0, 0]


def test_two_scales_average_their_maps(market):
    """Maps at two scales that each show the person decode to the same keypoints as either alone."""
    g1, g2 = D.geometry(128, 64, 184), D.geometry(128, 64, 368)
    kp = market.keypoints[:4]
    m1 = [render_maps([k], g1) for k in kp]
    m2 = [render_maps([k], g2) for k in kp]
    t = torch.as_tensor
    both = D.decode_batch([(t(np.stack([m[0] for m in m1])), t(np.stack([m[1] for m in m1]))),
                           (t(np.stack([m[0] for m in m2])), t(np.stack([m[1] for m in m2])))], [g1, g2])
    alone = pg2_people([m[0] for m in m1], [m[1] for m in m1], g1)
    for b, a in zip(both, alone):
        assert len(b) == 1
        present = np.isfinite(a[0]).all(-1)
        assert (np.abs(b[0].keypoints - a[0])[present] <= 2).all()


# Sub-pixel refinement (refine=True): a log-space Gaussian fit on the network-resolution heatmaps.


def refined_errors(market, geom, keypoints=None, scales=None):
    """(refined [N, 18, 2], unrefined [N, 18, 2], truth) for one person per image drawn from `keypoints`."""
    kp = market.keypoints if keypoints is None else keypoints
    geoms = scales or [geom]
    outputs = []
    for g in geoms:
        maps = [render_maps([k], g) for k in kp]
        outputs.append((torch.as_tensor(np.stack([m[0] for m in maps])), torch.as_tensor(np.stack([m[1] for m in maps]))))
    found = {}
    for refine in (True, False):
        people = D.decode_batch(outputs, geoms, refine=refine)
        assert [len(p) for p in people] == [1] * len(kp)
        found[refine] = np.stack([p[0].keypoints for p in people])
    return found[True], found[False], kp


def test_refine_recovers_every_real_market_keypoint(market):
    """The acceptance bar on every visible keypoint, border ones included: >= 99% within 1 px."""
    refined, plain, kp = refined_errors(market, D.geometry(128, 64, 184))
    visible = np.isfinite(kp).all(-1)
    assert visible.sum() > 2500
    err = np.abs(refined - kp).max(-1)
    assert np.isfinite(err[visible]).all()
    assert (err[visible] <= 1).mean() >= 0.99
    assert (err[visible] <= 0.1).mean() >= 0.99  # ideal Gaussian maps: the log fit is exact
    assert (np.abs(plain - kp).max(-1)[visible] <= 1).mean() < 0.99  # what refine is for
    assert refined.dtype == np.float32 and (refined[visible] >= 0).all()
    assert (refined[visible] <= [63, 127]).all()


def test_refine_leaves_inner_keypoints_where_the_decoder_puts_them(market):
    refined, plain, kp = refined_errors(market, D.geometry(128, 64, 184))
    edge = np.minimum.reduce([kp[..., 0], kp[..., 1], 63 - kp[..., 0], 127 - kp[..., 1]])
    inner = np.isfinite(kp).all(-1) & (edge >= 8)
    assert inner.sum() > 1500
    assert (np.abs(refined - plain).max(-1)[inner] <= 1).all()
    assert (np.isfinite(refined) == np.isfinite(plain)).all()


@pytest.mark.parametrize("image, target", [((128, 64), 368), ((100, 80), 368), ((100, 80), 184)])
def test_refine_on_other_geometries_and_off_grid_keypoints(market, image, target):
    """Another network size, another image size (non-integer scale factors) and keypoints off the pixel grid."""
    h, w = image
    rng = np.random.default_rng(2)
    kp = market.keypoints * np.array([(w - 1) / 63, (h - 1) / 127], np.float32)
    kp = np.clip(kp + rng.uniform(-0.5, 0.5, kp.shape), 0, [w - 1, h - 1]).astype(np.float32)
    refined, _, _ = refined_errors(market, D.geometry(h, w, target), keypoints=kp)
    visible = np.isfinite(kp).all(-1)
    err = np.abs(refined - kp).max(-1)
    assert (err[visible] <= 1).mean() >= 0.99  # a keypoint the association misses counts as wrong
    assert (err[np.isfinite(err)] <= 0.1).all()


def test_refine_with_two_scales_uses_the_finer_grid(market):
    g1, g2 = D.geometry(128, 64, 184), D.geometry(128, 64, 368)
    kp = market.keypoints[:24]
    both, plain, _ = refined_errors(market, g1, keypoints=kp, scales=[g1, g2])
    fine, _, _ = refined_errors(market, g2, keypoints=kp)
    visible = np.isfinite(kp).all(-1)
    assert (np.abs(both - kp).max(-1)[visible] <= 1).all()
    np.testing.assert_allclose(both[visible], fine[visible], atol=1e-4)  # the 368 grid's fit
    assert (np.isfinite(both) == np.isfinite(plain)).all()


def test_refine_keeps_the_people_on_noisy_crowded_maps(market):
    """Spurious peaks and several people: refine changes positions only, never who or which parts are found."""
    rng = np.random.default_rng(3)
    geom = D.geometry(128, 160, 184)
    pafs, heats = [], []
    for i in range(8):
        people = []
        for j in rng.choice(len(market), 1 + i % 3, replace=False):
            kp = market.keypoints[j] + np.array([rng.integers(0, 96), rng.integers(-8, 8)], np.float32)
            kp[(kp[:, 0] > 159) | (kp[:, 1] < 0) | (kp[:, 1] > 127)] = np.nan
            people.append(kp)
        paf, heat = render_maps(people, geom)
        h, w = heat.shape[1:]
        uu, vv = np.meshgrid(np.arange(w), np.arange(h))
        for k in rng.integers(0, NUM_KEYPOINTS, 20):
            u, v = rng.random(2) * (w, h)
            heat[k] += rng.uniform(0.2, 1) * np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / 2).astype(np.float32)
        heat += rng.normal(0, 0.02, heat.shape).astype(np.float32)  # some cells <= 0: the fit must fall back
        pafs.append(paf + rng.normal(0, 0.15, paf.shape).astype(np.float32))
        heats.append(heat)
    plain, refined = pg2_people(pafs, heats, geom), pg2_people(pafs, heats, geom, refine=True)
    for p, r in zip(plain, refined):
        assert p.shape == r.shape and (np.isfinite(p) == np.isfinite(r)).all()
        present = np.isfinite(p).all(-1)
        assert (np.abs(p - r)[present] <= 8).all()
        assert (r[present] >= 0).all() and (r[present] <= [159, 127]).all()


def test_refine_falls_back_on_maps_it_cannot_fit():
    """A flat-topped peak and a one-cell-wide grid keep the decoder's integer pixels."""
    geom = D.geometry(16, 2, 16)  # a 2 x 1 grid: no 3-cell fit along either axis
    h, w = geom.padded[0] // D.STRIDE, geom.padded[1] // D.STRIDE
    heat = torch.zeros(1, 19, h, w)
    heat[0, 0] = 1.0
    paf = torch.zeros(1, 38, h, w)
    pb = pp = torch.zeros(1, dtype=torch.long)
    px, py = torch.tensor([1]), torch.tensor([5])
    out = D.refine_peaks(heat, geom, pb, pp, px, py)
    assert out.tolist() == [[1.0, 5.0]]
    geom = D.geometry(64, 64, 64)  # 8 x 8 cells, a plateau of equal values: flat fits
    heat = torch.zeros(1, 19, 8, 8)
    heat[0, 0] = 0.5
    assert D.refine_peaks(heat, geom, pb, pp, torch.tensor([30]), torch.tensor([12])).tolist() == [[30.0, 12.0]]
    assert D.decode_batch([(paf, torch.zeros(1, 19, h, w))], [D.geometry(16, 2, 16)], refine=True) == [[]]


# The body network itself: the same inputs and outputs as controlnet-aux's Body on real crops.


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """Randomly initialised body-model weights saved in the released file's layout (as controlnet-aux reads it)."""
    from pg2cli.pose.openpose import save_random_weights

    return save_random_weights(tmp_path_factory.mktemp("weights") / "body_pose_model.pth")


def test_network_input_is_controlnet_aux_preprocessing(cn, shared_data):
    from pg2cli.images import read_image
    from pg2cli.pose.openpose import network_input

    _, util = cn
    first = read_annotations(shared_data / "market" / "annotations.csv").names[0]
    rgb = read_image(shared_data / "market" / "images" / first)
    for image in (rgb, np.ascontiguousarray(np.repeat(np.repeat(rgb, 3, 0), 2, 1)), rgb[:, :50]):
        bgr = image[:, :, ::-1].copy()  # OpenposeDetector flips to BGR before Body
        m = 184.0 / bgr.shape[0]
        ref, _ = util.padRightDownCorner(util.smart_resize_k(bgr, fx=m, fy=m), D.STRIDE, D.PAD_VALUE)
        ours, geom = network_input(image, 184)
        assert ours.shape == ref.shape and geom.padded == ref.shape[:2]
        np.testing.assert_array_equal(ours, ref)


def test_weights_in_the_original_layout_load_and_match_controlnet_aux(cn, random_weights, shared_data):
    from pg2cli.images import read_image
    from pg2cli.pose.openpose import OpenPoseBackend

    body_mod, util = cn
    saved = torch.load(random_weights, weights_only=True)
    assert "conv1_1.weight" in saved and "Mconv7_stage6_L2.bias" in saved  # the released file's key names
    body = body_mod.Body(str(random_weights))  # controlnet-aux's own loader accepts the file
    backend = OpenPoseBackend(weights=random_weights, device="cpu", batch_size=2)
    torch.set_num_threads(1)
    names = read_annotations(shared_data / "market" / "annotations.csv").names[:2]
    images = [read_image(shared_data / "market" / "images" / n) for n in names]
    (paf, heat), geom = backend.forward(images, 184)  # one batch, channels-last
    for i, image in enumerate(images):
        bgr = image[:, :, ::-1].copy()
        padded, _ = util.padRightDownCorner(util.smart_resize_k(bgr, fx=184 / 128, fy=184 / 128), 8, 128)
        x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)[None], np.float32) / 256 - 0.5)
        with torch.no_grad():
            ref_paf, ref_heat = body.model(x)
        np.testing.assert_allclose(paf[i].numpy(), ref_paf[0].numpy(), atol=1e-4)
        np.testing.assert_allclose(heat[i].numpy(), ref_heat[0].numpy(), atol=1e-4)
    assert len(backend.detect(images)) == 2
