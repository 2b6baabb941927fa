"""Metrics against the reference libraries and independent formulas, on real Market-1501 pairs.

Tolerances: SSIM 1e-9 (same float64 arithmetic), PSNR 1e-5 dB (torchmetrics works in float32 internally),
L1 1e-12, LPIPS 1e-6, Inception features 1e-5, FID relative 1e-6 (scipy's sqrtm vs eigenvalues), IS 1e-9.
Networks are randomly initialised (no weights can be downloaded here) and put where the libraries' own
loaders look (torch.hub's cache), so both sides run their real code paths on the same weights.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pg2cli.errors import MissingWeightsError, UsageError
from pg2cli.evaluate import metrics as M


@pytest.fixture(scope="module")
def market_pairs(shared_data):
    """Six real (source, target) uint8 pairs and the target keypoints from ../shared/data/market."""
    from pg2cli.formats import read_annotations
    from pg2cli.images import read_image

    root = shared_data / "market"
    ann = read_annotations(root / "annotations.csv")
    rows = list(csv.DictReader(open(root / "pairs.csv", encoding="utf-8")))[:6]
    src = np.stack([read_image(root / "images" / r["from"]) for r in rows])
    tgt = np.stack([read_image(root / "images" / r["to"]) for r in rows])
    kps = np.stack([ann.get(r["to"]) for r in rows])
    return src, tgt, kps


def _ssim_reference(x: np.ndarray, y: np.ndarray, gaussian: bool, sample_cov: bool, data_range: float) -> float:
    """Wang et al.'s SSIM written out with scipy filters: the per-channel mean map over the valid interior."""
    from scipy import ndimage

    vals = []
    for c in range(3):
        a, b = x[..., c].astype(np.float64), y[..., c].astype(np.float64)
        if gaussian:  # sigma 1.5 truncated at 3.5 sigma: an 11x11 window
            filt, win = (lambda im: ndimage.gaussian_filter(im, 1.5, truncate=3.5)), 11
        else:
            filt, win = (lambda im: ndimage.uniform_filter(im, 7)), 7
        cov_norm = win * win / (win * win - 1) if sample_cov else 1.0
        ua, ub = filt(a), filt(b)
        vaa = cov_norm * (filt(a * a) - ua * ua)
        vbb = cov_norm * (filt(b * b) - ub * ub)
        vab = cov_norm * (filt(a * b) - ua * ub)
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        s = ((2 * ua * ub + c1) * (2 * vab + c2)) / ((ua ** 2 + ub ** 2 + c1) * (vaa + vbb + c2))
        pad = (win - 1) // 2
        vals.append(s[pad:-pad, pad:-pad].mean())
    return float(np.mean(vals))


def test_ssim_pg2_is_skimage_defaults_on_uint8(market_pairs):
    from skimage.metrics import structural_similarity

    src, tgt, _ = market_pairs
    for g, t in zip(src, tgt):
        got = M.ssim(g, t, "pg2")
        assert got == pytest.approx(structural_similarity(t, g, channel_axis=-1), abs=1e-12)
        assert got == pytest.approx(_ssim_reference(g, t, gaussian=False, sample_cov=True, data_range=255), abs=1e-9)


def test_ssim_patn_gaussian_population_cov_generated_range(market_pairs):
    src, tgt, _ = market_pairs
    for g, t in zip(src, tgt):
        rng = float(g.max()) - float(g.min())
        got = M.ssim(g, t, "patn")
        assert got == pytest.approx(_ssim_reference(g, t, gaussian=True, sample_cov=False, data_range=rng), abs=1e-9)
        assert got != pytest.approx(M.ssim(g, t, "pg2"), abs=1e-3)  # the protocols really differ


