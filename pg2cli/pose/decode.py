"""Vectorised OpenPose decoding: heatmap peaks, part-affinity line integrals, greedy association into people.

A batch-wide torch port of controlnet-aux's `Body.__call__` (itself CMU's reference decoder) that gives
the same people on the same network outputs. Every step that controlnet-aux does per image and per channel
in Python (8x Lanczos upsampling, cropping the padding, resizing to the image, Gaussian smoothing) is a
linear map along each axis, so it is folded into one small matrix per axis, built once per geometry by
running the very same OpenCV / SciPy operations on identity matrices. Full-resolution maps are made only for
the 18 smoothed heatmaps (peak finding needs them); heatmap scores and affinity samples are read at their
points straight from the network-resolution maps. `decode_batch(..., refine=True)` then moves each keypoint to
a sub-pixel, DARK-style estimate from the network-resolution heatmap (`refine_peaks`), opt-in because
controlnet-aux (and PG²'s annotations) keep integer pixels, pulled onto the edge within ~6 px of the border.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pg2cli.formats.openpose import OpenPosePerson
from pg2cli.skeleton import LIMBS, NUM_KEYPOINTS

STRIDE = 8  # the body network's output stride
PAD_VALUE = 128  # grey padding up to a multiple of the stride (controlnet-aux's padValue)
PEAK_THRESHOLD = 0.1  # thre1: a heatmap peak must exceed this after smoothing
PAF_THRESHOLD = 0.05  # thre2: an affinity sample must exceed this to count
PAF_SAMPLES = 10  # mid_num: samples along a candidate limb
PEAK_SIGMA = 3.0  # Gaussian smoothing of the full-resolution heatmaps before peak finding

# Part-affinity channels (x, y) of each limb in LIMBS order: controlnet-aux's mapIdx minus 19.
PAF_CHANNELS: tuple[tuple[int, int], ...] = (
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7),
    (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27),
)
NEW_PERSON_LIMBS = 17  # limbs 17 and 18 (shoulder-ear) may extend a person but never start one


@dataclass(frozen=True)
class ScaleGeometry:
    """How one image went through the network at one scale.

    `scaled` is the image size after resizing (before padding), `padded` the network input size;
    both (height, width). The network output is `padded // STRIDE`.
    """

    image: tuple[int, int]
    scaled: tuple[int, int]
    padded: tuple[int, int]


def scaled_size(height: int, width: int, target_height: float) -> tuple[int, int]:
    """Image size after scaling its height to `target_height`, truncated as controlnet-aux does (at least 1 px)."""
    m = float(target_height) / height
    return max(1, int(height * m)), max(1, int(width * m))


def geometry(height: int, width: int, target_height: float) -> ScaleGeometry:
    """The ScaleGeometry of an image of (height, width) scaled to `target_height` and padded to the stride."""
    hs, ws = scaled_size(height, width, target_height)
    hp, wp = -(-hs // STRIDE) * STRIDE, -(-ws // STRIDE) * STRIDE
    return ScaleGeometry((height, width), (hs, ws), (hp, wp))


def _interp(src: tuple[int, int], dst: tuple[int, int]) -> int:
    """controlnet-aux's smart_resize choice: area when shrinking (by the sum of sides), else Lanczos-4."""
    import cv2

    return cv2.INTER_AREA if (dst[0] + dst[1]) / (src[0] + src[1]) < 1 else cv2.INTER_LANCZOS4


def _resize_1d(n_in: int, n_out: int, interp: int) -> np.ndarray:
    """The [n_out, n_in] matrix of cv2.resize along one axis (found by resizing an identity matrix)."""
    import cv2

    eye = np.eye(n_in, dtype=np.float32)
    return cv2.resize(eye, (n_in, n_out), interpolation=interp).astype(np.float64)


