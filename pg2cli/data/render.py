"""Pose maps, the PG² pose mask, skeleton drawings and image fitting: pure, vectorised NumPy functions.

Coordinates are pixel indices: keypoint (x, y) = (column, row) of a pixel centre, as in the annotation CSVs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from pg2cli.skeleton import COLORS, LIMBS, MASK_LIMBS, NUM_KEYPOINTS

PoseMapKind = Literal["disc", "gaussian"]
POSE_MAP_KINDS: tuple[str, ...] = ("disc", "gaussian")


def _as_keypoints(keypoints) -> tuple[np.ndarray, np.ndarray]:
    """(keypoints float64 [..., 18, 2], present bool [..., 18]) with a shape check."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape[-2:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must have shape ({NUM_KEYPOINTS}, 2) (x, y), got {kp.shape}")
    return kp, np.isfinite(kp).all(axis=-1)


def _disc_maps(kp: np.ndarray, present: np.ndarray, size: tuple[int, int], radius: float, out: np.ndarray,
               value) -> None:
    """Write `value` into `out` [K, H, W] where a pixel centre is within `radius` of its keypoint (kp [K, 2]).

    Only a small window around each keypoint is evaluated (all channels, all samples at once), so the cost does
    not grow with the image size.
    """
    h, w = size
    ch = np.flatnonzero(present)
    if ch.size == 0:
        return
    reach = int(np.ceil(radius)) + 1
    offsets = np.arange(-reach, reach + 1)
    x, y = kp[ch, 0:1], kp[ch, 1:2]  # [K, 1]
    rows = np.round(y).astype(np.int64) + offsets  # [K, 2r+3]
    cols = np.round(x).astype(np.int64) + offsets
    hit = ((rows - y) ** 2)[:, :, None] + ((cols - x) ** 2)[:, None, :] <= radius * radius  # [K, 2r+3, 2r+3]
    hit &= ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    k, i, j = np.nonzero(hit)
    out[ch[k], rows[k, i], cols[k, j]] = value


def render_pose_maps(keypoints, size: tuple[int, int], kind: PoseMapKind = "disc", radius: float = 4,
                     sigma: float = 6.0, dtype=np.float32) -> np.ndarray:
    """Pose maps [18, H, W] of keypoints [18, 2] (or [B, 18, H, W] of a batch [B, 18, 2]): one channel per
    keypoint, all zeros where the keypoint is missing (NaN).

    - `disc` (PG²): 1 where the pixel centre is within `radius` px of the keypoint (distance <= radius), else 0.
    - `gaussian` (Deformable GAN, PATN, GFLA): exp(-d^2 / (2 sigma^2)), unnormalised.

    `dtype` float32/float16 gives values in [0, 1]; uint8 gives round(255 * value), the packed encoding.
    A batch gives exactly the maps of its samples one by one, at a fraction of the per-call overhead.
    """
    kp, present = _as_keypoints(keypoints)
    lead = kp.shape[:-2]
    kp, present = kp.reshape(-1, 2), present.reshape(-1)  # every channel of every sample: [K, 2], [K]
    h, w = size
    dtype = np.dtype(dtype)
    if kind == "disc":
        out = np.zeros((len(kp), h, w), dtype)
        _disc_maps(kp, present, (h, w), float(radius), out, 255 if dtype == np.uint8 else 1)
        return out.reshape(*lead, NUM_KEYPOINTS, h, w)
    if kind == "gaussian":
        # exp(-(dx^2 + dy^2) / 2s^2) = exp(-dy^2 / 2s^2) * exp(-dx^2 / 2s^2): an outer product per channel.
        inv = -1.0 / (2.0 * float(sigma) ** 2)
        safe = np.where(present[:, None], kp, 0.0)
        gy = np.exp((np.arange(h)[None, :] - safe[:, 1:2]) ** 2 * inv).astype(np.float32)  # [K, H]
        gx = np.exp((np.arange(w)[None, :] - safe[:, 0:1]) ** 2 * inv).astype(np.float32)  # [K, W]
        gy[~present] = 0.0
        maps = gy[:, :, None] * gx[:, None, :]  # [K, H, W]
        if dtype == np.uint8:
            maps *= 255.0
            maps += 0.5
        return maps.astype(dtype, copy=False).reshape(*lead, NUM_KEYPOINTS, h, w)
    raise ValueError(f"pose map kind {kind!r}: expected one of {', '.join(POSE_MAP_KINDS)}")


def _disc_kernel(radius: int) -> np.ndarray:
    """uint8 [2r+1, 2r+1]: 1 within `radius` of the centre (the same disc as the `disc` pose map)."""
    d = np.arange(-radius, radius + 1)
    return ((d[:, None] ** 2 + d[None, :] ** 2) <= radius * radius).astype(np.uint8)


_MASK_LIMBS = np.array(MASK_LIMBS, dtype=np.int64)  # [23, 2]


