"""The field's image metrics under named protocols: SSIM (pg2 | patn), masked variants, PSNR, L1, IS, FID, PCKh.

Per-pair metrics take uint8 RGB HxWx3 images (generated, target). Scores move with protocol details
(window, data range, masks, Inception weights), so every SSIM call names its protocol:

- ``pg2`` (PG²'s code): skimage's defaults on uint8 RGB: 7x7 uniform window, sample covariance, data range 255.
- ``patn`` (Deformable GAN / PATN code): Gaussian window sigma 1.5, no sample covariance,
  data range = max - min of the generated image.

IS and FID are computed here from class probabilities and features; the networks that produce them live
in `networks.py`. The Frechet distance is float64 with scipy's sqrtm, as pytorch-fid computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pg2cli.errors import UsageError
from pg2cli.skeleton import NUM_KEYPOINTS

PROTOCOLS: tuple[str, ...] = ("pg2", "patn")

# Head parts of the PCKh convention (PATN / Deformable GAN `calPCKH_*.py`): nose, neck, eyes, ears.
HEAD_PARTS: tuple[int, ...] = (0, 1, 14, 15, 16, 17)


def check_protocol(protocol: str) -> str:
    """Return `protocol` if it is known, else raise UsageError naming the choices."""
    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    return protocol


def _check_pair(generated: np.ndarray, target: np.ndarray) -> None:
    if generated.shape != target.shape or generated.ndim != 3 or generated.shape[2] != 3:
        raise ValueError(f"expected two uint8 HxWx3 images of one size, got {generated.shape} and {target.shape}")
    if generated.dtype != np.uint8 or target.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {generated.dtype} and {target.dtype}")


def ssim(generated: np.ndarray, target: np.ndarray, protocol: str = "pg2") -> float:
    """SSIM of one pair of uint8 RGB images (channel mean) under `protocol` ('pg2' or 'patn')."""
    from skimage.metrics import structural_similarity

    _check_pair(generated, target)
    if check_protocol(protocol) == "pg2":
        # skimage's defaults; uint8 input gives data_range 255.
        return float(structural_similarity(target, generated, channel_axis=-1))
    # PATN takes the range of the generated image; a constant image (range 0) would divide by zero,
    # so it counts as range 1 (the reference code returns NaN there).
    data_range = max(int(generated.max()) - int(generated.min()), 1)
    return float(structural_similarity(target, generated, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=data_range))


def apply_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`image` (uint8 HxWx3) with pixels outside `mask` (HxW, 1 = body) set to 0, as mask-SSIM/mask-IS use it."""
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask is {mask.shape}, image is {image.shape[:2]}")
    return image * (mask > 0)[:, :, None].astype(np.uint8)


def mask_ssim(generated: np.ndarray, target: np.ndarray, mask: np.ndarray, protocol: str = "pg2") -> float:
    """SSIM of both images multiplied by the target's pose mask (PG²'s mask-SSIM)."""
    return ssim(apply_mask(generated, mask), apply_mask(target, mask), protocol)


