"""The COCO-18 (OpenPose order) skeleton, defined once: names, limbs, mask limbs, flip permutation."""

from __future__ import annotations

# 0-based, OpenPose / COCO-18 order. R and L are the person's own right and left.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)  # 18

# Short names used in the paper and in OpenPose code, accepted wherever a name is.
SHORT_NAMES: tuple[str, ...] = (
    "nose", "neck", "rsho", "relb", "rwri", "lsho", "lelb", "lwri",
    "rhip", "rkne", "rank", "lhip", "lkne", "lank", "reye", "leye", "rear", "lear",
)

# The 19 OpenPose limbs (the part-affinity-field connections), 0-based.
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)

# The 23 limbs PG²'s original code draws for the pose mask M_B.
MASK_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (1, 16), (1, 17),
    (8, 11), (11, 5), (8, 2), (16, 17),
)

# Left-right flip: channel k of a mirrored pose is channel FLIP_PERMUTATION[k] of the original.
_SWAPS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))
FLIP_PERMUTATION: tuple[int, ...] = tuple(
    next((b if k == a else a for a, b in _SWAPS if k in (a, b)), k) for k in range(NUM_KEYPOINTS)
)

# Colours (RGB) OpenPose uses to draw its 18 keypoints; used by `pg2 show` and strips.
COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)

# The standard pair filter (PAPER.md): both shoulders and both hips must be present.
TORSO = (2, 5, 8, 11)

_BY_NAME = {n: i for i, n in enumerate(KEYPOINT_NAMES)} | {n: i for i, n in enumerate(SHORT_NAMES)}


def keypoint_index(name: str) -> int:
    """Index of a keypoint given its long ('left_hip') or short ('lhip') name, or its number."""
    key = name.strip().lower().replace("-", "_")
    if key.isdigit() and int(key) < NUM_KEYPOINTS:
        return int(key)
    if key not in _BY_NAME:
        from pg2cli.errors import UsageError

        raise UsageError(f"unknown keypoint {name!r}: expected one of {', '.join(KEYPOINT_NAMES)}")
    return _BY_NAME[key]
