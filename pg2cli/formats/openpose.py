"""OpenPose JSON: {"people": [{"pose_keypoints_2d": [x0, y0, c0, ...]}]}, x first, confidence 0 = missing.

Both the COCO-18 layout (18 points) and OpenPose's BODY_25 layout (25 points) are read; BODY_25 is mapped
to COCO-18 (its mid-hip and feet points are dropped).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pg2cli.errors import DataError, FormatError
from pg2cli.fileio import write_text_atomic
from pg2cli.skeleton import NUM_KEYPOINTS

# BODY_25 index of each COCO-18 keypoint.
BODY25_TO_COCO18 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)


@dataclass
class OpenPosePerson:
    """One detected person: keypoints [18, 2] (x, y) NaN = missing, and confidences [18] (0 = missing)."""

    keypoints: np.ndarray
    confidence: np.ndarray

    @property
    def score(self) -> float:
        """Overall score used to rank people: the sum of keypoint confidences (as OpenPose ranks them)."""
        return float(np.nansum(self.confidence))


def people_from_openpose(doc: object, source: str = "<json>") -> list[OpenPosePerson]:
    """People of a parsed OpenPose JSON document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        raise FormatError(source, "expected an OpenPose JSON object with a 'people' list")
    people = []
    for i, person in enumerate(doc["people"]):
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        # Numbers only; an int too big for float64 would raise OverflowError below (NaN/inf floats = missing).
        if not isinstance(flat, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 and (isinstance(v, float) or abs(v) < 1e300) for v in flat):
            raise FormatError(source, f"people[{i}].pose_keypoints_2d is not a list of numbers")
        if len(flat) not in (3 * NUM_KEYPOINTS, 3 * 25):
            raise FormatError(source, f"people[{i}].pose_keypoints_2d has {len(flat)} values, "
                                      f"expected {3 * NUM_KEYPOINTS} (COCO-18) or 75 (BODY_25)")
        arr = np.asarray(flat, dtype=np.float64).reshape(-1, 3)
        if len(arr) == 25:
            arr = arr[list(BODY25_TO_COCO18)]
        conf = arr[:, 2].astype(np.float32)
        kp = arr[:, :2].astype(np.float32)
        missing = ~(conf > 0) | ~np.isfinite(kp).all(axis=1)
        kp[missing] = np.nan
        conf[missing] = 0.0
        people.append(OpenPosePerson(kp, conf))
    return people


def read_openpose_json(path: str | os.PathLike) -> list[OpenPosePerson]:
    """Read every person of an OpenPose JSON file (an empty list when nobody was detected)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected an OpenPose JSON file)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # bad JSON, not UTF-8, or an integer above Python's 4300-digit limit
        raise FormatError(path, f"not valid JSON ({e})") from None
    return people_from_openpose(doc, str(path))


def openpose_document(people: Sequence[OpenPosePerson]) -> dict:
    """The OpenPose JSON document (version 1.3 layout) for a list of people."""
    out = []
    for p in people:
        flat: list[float] = []
        for (x, y), c in zip(np.asarray(p.keypoints, np.float64), np.asarray(p.confidence, np.float64)):
            if np.isfinite(x) and np.isfinite(y) and c > 0:
                flat += [round(float(x), 3), round(float(y), 3), round(float(c), 4)]
            else:
                flat += [0.0, 0.0, 0.0]
        out.append({"person_id": [-1], "pose_keypoints_2d": flat, "face_keypoints_2d": [],
                    "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []})
    return {"version": 1.3, "people": out}


def write_openpose_json(path: str | os.PathLike, people: Sequence[OpenPosePerson], overwrite: bool = True) -> Path:
    """Write an OpenPose JSON file atomically."""
    return write_text_atomic(path, json.dumps(openpose_document(people)) + "\n", overwrite=overwrite)