def _mask_centres(kp: np.ndarray, present: np.ndarray, radius: int,
                  box: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Disc centres of a batch (kp [B, 18, 2], present [B, 18]): (sample index [M], centres int [M, 2]).

    `box` (x0, y0, x1, y1): only the in-between points that can land in it are made (the ends always are);
    memory then follows the visible part of each limb, not its length (a keypoint far outside the image).
    """
    ok = present[:, _MASK_LIMBS[:, 0]] & present[:, _MASK_LIMBS[:, 1]]  # [B, 23]
    sample, limb = np.nonzero(ok)
    a = kp[sample, _MASK_LIMBS[limb, 0]]  # [L, 2] start
    d = kp[sample, _MASK_LIMBS[limb, 1]] - a  # [L, 2] direction
    n = (np.sqrt((d * d).sum(axis=1)) / radius).astype(np.int64)  # sampleN per limb
    lo, hi = np.ones_like(n), n - 1  # in-between points i = 1..sampleN - 1
    if box is not None and len(n):
        # The part of each segment a + t d inside the box (Liang-Barsky), as a range of i = t * sampleN, widened
        # by one step on each side: the points outside the box are dropped by the caller anyway.
        t0, t1 = np.zeros(len(n)), np.ones(len(n))
        for axis, (low, high) in enumerate(((box[0], box[2]), (box[1], box[3]))):
            p, q = a[:, axis], d[:, axis]
            with np.errstate(divide="ignore", invalid="ignore"):
                ta, tb = (low - p) / q, (high - p) / q
            flat = q == 0
            enter = np.where(flat, np.where((p >= low) & (p <= high), -np.inf, np.inf), np.minimum(ta, tb))
            leave = np.where(flat, np.where((p >= low) & (p <= high), np.inf, -np.inf), np.maximum(ta, tb))
            t0, t1 = np.maximum(t0, enter), np.minimum(t1, leave)
        seen = t0 <= t1
        lo = np.where(seen, np.maximum(lo, np.floor(np.where(seen, t0, 0) * n).astype(np.int64) - 1), 1)
        hi = np.where(seen, np.minimum(hi, np.ceil(np.where(seen, t1, 0) * n).astype(np.int64) + 1), 0)
    count = np.maximum(hi - lo + 1, 0)
    which = np.repeat(np.arange(len(n)), count)  # the limb of each in-between point
    step = lo[which] + (np.arange(which.size) - (np.cumsum(count) - count)[which])
    # a + d * i / n in the original's order of operations, so truncation below lands on the same pixels
    between = a[which] + d[which] * step[:, None] / n[which][:, None]
    pts = np.concatenate([a, a + d, between])
    owner = np.concatenate([sample, sample, sample[which]])
    # int() truncation, as the original code: rounding instead shifts the in-between discs and costs ~5% IoU.
    return owner, np.trunc(pts).astype(np.int64)


def mask_centres(keypoints, radius: int = 4) -> np.ndarray:
    """Disc centres of the PG² pose mask, int [M, 2] (x, y): for each of the 23 MASK_LIMBS with both ends
    present, both ends and the sampleN - 1 evenly spaced points between them, sampleN = int(length / radius)."""
    kp, present = _as_keypoints(keypoints)
    if kp.ndim != 2:
        raise ValueError(f"keypoints must have shape ({NUM_KEYPOINTS}, 2) (x, y), got {kp.shape}")
    return _mask_centres(kp[None], present[None], int(radius))[1]


def render_pose_mask(keypoints, size: tuple[int, int], radius: int = 4, closing: int = 5) -> np.ndarray:
    """The PG² pose mask M_B, uint8 [H, W] in {0, 1} (or [B, H, W] for a batch of keypoints [B, 18, 2]):
    radius-`radius` discs along the 23 mask limbs, then a morphological closing with a `closing` x `closing`
    square (PAPER.md). Limbs with a missing end are skipped.

    Drawn as a dilation of the disc centres by the disc kernel, which equals stamping every disc. A batch is
    drawn with one dilation and one closing over all its samples stacked, with separating rows that make
    each result exactly the mask of its sample alone.
    """
    import cv2

    kp, present = _as_keypoints(keypoints)
    lead = kp.shape[:-2]
    kp, present = kp.reshape(-1, NUM_KEYPOINTS, 2), present.reshape(-1, NUM_KEYPOINTS)
    b, (h, w), radius = len(kp), size, int(radius)
    if b == 0:
        return np.zeros((*lead, h, w), np.uint8)
    # A canvas padded by `radius` keeps discs whose centre lies just outside the image; stacked per sample, the
    # padding also keeps one sample's discs out of the next one's image rows.
    ph, pw = h + 2 * radius, w + 2 * radius
    # Centres that truncate into the canvas lie in (-radius - 1, w + radius) x (-radius - 1, h + radius).
    owner, centres = _mask_centres(kp, present, radius, (-radius - 2.0, -radius - 2.0, w + radius + 1.0,
                                                         h + radius + 1.0))
    cx, cy = centres[:, 0] + radius, centres[:, 1] + radius
    inside = (cx >= 0) & (cx < pw) & (cy >= 0) & (cy < ph)
    canvas = np.zeros((b * ph, pw), np.uint8)
    canvas[(owner * ph + cy)[inside], cx[inside]] = 1
    discs = cv2.dilate(canvas, _disc_kernel(radius)).reshape(b, ph, pw)[:, radius:radius + h, radius:radius + w]
    if closing <= 1:
        return np.ascontiguousarray(discs).reshape(*lead, h, w)
    # Closing = dilate, then erode. OpenCV ignores what lies beyond the image (0 for the dilation, 1 for the
    # erosion): `closing` separating rows after each sample, 0 while dilating and 1 while eroding, do the same.
    square = np.ones((closing, closing), np.uint8)
    stack = np.zeros((b, h + closing, w), np.uint8)
    stack[:, :h] = discs
    grown = cv2.dilate(stack.reshape(-1, w), square).reshape(b, h + closing, w)
    grown[:, h:] = 1
    mask = cv2.erode(grown.reshape(-1, w), square).reshape(b, h + closing, w)[:, :h]
    return np.ascontiguousarray(mask).reshape(*lead, h, w)


def draw_pose(keypoints, size: tuple[int, int], image: np.ndarray | None = None) -> np.ndarray:
    """The skeleton in OpenPose colours, uint8 RGB [H, W, 3], on black or over a copy of `image`."""
    import cv2

    kp, present = _as_keypoints(keypoints)
    h, w = size
    if image is None:
        canvas = np.zeros((h, w, 3), np.uint8)
    else:
        if image.shape[:2] != (h, w):
            raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but size is {w}x{h}")
        canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    thick = max(1, round(min(h, w) / 40))
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    pts = np.round(np.where(present[:, None], kp, 0) * (1 << shift)).astype(np.int64)
    for i, (a, b) in enumerate(LIMBS):
        if present[a] and present[b]:
            cv2.line(canvas, tuple(map(int, pts[a])), tuple(map(int, pts[b])), COLORS[i % len(COLORS)], thick,
                     cv2.LINE_AA, shift)
    for k in np.flatnonzero(present):
        cv2.circle(canvas, tuple(map(int, pts[k])), (thick + 1) << shift, COLORS[k], -1, cv2.LINE_AA, shift)
    return canvas


def colorize_pose_maps(maps: np.ndarray) -> np.ndarray:
    """Pose maps [18, H, W] (float in [0, 1] or uint8 x255) as one RGB image [H, W, 3]: each channel in its
    keypoint's colour, overlaps keep the brightest."""
    m = np.asarray(maps, dtype=np.float32)
    if m.ndim != 3 or m.shape[0] != NUM_KEYPOINTS:
        raise ValueError(f"pose maps must have shape (18, H, W), got {m.shape}")
    if np.asarray(maps).dtype == np.uint8:
        m = m / 255.0
    rgb = m[:, :, :, None] * np.asarray(COLORS, np.float32)[:, None, None, :]  # [18, H, W, 3]
    return np.clip(rgb.max(axis=0) + 0.5, 0, 255).astype(np.uint8)


def _fit_geometry(src: tuple[int, int], dst: tuple[int, int]) -> tuple[int, int, int, int]:
    """(height, width, top, left) of an image of size `src` scaled to fit inside `dst` and centred."""
    (h, w), (th, tw) = src, dst
    scale = min(th / h, tw / w)
    nh, nw = min(th, max(1, round(h * scale))), min(tw, max(1, round(w * scale)))
    return nh, nw, (th - nh) // 2, (tw - nw) // 2


def transform_keypoints(keypoints, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Move keypoints [18, 2] of an image of `src_size` (H, W) the way `fit_image` moves its pixels."""
    kp = np.asarray(keypoints, dtype=np.float32).reshape(NUM_KEYPOINTS, 2)
    if tuple(src_size) == tuple(dst_size):
        return kp.copy()
    nh, nw, top, left = _fit_geometry(tuple(src_size), tuple(dst_size))
    # Pixel centres scale about the image corner: x' + 0.5 = (x + 0.5) * sx (what cv2.resize does).
    sx, sy = nw / src_size[1], nh / src_size[0]
    out = np.empty_like(kp)
    out[:, 0] = (kp[:, 0] + 0.5) * sx - 0.5 + left
    out[:, 1] = (kp[:, 1] + 0.5) * sy - 0.5 + top
    return out  # NaN stays NaN


def fit_image(image: np.ndarray, keypoints, size: tuple[int, int], fill: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Resize `image` (uint8 [h, w, 3]) to fit inside `size` (H, W) keeping its aspect ratio, pad the rest, and
    move `keypoints` [18, 2] the same way. `fill` None repeats the border pixels, else pads with that grey level.
    An image already of `size` comes back unchanged."""
    import cv2

    h, w = image.shape[:2]
    size = (int(size[0]), int(size[1]))
    if (h, w) == size:
        return image, np.asarray(keypoints, dtype=np.float32).reshape(NUM_KEYPOINTS, 2)
    nh, nw, top, left = _fit_geometry((h, w), size)
    interp = cv2.INTER_AREA if nh < h else cv2.INTER_CUBIC
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    bottom, right = size[0] - nh - top, size[1] - nw - left
    if fill is None:
        out = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_REPLICATE)
    else:
        out = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(fill,) * 3)
    return out, transform_keypoints(keypoints, (h, w), size)