def test_ssim_identity_and_errors(market_pairs):
    src, tgt, _ = market_pairs
    assert M.ssim(src[0], src[0], "pg2") == pytest.approx(1.0)
    assert M.ssim(src[0], src[0], "patn") == pytest.approx(1.0)
    with pytest.raises(UsageError, match="protocol"):
        M.ssim(src[0], tgt[0], "deformable")
    with pytest.raises(ValueError, match="one size"):
        M.ssim(src[0], tgt[0][:64], "pg2")
    flat = np.full_like(src[0], 7)  # a constant image: the PATN range would be 0
    assert np.isfinite(M.ssim(flat, tgt[0], "patn"))


def test_mask_ssim_is_ssim_of_masked_images(market_pairs):
    from pg2cli.data.render import render_pose_mask

    src, tgt, kps = market_pairs
    mask = render_pose_mask(kps[0], tgt.shape[1:3])
    assert 0 < mask.mean() < 1
    g, t = src[0] * mask[..., None], tgt[0] * mask[..., None]
    for proto in ("pg2", "patn"):
        assert M.mask_ssim(src[0], tgt[0], mask, proto) == pytest.approx(M.ssim(g, t, proto), abs=1e-12)
    ones = np.ones(tgt.shape[1:3], np.uint8)
    assert M.mask_ssim(src[0], tgt[0], ones) == pytest.approx(M.ssim(src[0], tgt[0]), abs=1e-12)


def test_psnr_and_l1_match_torch(market_pairs):
    import torch
    from torchmetrics.functional.image import peak_signal_noise_ratio

    src, tgt, _ = market_pairs
    for g, t in zip(src, tgt):
        tg = torch.from_numpy(g).double()
        tt = torch.from_numpy(t).double()
        assert M.psnr(g, t) == pytest.approx(peak_signal_noise_ratio(tg, tt, data_range=255.0).item(), abs=1e-5)
        assert M.l1(g, t) == pytest.approx(torch.nn.functional.l1_loss(tg / 255, tt / 255).item(), abs=1e-12)
    assert M.psnr(src[0], src[0]) == float("inf")


def test_frechet_distance_matches_pytorch_fid_and_eigen_reference():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 16))
    b = rng.normal(size=(250, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
    mu1, s1 = M.feature_statistics(a)
    mu2, s2 = M.feature_statistics(b)
    got = M.frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2), rel=1e-9)
    assert got == pytest.approx(_eigen_fid(a, b), rel=1e-6)
    assert M.fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)
    assert M.fid_from_features(a, b) == pytest.approx(got, rel=1e-12)