@lru_cache(maxsize=256)
def axis_matrices(n_net: int, n_scaled: int, n_image: int, interp_down: int) -> tuple[np.ndarray, np.ndarray]:
    """(R, S) along one axis: network-resolution map -> image-resolution map, unsmoothed (R) and smoothed (S).

    R = resize(scaled -> image) @ crop(scaled) @ upsample(x8, Lanczos-4); S = Gaussian(sigma=3) @ R, exactly
    the chain controlnet-aux runs per channel.
    """
    import cv2
    from scipy.ndimage import gaussian_filter1d

    up = _resize_1d(n_net, n_net * STRIDE, cv2.INTER_LANCZOS4)[:n_scaled]  # [n_scaled, n_net]
    r = _resize_1d(n_scaled, n_image, interp_down) @ up  # [n_image, n_net]
    gauss = gaussian_filter1d(np.eye(n_image), PEAK_SIGMA, axis=0, mode="reflect", truncate=4.0)
    return r, gauss @ r


@lru_cache(maxsize=64)
def _geometry_matrices(geom: ScaleGeometry, device: str):
    """Per-axis (R, S) matrices of one geometry as float32 tensors on `device`: ((Ry, Sy), (Rx, Sx))."""
    import torch

    dtype = torch.float32
    interp = _interp(geom.scaled, geom.image)
    out = []
    for axis in (0, 1):
        r, s = axis_matrices(geom.padded[axis] // STRIDE, geom.scaled[axis], geom.image[axis], interp)
        out.append((torch.as_tensor(r, dtype=dtype, device=device), torch.as_tensor(s, dtype=dtype, device=device)))
    return out


def _linspace_points(a, b, n: int):
    """numpy.linspace(a, b, n) per row, in float64, with its exact end point: [N] x2 -> [N, n]."""
    import torch

    step = (b - a) / (n - 1)
    pts = torch.arange(n, dtype=torch.float64, device=a.device)[None] * step[:, None] + a[:, None]
    pts[:, -1] = b
    return pts


def decode_batch(outputs, geometries: list[ScaleGeometry], max_samples: int = 1 << 18,
                 refine: bool = False) -> list[list[OpenPosePerson]]:
    """People in each image of a batch from the body network's outputs at one or more scales.

    `outputs`: one (paf [B, 38, h, w], heatmap [B, 19, h, w]) pair per scale, for B images of one size;
    `geometries`: the matching ScaleGeometry per scale. Maps at several scales are averaged, as in CMU's
    multi-scale search (controlnet-aux itself uses one scale).
    `refine`: move each keypoint to a sub-pixel, DARK-style estimate from the raw heatmap (see `refine_peaks`);
    people, their scores and confidences are found exactly as without it. Off: controlnet-aux's integer pixels.
    Returns, per image, the people sorted best first (by OpenPose's total score).
    """
    import torch

    if len(outputs) != len(geometries) or not outputs:
        raise ValueError("decode_batch needs one geometry per scale output")
    batch, device = outputs[0][1].shape[0], outputs[0][1].device
    dtype = torch.float32
    height, width = geometries[0].image
    n_scales = len(outputs)
    mats = [_geometry_matrices(g, str(device)) for g in geometries]

    # Smoothed full-resolution heatmaps, averaged over scales: S_y @ H @ S_x^T.
    smooth = torch.zeros(batch, NUM_KEYPOINTS, height, width, dtype=dtype, device=device)  # [B, 18, H, W]
    heat_rows, paf_rows = [], []  # per scale: maps already resized along x, read later at points
    for (paf, heat), ((ry, sy), (rx, sx)) in zip(outputs, mats):
        heat = heat[:, :NUM_KEYPOINTS].to(dtype)
        smooth += torch.matmul(torch.matmul(sy, heat), sx.T)
        heat_rows.append(torch.matmul(heat, rx.T))  # [B, 18, h, W]
        paf_rows.append(torch.matmul(paf.to(dtype), rx.T))  # [B, 38, h, W]
    smooth /= n_scales

    # Peaks: above the threshold and >= their 4 neighbours (zero outside the image). Only the pixels above
    # the threshold are compared, by flat index; nonzero keeps upstream's order: image, part, row, column.
    flat = smooth.reshape(-1)
    idx = torch.nonzero(flat > PEAK_THRESHOLD).squeeze(1)
    px, py = idx % width, (idx // width) % height
    centre = flat[idx]
    is_peak = torch.ones_like(centre, dtype=torch.bool)
    for step, inside in ((-1, px > 0), (1, px < width - 1), (-width, py > 0), (width, py < height - 1)):
        neighbour = flat[(idx + step).clamp(0, flat.numel() - 1)]
        is_peak &= ~inside | (centre >= neighbour)
    idx, px, py = idx[is_peak], px[is_peak], py[is_peak]
    pb, pp = idx // (NUM_KEYPOINTS * height * width), (idx // (height * width)) % NUM_KEYPOINTS
    n_peaks = pb.numel()
    if n_peaks == 0:
        return [[] for _ in range(batch)]

    def at_points(rows_per_scale, b, c, y, x):
        """Unsmoothed image-resolution map values at points: sum over scales of Ry[y] . rows[b, c, :, x]."""
        val = torch.zeros(b.shape[0], dtype=dtype, device=device)
        for rows, ((ry, _), _) in zip(rows_per_scale, mats):
            val += (rows[b, c, :, x] * ry[y]).sum(-1)
        return val / n_scales

    peak_score = at_points(heat_rows, pb, pp, py, px)  # [P]

    # Candidate limbs: every (A, B) peak pair of a limb's two parts in one image.
    counts = torch.zeros(batch, NUM_KEYPOINTS, dtype=torch.long, device=device)
    counts.index_put_((pb, pp), torch.ones_like(pb), accumulate=True)
    starts = (torch.cumsum(counts.flatten(), 0) - counts.flatten()).view(batch, NUM_KEYPOINTS)
    limb_a = torch.tensor([a for a, _ in LIMBS], device=device)
    limb_b = torch.tensor([b for _, b in LIMBS], device=device)
    n_a, n_b = counts[:, limb_a], counts[:, limb_b]  # [B, 19]
    pairs_per_group = (n_a * n_b).flatten()  # groups in (image, limb) order
    n_pairs = int(pairs_per_group.sum())
    if n_pairs == 0:
        return [[] for _ in range(batch)]
    group = torch.repeat_interleave(torch.arange(batch * len(LIMBS), device=device), pairs_per_group)
    local = torch.arange(n_pairs, device=device) - (torch.cumsum(pairs_per_group, 0) - pairs_per_group)[group]
    g_img, g_limb = group // len(LIMBS), group % len(LIMBS)
    nb = n_b.flatten()[group]
    peak_a = starts[g_img, limb_a[g_limb]] + local // nb  # [N] global peak index
    peak_b = starts[g_img, limb_b[g_limb]] + local % nb

    # Line integral of the affinity field along each candidate (chunked: crowded or noisy maps make many).
    paf_ch = torch.tensor(PAF_CHANNELS, device=device)
    score = torch.empty(n_pairs, dtype=torch.float64, device=device)
    ok = torch.empty(n_pairs, dtype=torch.bool, device=device)
    chunk = max(1, max_samples // PAF_SAMPLES)
    for lo in range(0, n_pairs, chunk):
        sl = slice(lo, lo + chunk)
        a, b, limb = peak_a[sl], peak_b[sl], g_limb[sl]
        xa, ya, xb, yb = (t.to(torch.float64) for t in (px[a], py[a], px[b], py[b]))
        vx, vy = xb - xa, yb - ya
        norm = torch.sqrt(vx * vx + vy * vy).clamp_min(0.001)
        sx_ = torch.round(_linspace_points(xa, xb, PAF_SAMPLES)).long().flatten()
        sy_ = torch.round(_linspace_points(ya, yb, PAF_SAMPLES)).long().flatten()
        img = pb[a].repeat_interleave(PAF_SAMPLES)
        ch = paf_ch[limb].repeat_interleave(PAF_SAMPLES, dim=0)
        fx = at_points(paf_rows, img, ch[:, 0], sy_, sx_).view(-1, PAF_SAMPLES).double()
        fy = at_points(paf_rows, img, ch[:, 1], sy_, sx_).view(-1, PAF_SAMPLES).double()
        mid = fx * (vx / norm)[:, None] + fy * (vy / norm)[:, None]  # [n, 10]
        prior = torch.clamp(0.5 * height / norm - 1, max=0)
        s = mid.mean(1) + prior
        score[sl] = s
        ok[sl] = ((mid > PAF_THRESHOLD).sum(1) > 0.8 * PAF_SAMPLES) & (s > 0)

    chosen = _greedy_matching(score, ok, peak_a, peak_b, g_limb, n_peaks)
    xy = torch.stack([px, py], 1).float()  # [P, 2]
    if refine:
        finest = max(range(n_scales), key=lambda i: geometries[i].scaled[0] * geometries[i].scaled[1])
        xy = refine_peaks(outputs[finest][1], geometries[finest], pb, pp, px, py)
    return _assemble(chosen, score, peak_a, peak_b, g_img, g_limb, pb, xy, peak_score, batch)


REFINE_CLIMB = 2  # hill-climbing steps from the cell under a peak to the heatmap's local maximum
REFINE_MAX_SHIFT = 1.0  # a fitted centre further than this (in cells) from the maximum cell is not trusted
REFINE_MIN_VALUE = 1e-6  # heatmap values at or below this cannot be fitted in log space


def _log_parabola(l0, l1, l2):
    """Vertex offset from the middle of three log values at -1, 0, +1 and whether the fit is a proper maximum."""
    import torch

    curv = l0 - 2 * l1 + l2
    good = torch.isfinite(curv) & (curv < -1e-6)  # strictly concave: a maximum, not flat nor a minimum
    return torch.where(good, 0.5 * (l0 - l2) / torch.where(good, curv, -1.0), 0.0), good


def refine_peaks(heat, geom: ScaleGeometry, pb, pp, px, py):
    """Sub-pixel keypoints [P, 2] (x, y, float32) of peaks at pixels (px, py), part pp of image pb.

    DARK-style (Zhang et al., CVPR 2020, distribution-aware coordinate decoding) on the raw network heatmap
    `heat` [B, 19, h, w] of one scale: from the grid cell under the peak, climb to the local maximum cell, then
    per axis fit a parabola to the logarithm of three cells (a Gaussian's exact shape) and take its vertex.
    At the grid's edge the three cells nearest it are used (a one-sided fit, still exact for a Gaussian whose
    centre lies outside the sampled cells, where the image-size maps of controlnet-aux's decoder are flat).
    Grid cell u is scaled pixel 8u + 3.5, so image x = (8u + 4) * w0 / ws - 0.5 (likewise y); the result is
    clamped to the image. An axis whose fit fails (a value <= REFINE_MIN_VALUE, a flat or convex fit, a vertex
    more than REFINE_MAX_SHIFT cells from the maximum, a grid under 3 cells) keeps the peak's pixel.
    """
    import torch

    (h0, w0), (hs, ws) = geom.image, geom.scaled
    h, w = heat.shape[-2:]
    device = heat.device

    def at(y, x):
        """Heatmap values of each peak's image and part at cells (y, x): [P] or [P, k]."""
        b, p = (pb, pp) if y.dim() == 1 else (pb[:, None], pp[:, None])
        return heat[b, p, y, x].double()

    # The cell under the peak: invert x = (8u + 4) * w0 / ws - 0.5 and round.
    cx = torch.round(((px.double() + 0.5) * ws / w0 - 4) / STRIDE).long().clamp(0, w - 1)
    cy = torch.round(((py.double() + 0.5) * hs / h0 - 4) / STRIDE).long().clamp(0, h - 1)
    # Climb to the local maximum: the best of the 3x3 neighbourhood (the current cell wins ties), a few times.
    steps = torch.tensor([(0, 0)] + [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx],
                         device=device)  # [9, 2]
    for _ in range(REFINE_CLIMB):
        ny, nx = cy[:, None] + steps[:, 0], cx[:, None] + steps[:, 1]  # [P, 9]
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        vals = at(ny.clamp(0, h - 1), nx.clamp(0, w - 1))
        best = torch.where(inside, vals, float("-inf")).argmax(1, keepdim=True)
        cy, cx = ny.gather(1, best)[:, 0], nx.gather(1, best)[:, 0]

    def fit(cell, size, sample):
        """Fitted centre (in cells) along one axis and whether it holds; sample(i) reads the map at index i."""
        if size < 3:
            return cell.double(), torch.zeros_like(cell, dtype=torch.bool)
        mid = cell.clamp(1, size - 2)  # the middle of the three cells: one-sided at the grid's edges
        v = torch.stack([sample(mid - 1), sample(mid), sample(mid + 1)], 1)  # [P, 3]
        positive = (v > REFINE_MIN_VALUE).all(1)
        lv = torch.log(v.clamp_min(REFINE_MIN_VALUE))
        offset, good = _log_parabola(lv[:, 0], lv[:, 1], lv[:, 2])
        centre = mid.double() + offset
        good &= positive & ((centre - cell.double()).abs() <= REFINE_MAX_SHIFT)
        return centre, good

    u, ok_x = fit(cx, w, lambda i: at(cy, i))
    v, ok_y = fit(cy, h, lambda i: at(i, cx))
    x = ((STRIDE * u + 4) * w0 / ws - 0.5).clamp(0, w0 - 1)
    y = ((STRIDE * v + 4) * h0 / hs - 0.5).clamp(0, h0 - 1)
    x = torch.where(ok_x, x, px.double())
    y = torch.where(ok_y, y, py.double())
    return torch.stack([x, y], 1).float()


def _greedy_matching(score, ok, peak_a, peak_b, limb, n_peaks):
    """Indices of the candidates controlnet-aux's greedy matching keeps, in its order (best first per group).

    Per limb and image it walks candidates by descending score and keeps one whose two peaks are both unused.
    The same set is found in a few vectorised rounds: keep every candidate that ranks first among the
    remaining ones of its A peak and of its B peak, then drop the candidates that touch a kept peak.
    """
    import torch

    device = score.device
    idx = torch.nonzero(ok, as_tuple=True)[0]
    if idx.numel() == 0:
        return idx
    # Rank by descending score; a stable sort keeps Python's tie order (A index, then B index).
    order = torch.sort(-score[idx], stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=device)
    row = limb[idx] * n_peaks + peak_a[idx]  # an A peak within its limb
    col = limb[idx] * n_peaks + peak_b[idx]
    size = len(LIMBS) * n_peaks
    active = torch.ones_like(idx, dtype=torch.bool)
    kept = torch.zeros_like(active)
    big = torch.iinfo(rank.dtype).max
    while bool(active.any()):
        masked = torch.where(active, rank, big)
        row_min = torch.full((size,), big, dtype=rank.dtype, device=device).scatter_reduce(0, row, masked, "amin")
        col_min = torch.full((size,), big, dtype=rank.dtype, device=device).scatter_reduce(0, col, masked, "amin")
        take = active & (masked == row_min[row]) & (masked == col_min[col])
        kept |= take
        row_used = torch.zeros(size, dtype=torch.bool, device=device)
        col_used = torch.zeros(size, dtype=torch.bool, device=device)
        row_used[row[take]] = True
        col_used[col[take]] = True
        active &= ~(row_used[row] | col_used[col])
    sel = idx[kept]
    return sel[torch.sort(rank[kept], stable=True).indices]  # by descending score


def _assemble(chosen, score, peak_a, peak_b, g_img, g_limb, pb, xy, peak_score, batch):
    """Join kept limbs into people exactly as controlnet-aux does, batched over images; filter; rank.

    `xy` [P, 2]: each peak's keypoint position (its pixel, or a refined one).
    """
    import torch

    device = score.device
    n_limbs = len(LIMBS)
    if chosen.numel() == 0:
        return [[] for _ in range(batch)]
    # Connections per (limb, image) in score order, as a padded [19, B, C] table.
    img, limb = g_img[chosen], g_limb[chosen]
    key = limb * batch + img
    order = torch.sort(key, stable=True).indices  # chosen is already best-first within a group
    img, limb, key = img[order], limb[order], key[order]
    conn_a, conn_b, conn_s = peak_a[chosen][order], peak_b[chosen][order], score[chosen][order]
    per_key = torch.bincount(key, minlength=n_limbs * batch)
    pos = torch.arange(key.numel(), device=device) - (torch.cumsum(per_key, 0) - per_key)[key]
    width = int(per_key.max())
    table_a = torch.full((n_limbs, batch, width), -1, dtype=torch.long, device=device)
    table_b = torch.full_like(table_a, -1)
    table_s = torch.zeros((n_limbs, batch, width), dtype=torch.float64, device=device)
    table_a[limb, img, pos], table_b[limb, img, pos], table_s[limb, img, pos] = conn_a, conn_b, conn_s
    widths = per_key.view(n_limbs, batch).amax(1).tolist()

    pscore = peak_score.double()
    rows = int(per_key.view(n_limbs, batch).sum(0).max()) + 1
    subset = torch.full((batch, rows, NUM_KEYPOINTS + 2), -1.0, dtype=torch.float64, device=device)
    alive = torch.zeros(batch, rows, dtype=torch.bool, device=device)
    n_rows = torch.zeros(batch, dtype=torch.long, device=device)
    ar = torch.arange(batch, device=device)
    for k, (ia, ib) in enumerate(LIMBS):
        for c in range(widths[k]):
            pa, pbk, s = table_a[k, :, c], table_b[k, :, c], table_s[k, :, c]
            valid = pa >= 0
            match = alive & ((subset[:, :, ia] == pa[:, None]) | (subset[:, :, ib] == pbk[:, None])) & valid[:, None]
            cum = match.cumsum(1)
            found = cum[:, -1]
            first = (match & (cum == 1)).to(torch.uint8).argmax(1)
            second = (match & (cum == 2)).to(torch.uint8).argmax(1)
            r1, r2 = subset[ar, first].clone(), subset[ar, second]
            gain_b = pscore[pbk.clamp_min(0)] + s

            # One person holds a part: give it this limb's B part (if it has another).
            add_b = (found == 1) & (r1[:, ib] != pbk)
            # Two people hold the parts: merge them if disjoint, else extend the first (no check, as upstream).
            two = found >= 2
            disjoint = ~((r1[:, :NUM_KEYPOINTS] >= 0) & (r2[:, :NUM_KEYPOINTS] >= 0)).any(1)
            merge = two & disjoint
            add_b = add_b | (two & ~disjoint)
            merged = r1.clone()
            merged[:, :NUM_KEYPOINTS] += r2[:, :NUM_KEYPOINTS] + 1
            merged[:, NUM_KEYPOINTS:] += r2[:, NUM_KEYPOINTS:]
            merged[:, NUM_KEYPOINTS] += s
            r1[:, ib] = torch.where(add_b, pbk.double(), r1[:, ib])
            r1[:, NUM_KEYPOINTS + 1] += add_b.double()
            r1[:, NUM_KEYPOINTS] += torch.where(add_b, gain_b, 0.0)
            r1 = torch.where(merge[:, None], merged, r1)
            subset[ar, first] = r1
            alive[ar, second] = alive[ar, second] & ~merge

            # Nobody holds either part: a new person (only limbs that may start one).
            if k < NEW_PERSON_LIMBS:
                new = valid & (found == 0)
                row = torch.full((batch, NUM_KEYPOINTS + 2), -1.0, dtype=torch.float64, device=device)
                row[:, ia], row[:, ib] = pa.double(), pbk.double()
                row[:, NUM_KEYPOINTS + 1] = 2
                row[:, NUM_KEYPOINTS] = pscore[pa.clamp_min(0)] + gain_b
                slot = n_rows.clamp_max(rows - 1)
                subset[ar, slot] = torch.where(new[:, None], row, subset[ar, slot])
                alive[ar, slot] = alive[ar, slot] | new
                n_rows += new.long()

    total, parts = subset[:, :, NUM_KEYPOINTS], subset[:, :, NUM_KEYPOINTS + 1]
    keep = alive & (parts >= 4) & (total / parts.clamp_min(1) >= 0.4)
    subset, keep = subset.cpu().numpy(), keep.cpu().numpy()
    xy = xy.float().cpu().numpy()
    conf = peak_score.float().cpu().numpy()
    out: list[list[OpenPosePerson]] = []
    for b in range(batch):
        people = []
        for r in subset[b][keep[b]]:
            ids = r[:NUM_KEYPOINTS].astype(np.int64)
            present = ids >= 0
            kp = np.full((NUM_KEYPOINTS, 2), np.nan, np.float32)
            c = np.zeros(NUM_KEYPOINTS, np.float32)
            kp[present], c[present] = xy[ids[present]], conf[ids[present]]
            people.append((float(r[NUM_KEYPOINTS]), OpenPosePerson(kp, c)))
        people.sort(key=lambda t: -t[0])  # stable: ties keep OpenPose's order
        out.append([p for _, p in people])
    return out
