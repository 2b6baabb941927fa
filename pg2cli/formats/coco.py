"""COCO person-keypoint JSON (COCO-17) read as COCO-18: neck = midpoint of the shoulders, the rest by name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pg2cli.errors import DataError, FormatError

# COCO-17 index of each COCO-18 keypoint (None: the neck, derived from the shoulders).
COCO17_TO_COCO18 = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
_LSHO, _RSHO = 5, 6


def coco17_to_coco18(kp17: np.ndarray) -> np.ndarray:
    """[17, 3] COCO (x, y, v) -> [18, 2] (x, y) with NaN for v == 0 and the neck at the shoulder midpoint."""
    kp17 = np.asarray(kp17, dtype=np.float64).reshape(17, 3)
    xy = kp17[:, :2].copy()
    xy[kp17[:, 2] <= 0] = np.nan
    out = np.full((18, 2), np.nan, dtype=np.float32)
    for k18, k17 in enumerate(COCO17_TO_COCO18):
        if k17 is not None:
            out[k18] = xy[k17]
    if np.isfinite(xy[[_LSHO, _RSHO]]).all():
        out[1] = (xy[_LSHO] + xy[_RSHO]) / 2
    return out


def read_coco_keypoints(path: str | os.PathLike) -> list[tuple[str, np.ndarray]]:
    """Every person annotation of a COCO keypoints file as (image file name, keypoints [18, 2])."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a COCO person-keypoints JSON file)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormatError(path, f"not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise FormatError(path, "expected a COCO object with an 'annotations' list")
    files = {img.get("id"): img.get("file_name") for img in doc.get("images", []) if isinstance(img, dict)}
    out = []
    for i, ann in enumerate(doc["annotations"]):
        kps = ann.get("keypoints") if isinstance(ann, dict) else None
        if not isinstance(kps, list) or len(kps) != 51:
            raise FormatError(path, f"annotations[{i}].keypoints has {len(kps) if isinstance(kps, list) else 'no'} "
                                    "values, expected 51 (17 x (x, y, v))")
        name = files.get(ann.get("image_id"), str(ann.get("image_id")))
        out.append((name, coco17_to_coco18(np.asarray(kps))))
    return out