def _eigen_fid(a: np.ndarray, b: np.ndarray) -> float:
    """Independent reference: Tr sqrt(S1 S2) as the sum of sqrt of the eigenvalues of S1 S2 (torchmetrics' way)."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ev = linalg.eigvals(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev.real, 0, None)).sum())


def test_fid_with_fewer_samples_than_dimensions_uses_the_exact_low_rank_identity():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20, 64))  # 20 samples in 64 dimensions: singular covariances
    b = rng.normal(size=(30, 64)) * 0.7 + 0.2
    assert M.fid_from_features(a, b) == pytest.approx(_eigen_fid(a, b), rel=1e-6)
    assert M.fid_from_features(a, a) == pytest.approx(0.0, abs=1e-9)
    # At the boundary both paths agree: 64 samples in 64 dimensions goes through sqrtm.
    c, d = rng.normal(size=(64, 64)), rng.normal(size=(80, 64)) + 0.1
    assert M.fid_from_features(c, d) == pytest.approx(_eigen_fid(c, d), rel=1e-6)


def test_inception_score_known_distributions():
    n, c = 200, 10
    uniform = np.full((n, c), 1.0 / c)
    assert M.inception_score(uniform) == pytest.approx((1.0, 0.0), abs=1e-12)
    # Confident and evenly spread over 10 classes within every split: IS = number of classes.
    onehot = np.eye(c)[np.arange(n) % c]
    mean, std = M.inception_score(onehot, splits=10)
    assert mean == pytest.approx(10.0, abs=1e-9) and std == pytest.approx(0.0, abs=1e-9)
    # Confident but always the same class: no diversity, IS = 1.
    assert M.inception_score(np.eye(c)[np.zeros(n, int)])[0] == pytest.approx(1.0, abs=1e-12)
    # Fewer images than splits: one image per split, each split's IS is 1.
    assert M.inception_score(onehot[:3])[0] == pytest.approx(1.0, abs=1e-12)


def test_inception_score_matches_torchmetrics():
    import torch
    from torchmetrics.image.inception import InceptionScore

    rng = np.random.default_rng(2)
    logits = torch.from_numpy(rng.normal(size=(200, 1008)) * 3).float()
    ref_metric = InceptionScore(feature=torch.nn.Identity(), splits=10)
    ref_metric.update(logits)
    torch.manual_seed(0)
    ref_mean, ref_std = ref_metric.compute()
    torch.manual_seed(0)
    perm = torch.randperm(200).numpy()  # torchmetrics shuffles before splitting
    probs = torch.softmax(logits.double(), dim=1).numpy()[perm]
    mean, std = M.inception_score(probs, 10)
    assert mean == pytest.approx(ref_mean.item(), rel=1e-5)
    # OpenAI's code reports np.std (ddof 0); torchmetrics the unbiased std (ddof 1).
    assert std * np.sqrt(10 / 9) == pytest.approx(ref_std.item(), rel=1e-4)


def _kp(points: dict[int, tuple[float, float]]) -> np.ndarray:
    kp = np.full((18, 2), np.nan, np.float32)
    for k, xy in points.items():
        kp[k] = xy
    return kp


def test_head_size_convention():
    # nose (10, 20), neck (14, 30), right eye (8, 18): box 6 wide, 12 high.
    assert M.head_size(_kp({0: (10, 20), 1: (14, 30), 14: (8, 18)})) == (6.0, 12.0)
    assert M.head_size(_kp({0: (10, 20), 2: (0, 0), 5: (5, 5)})) is None  # one head part only


def test_pckh_known_offsets():
    # Head parts nose, neck and both ears: box w = 8, h = 20 -> correct when |dx| < 4 and |dy| < 10.
    target = _kp({0: (30, 10), 1: (30, 30), 2: (20, 30), 5: (40, 30), 8: (22, 70), 11: (38, 70),
                  16: (26, 12), 17: (34, 12)})
    present = np.isfinite(target).all(axis=1)
    pred = target.copy()
    pred[2] += (3.9, 0)  # inside
    pred[5] += (4.0, 0)  # on the threshold: strict '<', wrong
    pred[8] += (0, 9.9)  # inside
    pred[11] += (0, 10.5)  # outside
    pred[0] = np.nan  # not found
    pred[9] = (20, 90)  # predicted where the target has nothing: does not count at all
    res = M.pckh(pred[None], target[None])
    assert res.total == present.sum() == 8
    assert res.correct == 8 - 3
    assert res.value == pytest.approx(5 / 8)
    # Pooled over images, and an image without a head box is skipped.
    headless = _kp({2: (1, 1), 5: (3, 3)})
    res2 = M.pckh(np.stack([pred, headless]), np.stack([target, headless]))
    assert (res2.correct, res2.total, res2.images, res2.skipped) == (5, 8, 1, 1)
    # alpha scales the thresholds.
    assert M.pckh(pred[None], target[None], alpha=1.0).correct == 8 - 1


# ---------------------------------------------------------------------------------------------- networks

@pytest.fixture()
def hub_cache(tmp_path, monkeypatch):
    """An empty torch.hub cache of our own (TORCH_HOME), so no real download cache is touched."""
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("PG2_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.delenv("PG2_LPIPS_WEIGHTS", raising=False)
    torch.set_flush_denormal(True)  # random weights can drive activations into slow denormals
    torch.set_num_threads(1)  # the machine is shared; one thread is faster than two contended ones
    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    return ckpt


@pytest.mark.filterwarnings("ignore:.*(pretrained|weight enum).*:UserWarning")  # lpips calls torchvision's old API
def test_lpips_equals_the_lpips_package(market_pairs, hub_cache):
    import lpips
    import torch
    import torchvision

    from pg2cli.evaluate.networks import ALEXNET, LpipsNet

    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), hub_cache / ALEXNET.file_name)
    ours = LpipsNet.load()
    ref = lpips.LPIPS(net="alex", verbose=False)  # the package's default path: torchvision loads the cached file
    src, tgt, _ = market_pairs
    with torch.no_grad():
        x = torch.from_numpy(src).permute(0, 3, 1, 2).float() / 127.5 - 1
        y = torch.from_numpy(tgt).permute(0, 3, 1, 2).float() / 127.5 - 1
        expected = ref(x, y).flatten().numpy()
    got = ours(src, tgt)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert (got > 0).all()
    np.testing.assert_allclose(ours(src, src), 0.0, atol=1e-7)


@pytest.fixture()
def random_inception(hub_cache):
    """A randomly initialised FID Inception saved where pytorch-fid looks, loaded by our loader and theirs."""
    import torch
    from pytorch_fid.inception import InceptionV3

    from pg2cli.evaluate.networks import INCEPTION, InceptionNet

    torch.save(InceptionNet.random_state_dict(0), hub_cache / INCEPTION.file_name)
    return InceptionNet.load(), InceptionV3([3]).eval()


def test_inception_features_match_pytorch_fid(market_pairs, random_inception):
    import torch

    ours, ref = random_inception
    src, tgt, _ = market_pairs
    feats, probs = ours(src)
    with torch.no_grad():
        expected = ref(torch.from_numpy(src).permute(0, 3, 1, 2).float() / 255)[0].flatten(1).double().numpy()
    np.testing.assert_allclose(feats, expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert probs.shape == (len(src), 1008)
    fid = M.fid_from_features(feats, ours(tgt)[0])
    assert fid > 0
    assert M.fid_from_features(feats, feats) == pytest.approx(0.0, abs=1e-6 * fid)


@pytest.mark.slow
def test_fid_matches_torchmetrics_on_real_images(market_pairs, random_inception):
    """torchmetrics' FID over pytorch-fid's features (eigenvalues of a 2048x2048 product: ~40 s here)."""
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance

    ours, ref = random_inception
    src, tgt, _ = market_pairs

    class Pool3(torch.nn.Module):  # pytorch-fid's pool3 as torchmetrics' custom feature extractor
        num_features = 2048

        def forward(self, x):
            return ref(x.float() / 255)[0].flatten(1)

    fid_ref = FrechetInceptionDistance(feature=Pool3(), normalize=False)
    fid_ref.set_dtype(torch.float64)
    fid_ref.update(torch.from_numpy(tgt).permute(0, 3, 1, 2), real=True)
    fid_ref.update(torch.from_numpy(src).permute(0, 3, 1, 2), real=False)
    got = M.fid_from_features(ours(src)[0], ours(tgt)[0])
    assert got == pytest.approx(fid_ref.compute().item(), rel=1e-4)


def test_weights_lookup(hub_cache, tmp_path, monkeypatch):
    from pg2cli.evaluate.networks import ALEXNET, INCEPTION, InceptionNet, find_weights

    assert find_weights(INCEPTION) is None  # empty cache
    with pytest.raises(MissingWeightsError, match="--inception-weights"):
        InceptionNet.load()
    with pytest.raises(MissingWeightsError, match="no such file"):
        find_weights(INCEPTION, tmp_path / "nope.pth")
    f = tmp_path / "alex.pth"
    f.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("PG2_LPIPS_WEIGHTS", str(f))
    assert find_weights(ALEXNET) == f
    from pg2cli.evaluate.networks import LpipsNet

    with pytest.raises(MissingWeightsError, match="cannot load"):
        LpipsNet.load()