def psnr(generated: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB with data range 255 (inf for identical images)."""
    from skimage.metrics import peak_signal_noise_ratio

    _check_pair(generated, target)
    if np.array_equal(generated, target):
        return float("inf")
    return float(peak_signal_noise_ratio(target, generated, data_range=255))


def l1(generated: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute difference with intensities scaled to [0, 1]."""
    _check_pair(generated, target)
    return float(np.abs(generated.astype(np.float64) - target.astype(np.float64)).mean() / 255.0)


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Inception Score (mean, std over splits) from class probabilities [N, C].

    As OpenAI's improved-GAN code: the images are cut into `splits` consecutive parts
    (part i = rows i*N//splits .. (i+1)*N//splits), IS_i = exp(mean KL(p(y|x) || p(y))).
    With fewer than `splits` images, each image is its own split.
    """
    from scipy.special import rel_entr

    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"expected probabilities [N, C] with N >= 1, got {probs.shape}")
    n = len(probs)
    splits = max(1, min(splits, n))
    scores = []
    for i in range(splits):
        part = probs[i * n // splits:(i + 1) * n // splits]
        py = part.mean(axis=0, keepdims=True)
        scores.append(np.exp(rel_entr(part, py).sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, rows = samples) of features [N, D], as pytorch-fid computes them."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need features [N, D] with N >= 2 for a covariance, got {features.shape}")
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Frechet distance d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)) between two Gaussians, in float64.

    As pytorch-fid: when sqrt(S1 S2) is not finite (a singular product), `eps` is added to both diagonals;
    a tiny imaginary part from round-off is dropped, a large one is an error.
    """
    import warnings

    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"mismatched statistics: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # judged below by the result itself
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"Frechet distance: imaginary component {np.max(np.abs(covmean.imag)):.3g} in "
                             "sqrt(S1 S2) (singular covariances: fewer samples than feature dimensions?)")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets [N1, D] and [N2, D] (Inception pool3 features for the real thing).

    With at least D samples on both sides this is pytorch-fid's computation (`frechet_distance`). With fewer,
    both covariances are singular, where sqrtm is slow (minutes at D = 2048) and numerically unreliable; then
    the exact low-rank identity is used: with centred features A1, A2 and S_i = A_i^T A_i / (N_i - 1),
    Tr sqrt(S1 S2) = (sum of the singular values of A1 A2^T) / sqrt((N1 - 1)(N2 - 1)).
    """
    a1 = np.asarray(features1, np.float64)
    a2 = np.asarray(features2, np.float64)
    mu1, sigma1 = feature_statistics(a1)
    mu2, sigma2 = feature_statistics(a2)
    (n1, d), n2 = a1.shape, len(a2)
    if min(n1, n2) >= d:
        return frechet_distance(mu1, sigma1, mu2, sigma2)
    c1, c2 = a1 - mu1, a2 - mu2
    tr_covmean = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def head_size(keypoints: np.ndarray) -> tuple[float, float] | None:
    """Head box (width, height) of keypoints [18, 2]: the extent of the present head parts
    (nose, neck, eyes, ears); None when fewer than two are present (the image is then not scored)."""
    kp = np.asarray(keypoints, np.float64)[list(HEAD_PARTS)]
    kp = kp[np.isfinite(kp).all(axis=1)]
    if len(kp) < 2:
        return None
    w, h = kp.max(axis=0) - kp.min(axis=0)
    return float(w), float(h)


@dataclass
class PCKhCounts:
    """Pooled PCKh counts: `correct` of `total` target keypoints; `skipped` images without a head box."""

    correct: int = 0
    total: int = 0
    images: int = 0
    skipped: int = 0

    @property
    def value(self) -> float:
        """correct / total (NaN when nothing was scored)."""
        return self.correct / self.total if self.total else float("nan")

    def __iadd__(self, other: "PCKhCounts") -> "PCKhCounts":
        self.correct += other.correct
        self.total += other.total
        self.images += other.images
        self.skipped += other.skipped
        return self


def pckh(predicted: np.ndarray, target: np.ndarray, alpha: float = 0.5) -> PCKhCounts:
    """PCKh@alpha of predicted keypoints [N, 18, 2] against target keypoints [N, 18, 2] (NaN = missing).

    The pose-transfer convention (PATN / Deformable GAN `calPCKH_market.py`, `calPCKH_fashion.py`):
    the head size is the (w, h) box of the target's present head parts; an image with fewer than two
    head parts is skipped; every present target keypoint counts, and it is correct when the predicted
    point is present and |dx| < alpha*w and |dy| < alpha*h. Counts are pooled over all images.
    """
    predicted = np.asarray(predicted, np.float64).reshape(-1, NUM_KEYPOINTS, 2)
    target = np.asarray(target, np.float64).reshape(-1, NUM_KEYPOINTS, 2)
    if predicted.shape != target.shape:
        raise ValueError(f"predicted {predicted.shape} and target {target.shape} keypoints differ in shape")
    out = PCKhCounts()
    for p, t in zip(predicted, target):
        box = head_size(t)
        if box is None:
            out.skipped += 1
            continue
        present = np.isfinite(t).all(axis=1)
        with np.errstate(invalid="ignore"):
            d = np.abs(p - t)  # NaN where either is missing: never correct
            right = present & (d[:, 0] < alpha * box[0]) & (d[:, 1] < alpha * box[1])
        out.correct += int(right.sum())
        out.total += int(present.sum())
        out.images += 1
    return out
