"""Contact sheets for `pg2 show`: samples (image, skeleton, coloured pose map, mask) or pairs, in one PNG."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pg2cli.data.render import colorize_pose_maps, draw_pose, fit_image, render_pose_maps, render_pose_mask
from pg2cli.errors import DataError, UsageError

GAP = 2  # pixels between panels
CELL_GAP = 6  # pixels between cells


@dataclass
class Sample:
    """One sample to draw: uint8 RGB image [H, W, 3], keypoints [18, 2], pose maps [18, H, W], mask [H, W]."""

    name: str
    image: np.ndarray
    keypoints: np.ndarray
    pose_maps: np.ndarray
    mask: np.ndarray


def _mask_rgb(mask: np.ndarray) -> np.ndarray:
    return np.repeat((np.asarray(mask) > 0).astype(np.uint8)[:, :, None] * 255, 3, axis=2)


def sample_panels(s: Sample) -> list[np.ndarray]:
    """Image, image with its skeleton, coloured pose map, mask (all [H, W, 3])."""
    h, w = s.image.shape[:2]
    return [s.image, draw_pose(s.keypoints, (h, w), s.image), colorize_pose_maps(s.pose_maps), _mask_rgb(s.mask)]


def pair_panels(src: Sample, tgt: Sample) -> list[np.ndarray]:
    """Source with skeleton, target with skeleton, target pose map, target mask (what G1 is trained on)."""
    h, w = tgt.image.shape[:2]
    return [draw_pose(src.keypoints, (h, w), src.image), draw_pose(tgt.keypoints, (h, w), tgt.image),
            colorize_pose_maps(tgt.pose_maps), _mask_rgb(tgt.mask)]


def compose(cells: list[list[np.ndarray]], columns: int | None = None) -> np.ndarray:
    """Lay out cells (each a row of equal-size panels) in a grid on a grey background: uint8 RGB."""
    if not cells:
        raise DataError("nothing to show: no samples")
    h, w = cells[0][0].shape[:2]
    k = len(cells[0])
    cw, ch = k * w + (k - 1) * GAP, h
    cols = columns or max(1, min(len(cells), round(np.sqrt(len(cells) * ch / cw * 1.5)) or 1))
    rows = -(-len(cells) // cols)
    sheet = np.full((rows * ch + (rows + 1) * CELL_GAP, cols * cw + (cols + 1) * CELL_GAP, 3), 64, np.uint8)
    for i, panels in enumerate(cells):
        r, c = divmod(i, cols)
        y, x = CELL_GAP + r * (ch + CELL_GAP), CELL_GAP + c * (cw + CELL_GAP)
        for j, p in enumerate(panels):
            sheet[y:y + h, x + j * (w + GAP):x + j * (w + GAP) + w] = p
    return sheet


def _choose(total: int, n: int, seed: int | None) -> list[int]:
    if total == 0:
        return []
    if seed is None:
        return list(range(min(n, total)))
    return sorted(np.random.default_rng(seed).choice(total, size=min(n, total), replace=False).tolist())


def contact_sheet_packed(path: str | os.PathLike, n: int = 16, pairs: bool = False, seed: int | None = None,
                         columns: int | None = None) -> np.ndarray:
    """A contact sheet of `n` samples (or pairs) of a packed file: the first n, or n drawn with `seed`."""
    from pg2cli.data.dataset import PackedReader

    r = PackedReader(path)
    try:
        def sample(i: int) -> Sample:
            return Sample(r.names[i], r.image(i), r.keypoints[i], r.pose_map(i), r.mask(i))

        if pairs:
            if r.info.num_pairs == 0:
                raise DataError(f"{path}: holds no pairs (packed without --pairs)")
            cells = [pair_panels(sample(a), sample(b)) for a, b in r.pairs[_choose(len(r.pairs), n, seed)]]
        else:
            cells = [sample_panels(sample(i)) for i in _choose(len(r), n, seed)]
    finally:
        r.close()
    return compose(cells, columns)


def contact_sheet_files(images: str | os.PathLike, annotations: str | os.PathLike, n: int = 16,
                        pairs_file: str | os.PathLike | None = None, seed: int | None = None,
                        size: tuple[int, int] | None = None, pose_map: str = "disc", radius: float = 4.0,
                        sigma: float = 6.0, columns: int | None = None) -> np.ndarray:
    """The same sheet straight from images + an annotation CSV (+ a pairs CSV in pairs mode), rendered on
    the fly with pack's defaults, for looking at data before packing it. Images are fitted to `size` (default:
    the first image's size)."""
    from pg2cli.formats import read_annotations, read_pairs
    from pg2cli.images import read_image, resolve_under

    ann = read_annotations(annotations)
    index = ann.index()

    def sample(name: str) -> Sample:
        nonlocal size
        if name not in index:
            raise DataError(f"{name!r}: named by {pairs_file} but has no row in {annotations}")
        img = read_image(resolve_under(images, name))
        size = size or img.shape[:2]
        img, kp = fit_image(img, ann.keypoints[index[name]], size)
        return Sample(name, img, kp, render_pose_maps(kp, size, pose_map, radius, sigma),
                      render_pose_mask(kp, size))

    if pairs_file is not None:
        pair_names = read_pairs(pairs_file)
        cells = [pair_panels(sample(a), sample(b)) for a, b in (pair_names[i] for i in _choose(len(pair_names), n, seed))]
    else:
        cells = [sample_panels(sample(ann.names[i])) for i in _choose(len(ann), n, seed)]
    return compose(cells, columns)


def check_show_inputs(packed: Path | None, images: Path | None, annotations: Path | None) -> None:
    """Exactly one source: a packed file, or --images with --annotations."""
    if packed is not None and (images is not None or annotations is not None):
        raise UsageError("give either a packed file or --images with --annotations, not both")
    if packed is None and (images is None or annotations is None):
        raise UsageError("nothing to show: give a packed file, or --images DIR with --annotations A.csv")
