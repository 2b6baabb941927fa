"""Synthetic people for an offline demo: procedural bodies drawn along a COCO-18 skeleton, with exact keypoints.

Each identity has its own skin, hair, clothing colours and pattern and its own background. A pose is a
small 3-D stick figure (joint angles sampled from a prior with natural limits, then turned by a yaw angle
for front, back, side and three-quarter views) projected orthographically. Body parts are filled shapes
drawn far-to-near on a 4x supersampled canvas that also records which part owns each pixel; a keypoint
is written to `annotations.csv` only where the drawing shows it (inside the image, not hidden behind
another part, the face turned towards the camera), so the annotations are exactly what was drawn.
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pg2cli.errors import OutputExistsError, UsageError
from pg2cli.skeleton import NUM_KEYPOINTS

SUPERSAMPLE = 4  # parts are drawn at 4x and area-averaged down: smooth edges, exact ownership at hi-res

# Body proportions in body units (standing height, head top to floor, = 1). y points down.
HEAD_R = 0.062
NECK_LEN = 0.035
SHOULDER_HALF = 0.105
HIP_HALF = 0.062
TORSO_LEN = 0.30
CHEST_DEPTH = 0.12
UPPER_ARM, FOREARM = 0.165, 0.145
THIGH, SHIN = 0.235, 0.225
ARM_W, FOREARM_W, THIGH_W, SHIN_W, NECK_W = 0.058, 0.050, 0.078, 0.060, 0.045
FOOT_LEN, FOOT_W, HAND_R = 0.055, 0.042, 0.028
# Neck (keypoint 1) to the floor when standing straight: the rest of the height is neck + head.
_NECK_TO_FLOOR = 1.0 - 2 * HEAD_R - NECK_LEN

# Joint limits in degrees (flexion = forward swing, abduction = sideways out, knee/elbow bend >= 0).
JOINT_LIMITS: dict[str, tuple[float, float]] = {
    "shoulder_flexion": (-50.0, 170.0),
    "shoulder_abduction": (0.0, 175.0),
    "elbow_flexion": (0.0, 140.0),
    "hip_flexion": (-30.0, 80.0),
    "hip_abduction": (0.0, 35.0),
    "knee_flexion": (0.0, 120.0),
    "head_yaw": (-40.0, 40.0),
}

POSE_KINDS = ("standing", "walking", "arms_raised", "reaching")
_POSE_WEIGHTS = (0.3, 0.4, 0.2, 0.1)
PATTERNS = ("solid", "hstripes", "vstripes", "checks", "print")

# Part labels in the ownership map (0 = background).
BG, TORSO, PANTS, NECK, HEAD, HAIR, LONG_HAIR = 0, 1, 2, 3, 4, 5, 6
R_UPPER, R_FORE, R_HAND, L_UPPER, L_FORE, L_HAND = 7, 8, 9, 10, 11, 12
R_THIGH, R_SHIN, R_FOOT, L_THIGH, L_SHIN, L_FOOT = 13, 14, 15, 16, 17, 18

# Parts whose pixels show keypoint k; a keypoint covered by any other part is occluded (missing).
_FACE = {HEAD, HAIR}
_SHOULDER = {TORSO, NECK, LONG_HAIR, R_UPPER, L_UPPER}
_HIP = {TORSO, PANTS, R_THIGH, L_THIGH}
SHOWN_BY: tuple[frozenset[int], ...] = tuple(frozenset(s) for s in (
    _FACE,                          # 0 nose
    {TORSO, NECK, HEAD, HAIR, LONG_HAIR, R_UPPER, L_UPPER},  # 1 neck (a side view's near arm starts there)
    _SHOULDER, {R_UPPER, R_FORE}, {R_FORE, R_HAND},   # 2-4 right arm
    _SHOULDER, {L_UPPER, L_FORE}, {L_FORE, L_HAND},   # 5-7 left arm
    _HIP, {R_THIGH, R_SHIN}, {R_SHIN, R_FOOT},        # 8-10 right leg
    _HIP, {L_THIGH, L_SHIN}, {L_SHIN, L_FOOT},        # 11-13 left leg
    _FACE, _FACE, _FACE, _FACE,                       # 14-17 eyes, ears
))


@dataclass(frozen=True)
class Identity:
    """How one synthetic person looks: colours are RGB uint8 triples, `build` scales body widths."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    long_hair: bool
    shirt: tuple[int, int, int]
    shirt2: tuple[int, int, int]
    pattern: str
    long_sleeves: bool
    pants: tuple[int, int, int]
    shorts: bool
    shoes: tuple[int, int, int]
    build: float
    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    horizon: float  # wall/floor boundary as a share of the image height
    panels: tuple[tuple[float, float, tuple[int, int, int]], ...]  # (x0, x1) shares of the width, colour


@dataclass(frozen=True)
class Pose:
    """A body pose: yaw (0 front, 90 facing image right, 180 back) and joint angles in degrees."""

    kind: str
    yaw: float
    head_yaw: float
    arms: tuple[tuple[float, float, float], tuple[float, float, float]]  # (right, left): flexion, abduction, elbow
    legs: tuple[tuple[float, float, float], tuple[float, float, float]]  # (right, left): flexion, abduction, knee
    height: float  # person height as a share of the image height
    center: float  # horizontal position as a share of the width
    floor: float  # feet level as a share of the height


@dataclass(frozen=True)
class DemoOptions:
    """What `make_demo_data` draws. Sizes are (height, width)."""

    people: int = 40
    poses: int = 8
    size: tuple[int, int] = (128, 64)
    seed: int = 0


@dataclass
class DemoResult:
    """What `make_demo_data` wrote."""

    out_dir: Path
    images_dir: Path
    annotations: Path
    names: list[str]
    keypoints: np.ndarray  # [N, 18, 2] float32 (x, y), NaN = missing: exactly the CSV's content
    kinds: list[str]
    views: list[str]


# ---------------------------------------------------------------------------------------------- sampling

def _hsv(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s), rng.uniform(*v))
    return int(r * 255), int(g * 255), int(b * 255)


def _pick(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float],
          avoid: list[tuple[int, int, int]], dist: float = 90.0) -> tuple[int, int, int]:
    """A random colour at least `dist` (sum of |RGB| differences) from every colour in `avoid`: the first
    of up to 64 draws that is, else the draw farthest from them."""
    best, best_d = (0, 0, 0), -1.0
    for _ in range(64):
        c = _hsv(rng, s, v)
        d = min((float(np.abs(np.subtract(c, o)).sum()) for o in avoid), default=np.inf)
        if d >= dist:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


_SKINS = ((255, 224, 196), (241, 194, 153), (224, 172, 125), (198, 134, 86), (141, 85, 54), (92, 58, 38))
_HAIRS = ((20, 16, 14), (60, 38, 24), (110, 72, 40), (200, 160, 90), (150, 60, 30), (170, 170, 170))


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one person's appearance and background; every colour stands apart from those it borders."""
    i = rng.integers(len(_SKINS)), rng.integers(len(_HAIRS))
    skin = tuple(int(np.clip(c + rng.normal(0, 6), 0, 255)) for c in _SKINS[i[0]])
    hair = _HAIRS[i[1]]
    wall = _pick(rng, (0.05, 0.3), (0.45, 0.9), [skin, hair], 90)
    floor = _pick(rng, (0.0, 0.2), (0.25, 0.6), [skin, hair, wall], 60)
    panels = tuple(
        (x0, min(1.0, x0 + rng.uniform(0.1, 0.3)), _pick(rng, (0.05, 0.35), (0.35, 0.85), [skin, hair], 90))
        for x0 in sorted(rng.uniform(0.0, 0.9, size=int(rng.integers(0, 3))))
    )
    backdrop = [wall, floor] + [p[2] for p in panels]
    shirt = _pick(rng, (0.35, 1.0), (0.35, 1.0), [skin] + backdrop, 120)
    shirt2 = _pick(rng, (0.3, 1.0), (0.2, 1.0), [shirt, skin] + backdrop, 120)
    pants = _pick(rng, (0.15, 0.8), (0.15, 0.8), [skin, shirt] + backdrop, 90)
    shoes = _pick(rng, (0.0, 0.5), (0.05, 0.5), [pants, skin, floor], 90)
    return Identity(
        skin=skin, hair=hair, long_hair=bool(rng.random() < 0.35),
        shirt=shirt, shirt2=shirt2, pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        long_sleeves=bool(rng.random() < 0.5), pants=pants, shorts=bool(rng.random() < 0.25),
        shoes=shoes, build=float(rng.uniform(0.9, 1.15)),
        wall=wall, floor=floor, horizon=float(rng.uniform(0.55, 0.8)), panels=panels,
    )


def _clip(name: str, value: float) -> float:
    lo, hi = JOINT_LIMITS[name]
    return float(np.clip(value, lo, hi))


def _arm(flex: float, abd: float, elbow: float) -> tuple[float, float, float]:
    return (_clip("shoulder_flexion", flex), _clip("shoulder_abduction", abd), _clip("elbow_flexion", elbow))


def _leg(flex: float, abd: float, knee: float) -> tuple[float, float, float]:
    return (_clip("hip_flexion", flex), _clip("hip_abduction", abd), _clip("knee_flexion", knee))


def sample_pose(rng: np.random.Generator, kind: str | None = None) -> Pose:
    """Draw a pose from the prior: a kind (standing, walking, arms raised, reaching) and a view."""
    kind = kind or POSE_KINDS[int(rng.choice(len(POSE_KINDS), p=_POSE_WEIGHTS))]
    u, n = rng.uniform, rng.normal
    view = rng.random()
    if view < 0.3:
        yaw = n(0, 8)  # front
    elif view < 0.55:
        yaw = 180 + n(0, 8)  # back
    elif view < 0.9:
        yaw = float(rng.choice([90.0, -90.0])) + n(0, 6)  # side
    else:
        yaw = float(rng.choice([45.0, -45.0, 135.0, -135.0])) + n(0, 8)  # three-quarter

    def standing_arm() -> tuple[float, float, float]:
        return _arm(n(0, 8), u(4, 18), u(0, 25))

    def standing_leg() -> tuple[float, float, float]:
        return _leg(n(0, 4), u(1, 7), u(0, 8))

    if kind == "standing":
        arms = (standing_arm(), standing_arm())
        legs = (standing_leg(), standing_leg())
    elif kind == "walking":
        swing = u(12, 32) * rng.choice([-1.0, 1.0])  # right leg forward when > 0
        legs = (_leg(swing, u(0, 4), u(0, 12) if swing > 0 else u(10, 45)),
                _leg(-swing, u(0, 4), u(0, 12) if swing < 0 else u(10, 45)))
        arms = (_arm(-0.8 * swing + n(0, 5), u(3, 10), u(10, 45)),
                _arm(0.8 * swing + n(0, 5), u(3, 10), u(10, 45)))
    elif kind == "arms_raised":
        up = lambda: _arm(n(0, 12), u(70, 170), u(0, 50))  # noqa: E731 - a local one-liner
        arms = (up(), up()) if rng.random() < 0.6 else ((up(), standing_arm()) if rng.random() < 0.5
                                                       else (standing_arm(), up()))
        legs = (_leg(n(0, 4), u(2, 15), u(0, 8)), _leg(n(0, 4), u(2, 15), u(0, 8)))
    elif kind == "reaching":
        reach = lambda: _arm(u(60, 110), u(0, 20), u(0, 30))  # noqa: E731
        arms = (reach(), standing_arm()) if rng.random() < 0.5 else (standing_arm(), reach())
        legs = (standing_leg(), standing_leg())
    else:
        raise UsageError(f"pose kind {kind!r}: expected one of {', '.join(POSE_KINDS)}")
    return Pose(kind=kind, yaw=float(yaw), head_yaw=_clip("head_yaw", n(0, 12)), arms=arms, legs=legs,
                height=float(u(0.8, 0.9)), center=float(u(0.45, 0.55)), floor=float(u(0.955, 0.985)))


def view_name(yaw: float) -> str:
    """'front', 'back', 'side' or 'three-quarter' for a yaw in degrees."""
    a = abs((yaw + 180.0) % 360.0 - 180.0)
    if a < 25:
        return "front"
    if a > 155:
        return "back"
    return "side" if 65 < a < 115 else "three-quarter"


# ------------------------------------------------------------------------------------------------ body

def _limb_dir(flex: float, abd: float, side: float) -> np.ndarray:
    """Unit direction of a limb hanging down, swung forward by `flex` and out by `abd` (degrees).

    Body frame: x = the person's left, y = down, z = forward. `side` is +1 for the left, -1 for the right."""
    f, a = np.radians(flex), np.radians(abd)
    return np.array([side * np.sin(a), np.cos(a) * np.cos(f), np.cos(a) * np.sin(f)])


def skeleton_3d(pose: Pose, build: float = 1.0) -> dict[str, np.ndarray]:
    """Joint positions in the body frame (body units, neck at the origin), before the view turn."""
    j: dict[str, np.ndarray] = {"neck": np.zeros(3)}
    sw, hw = SHOULDER_HALF * build, HIP_HALF * build
    for side, name, (flex, abd, bend) in ((-1.0, "r", pose.arms[0]), (1.0, "l", pose.arms[1])):
        sho = np.array([side * sw, 0.012, 0.0])
        elb = sho + UPPER_ARM * _limb_dir(flex, abd, side)
        wri = elb + FOREARM * _limb_dir(flex + bend, abd, side)  # the elbow bends forward
        j[f"{name}sho"], j[f"{name}elb"], j[f"{name}wri"] = sho, elb, wri
    for side, name, (flex, abd, bend) in ((-1.0, "r", pose.legs[0]), (1.0, "l", pose.legs[1])):
        hip = np.array([side * hw, TORSO_LEN, 0.0])
        kne = hip + THIGH * _limb_dir(flex, abd, side)
        ank = kne + SHIN * _limb_dir(flex - bend, abd, side)  # the knee bends backward
        j[f"{name}hip"], j[f"{name}kne"], j[f"{name}ank"] = hip, kne, ank
    j["head"] = np.array([0.0, -(NECK_LEN + HEAD_R), 0.004])
    return j


def _turn(p: np.ndarray, yaw: float) -> np.ndarray:
    """Rotate body-frame points about the vertical axis: image x = x', depth towards the camera = z'."""
    c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
    p = np.asarray(p, dtype=np.float64)
    return np.stack([p[..., 0] * c + p[..., 2] * s, p[..., 1], -p[..., 0] * s + p[..., 2] * c], axis=-1)


# Face points on the head sphere (body frame, head radius units): position, and the threshold the
# turned surface normal's depth must pass for the point to face the camera.
_FACE_POINTS = {
    0: (np.array([0.0, 0.15, 1.0]), -0.05),     # nose
    14: (np.array([-0.38, -0.12, 0.88]), 0.05),  # right eye
    15: (np.array([0.38, -0.12, 0.88]), 0.05),   # left eye
    16: (np.array([-0.88, 0.0, -0.1]), -0.25),   # right ear
    17: (np.array([0.88, 0.0, -0.1]), -0.25),    # left ear
}


# ---------------------------------------------------------------------------------------------- drawing

@dataclass
class _Part:
    label: int
    depth: float
    draw: Callable[[np.ndarray, int], None]  # draws `label` onto the hi-res label map


def _textures(ident: Identity, shape: tuple[int, int], period: float) -> dict[str, np.ndarray]:
    """Per-material colour fields [h, w, 3] float32 on the hi-res canvas (patterns live in image space)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    a, b = np.array(ident.shirt, np.float32), np.array(ident.shirt2, np.float32)
    half = max(1.0, period / 2)
    stripe = {
        "hstripes": (yy // half) % 2 == 1,
        "vstripes": (xx // half) % 2 == 1,
        "checks": ((yy // half) + (xx // half)) % 2 == 1,
    }.get(ident.pattern)
    shirt = np.broadcast_to(a, (h, w, 3)).copy()
    if stripe is not None:
        shirt[stripe] = b
    solid = lambda c: np.broadcast_to(np.array(c, np.float32), (h, w, 3))  # noqa: E731
    return {"shirt": shirt, "skin": solid(ident.skin), "hair": solid(ident.hair),
            "pants": solid(ident.pants), "shoes": solid(ident.shoes)}


def background(ident: Identity, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The identity's backdrop (wall, panels, floor), jittered a little per image: uint8 RGB [H, W, 3]."""
    h, w = size
    img = np.empty((h, w, 3), np.float32)
    horizon = int(round(h * (ident.horizon + rng.normal(0, 0.015))))
    img[:] = ident.wall
    for x0, x1, c in ident.panels:
        img[:horizon, int(x0 * w):int(np.ceil(x1 * w))] = c
    img[horizon:] = ident.floor
    shade = np.linspace(1.04, 0.94, h, dtype=np.float32)[:, None, None]  # light from above
    img *= shade * rng.uniform(0.95, 1.05)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_person(ident: Identity, pose: Pose, size: tuple[int, int] = (128, 64),
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw one person. Returns (image uint8 RGB [H, W, 3], keypoints float32 [18, 2] (x, y) integer pixels
    with NaN where not visible, background uint8 [H, W, 3], part labels uint8 [H, W] at image resolution)."""
    import cv2

    rng = rng if rng is not None else np.random.default_rng(0)
    h, w = size
    s = SUPERSAMPLE
    bg = background(ident, size, rng)
    joints = skeleton_3d(pose, ident.build)
    names = list(joints)
    turned = dict(zip(names, _turn(np.stack([joints[k] for k in names]), pose.yaw)))
    forward = _turn(np.array([0.0, 0.0, 1.0]), pose.yaw + pose.head_yaw)  # the face's direction

    # Body units -> image pixels: scale so a straight standing person is `height` of the image, feet on the floor.
    scale = pose.height * h
    lowest = max(turned["rank"][1], turned["lank"][1]) + FOOT_W / 2
    oy = pose.floor * h - scale * lowest
    ox = pose.center * w

    def px(p: np.ndarray) -> np.ndarray:
        """Body-frame point (already turned) -> hi-res pixel coordinates (float)."""
        return np.array([(ox + scale * p[0]) * s + (s - 1) / 2, (oy + scale * p[1]) * s + (s - 1) / 2])

    def ipt(p: np.ndarray) -> tuple[int, int]:
        q = px(p)
        return int(round(q[0])), int(round(q[1]))

    def thick(u: float) -> int:
        return max(1, int(round(u * scale * s * ident.build)))

    def segment(a: np.ndarray, b: np.ndarray, width: float) -> Callable[[np.ndarray, int], None]:
        return lambda m, lab: cv2.line(m, ipt(a), ipt(b), lab, thick(width), cv2.LINE_8)

    def hull(points: list[np.ndarray]) -> Callable[[np.ndarray, int], None]:
        pts = np.round(np.stack([px(p) for p in points])).astype(np.int32)
        return lambda m, lab: cv2.fillConvexPoly(m, cv2.convexHull(pts), lab)

    def disc(c: np.ndarray, r: float, dx: float = 0.0, dy: float = 0.0) -> Callable[[np.ndarray, int], None]:
        return lambda m, lab: cv2.circle(m, ipt(c + np.array([dx, dy, 0])), max(1, int(round(r * scale * s))),
                                         lab, -1, cv2.LINE_8)

    parts: list[_Part] = []
    depth = lambda *ps: float(np.mean([p[2] for p in ps]))  # noqa: E731
    bias = 0.01 * HEAD_R  # limbs win ties with the torso (arms beside the body stay visible)

    # Torso and pants as boxes with depth (so a side view still has a chest), shirt over the waistband.
    d = CHEST_DEPTH * ident.build / 2
    box = lambda pts: [_turn(joints[k] + np.array([0, dy, dz]), pose.yaw)  # noqa: E731
                       for k, dy in pts for dz in (-d, d)]
    parts.append(_Part(PANTS, -0.002, hull(box([("rhip", -0.03), ("lhip", -0.03), ("rhip", 0.05), ("lhip", 0.05)]))))
    parts.append(_Part(TORSO, 0.0, hull(box([("rsho", -0.01), ("lsho", -0.01), ("rhip", 0.0), ("lhip", 0.0)]))))
    for side in "rl":
        up, fo, ha = (R_UPPER, R_FORE, R_HAND) if side == "r" else (L_UPPER, L_FORE, L_HAND)
        sho, elb, wri = (turned[f"{side}{k}"] for k in ("sho", "elb", "wri"))
        hand = wri + 0.6 * HAND_R * (wri - elb) / max(np.linalg.norm(wri - elb), 1e-6)
        parts += [_Part(up, depth(sho, elb) + bias, segment(sho, elb, ARM_W)),
                  _Part(fo, depth(elb, wri) + bias, segment(elb, wri, FOREARM_W)),
                  _Part(ha, depth(wri) + bias, disc(hand, HAND_R))]
        th, sh, ft = (R_THIGH, R_SHIN, R_FOOT) if side == "r" else (L_THIGH, L_SHIN, L_FOOT)
        hip, kne, ank = (turned[f"{side}{k}"] for k in ("hip", "kne", "ank"))
        toe = ank + np.array([0.0, FOOT_W / 2, 0.0]) + FOOT_LEN * _turn(np.array([0.0, 0.0, 1.0]), pose.yaw) * [1, 0, 1]
        parts += [_Part(th, depth(hip, kne) + bias, segment(hip, kne, THIGH_W)),
                  _Part(sh, depth(kne, ank) + bias, segment(kne, ank, SHIN_W)),
                  _Part(ft, depth(ank, toe) + bias, segment(ank + np.array([0, FOOT_W / 4, 0]), toe, FOOT_W))]
    head = turned["head"]
    parts.append(_Part(NECK, head[2] - 0.5 * HEAD_R, segment(turned["neck"], head, NECK_W)))
    # Hair: a cap over the back and top of the head; the face is the skin showing on the side it faces.
    back = -forward * HEAD_R
    if ident.long_hair:
        nape = turned["neck"] + back * 0.8 + np.array([0, 0.03, 0])
        parts.append(_Part(LONG_HAIR, (head + back)[2], hull([head + back * 0.5 + [-HEAD_R, 0, 0],
                                                               head + back * 0.5 + [HEAD_R, 0, 0],
                                                               nape + [-0.9 * HEAD_R, 0, 0],
                                                               nape + [0.9 * HEAD_R, 0, 0]])))
    facing = forward[2] > -0.2
    hr = HEAD_R * 1.04
    hair_draw = disc(head + back * 0.25, hr, dy=-0.2 * HEAD_R)
    face_draw = disc(head + forward * 0.25 * HEAD_R, 0.82 * HEAD_R, dy=0.2 * HEAD_R)
    head_draw = disc(head, HEAD_R)
    top = head[2] + HEAD_R
    if facing:
        parts += [_Part(HEAD, top, head_draw), _Part(HAIR, top + 1e-4, hair_draw), _Part(HEAD, top + 2e-4, face_draw)]
    else:
        parts += [_Part(HEAD, top, head_draw), _Part(HAIR, top + 1e-4, hair_draw)]

    hs, ws = h * s, w * s
    labels = np.zeros((hs, ws), np.uint8)
    for part in sorted(parts, key=lambda p: p.depth):  # far to near: nearer parts cover farther ones
        part.draw(labels, part.label)

    # Colour the parts; farther limbs slightly darker, a soft top-down light.
    tex = _textures(ident, (hs, ws), period=0.045 * scale * s)
    material = {TORSO: "shirt", PANTS: "pants", NECK: "skin", HEAD: "skin", HAIR: "hair", LONG_HAIR: "hair",
                R_UPPER: "shirt", L_UPPER: "shirt", R_FORE: "shirt" if ident.long_sleeves else "skin",
                L_FORE: "shirt" if ident.long_sleeves else "skin", R_HAND: "skin", L_HAND: "skin",
                R_THIGH: "pants", L_THIGH: "pants", R_SHIN: "skin" if ident.shorts else "pants",
                L_SHIN: "skin" if ident.shorts else "pants", R_FOOT: "shoes", L_FOOT: "shoes"}
    part_depth = {}
    for p in parts:
        part_depth[p.label] = max(part_depth.get(p.label, -1.0), p.depth)
    hi = cv2.resize(bg, (ws, hs), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    for lab, mat in material.items():
        sel = labels == lab
        if sel.any():
            shade = float(np.clip(1.0 + 1.2 * part_depth.get(lab, 0.0), 0.8, 1.08))
            hi[sel] = tex[mat][sel] * shade
    if ident.pattern == "print" and forward[2] > 0.3:  # a chest print, seen only from the front
        chest = (turned["rsho"] + turned["lsho"] + turned["rhip"] + turned["lhip"]) / 4 + np.array([0, -0.03, 0])
        mark = np.zeros_like(labels)
        disc(chest, 0.045 * ident.build)(mark, 1)
        hi[(mark == 1) & (labels == TORSO)] = ident.shirt2

    # Keypoints: the pixel each joint falls in; kept only where the part that owns it shows it.
    kp = np.full((NUM_KEYPOINTS, 2), np.nan, np.float32)
    order = ["nose", "neck", "rsho", "relb", "rwri", "lsho", "lelb", "lwri",
             "rhip", "rkne", "rank", "lhip", "lkne", "lank"]
    points: dict[int, np.ndarray] = {k: turned[n] for k, n in enumerate(order) if n in turned}
    for k, (p, thr) in _FACE_POINTS.items():
        normal = _turn(p / np.linalg.norm(p), pose.yaw + pose.head_yaw)
        if normal[2] > thr:
            points[k] = head + HEAD_R * _turn(p, pose.yaw + pose.head_yaw)
    for k, p in points.items():
        x = round(ox + scale * p[0])
        y = round(oy + scale * p[1])
        if not (0 <= x < w and 0 <= y < h):
            continue
        if labels[y * s + s // 2, x * s + s // 2] in SHOWN_BY[k]:
            kp[k] = (x, y)
    for k in (14, 15):  # eyes: a dark dot where they show
        if np.isfinite(kp[k, 0]):
            cv2.circle(hi, (int(kp[k, 0]) * s + s // 2, int(kp[k, 1]) * s + s // 2), max(1, s // 2),
                       (25, 20, 20), -1, cv2.LINE_8)

    img = cv2.resize(np.clip(hi, 0, 255), (w, h), interpolation=cv2.INTER_AREA)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    small_labels = labels[s // 2::s, s // 2::s]
    return img, kp, bg, small_labels


# ------------------------------------------------------------------------------------------------ dataset

def demo_name(person: int, index: int) -> str:
    """Market-1501-style name: identity 1-based with 4 digits, camera 1-6, sequence, frame, box."""
    cam = index % 6 + 1
    return f"{person:04d}_c{cam}s1_{index * 25 + 1:06d}_00.png"


def demo_sample(seed: int, person: int, index: int, size: tuple[int, int] = (128, 64)
                ) -> tuple[str, np.ndarray, np.ndarray, Pose]:
    """Image `index` of identity `person` (1-based) for `seed`: (name, image, keypoints, pose).

    Each identity and each image has its own random stream, so a sample does not depend on how many
    people or poses were asked for (a larger set extends a smaller one)."""
    ident = sample_identity(np.random.default_rng([seed, person]))
    rng = np.random.default_rng([seed, person, index + 1])
    pose = sample_pose(rng)
    img, kp, _, _ = render_person(ident, pose, size, rng)
    return demo_name(person, index), img, kp, pose


def _validate(opts: DemoOptions) -> None:
    problems = []
    if opts.people < 1 or opts.people > 9999:
        problems.append(f"--people {opts.people}: expected 1..9999")
    if opts.poses < 1 or opts.poses > 999:
        problems.append(f"--poses {opts.poses}: expected 1..999")
    h, w = opts.size
    if h < 32 or w < 16:
        problems.append(f"--size {h}x{w}: expected at least 32x16")
    if problems:
        raise UsageError("; ".join(problems))


def make_demo_data(out_dir: str | os.PathLike, opts: DemoOptions = DemoOptions(), overwrite: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Write `out_dir/images/*.png` and `out_dir/annotations.csv` for `opts.people` x `opts.poses` people.

    Refuses an existing `images/` or `annotations.csv` unless `overwrite`. The images are written into a
    temporary folder renamed into place at the end, so an interrupted run leaves no partial dataset."""
    import shutil

    from pg2cli.fileio import check_output
    from pg2cli.formats import Annotations, write_annotations
    from pg2cli.images import write_image

    _validate(opts)
    out = Path(out_dir)
    images_dir, ann_path = out / "images", out / "annotations.csv"
    for p in (images_dir, ann_path):
        if p.exists() and not overwrite:
            raise OutputExistsError(p)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".images.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    names, kps, kinds, views = [], [], [], []
    total = opts.people * opts.poses
    try:
        for person in range(1, opts.people + 1):
            for index in range(opts.poses):
                name, img, kp, pose = demo_sample(opts.seed, person, index, opts.size)
                write_image(tmp / name, img)
                names.append(name)
                kps.append(kp)
                kinds.append(pose.kind)
                views.append(view_name(pose.yaw))
                if progress is not None:
                    progress(len(names), total)
        if images_dir.exists():
            check_output(images_dir, overwrite)
            shutil.rmtree(images_dir)
        os.replace(tmp, images_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    keypoints = np.stack(kps).astype(np.float32)
    write_annotations(ann_path, Annotations(names, keypoints), overwrite=overwrite)
    return DemoResult(out_dir=out, images_dir=images_dir, annotations=ann_path, names=names,
                      keypoints=keypoints, kinds=kinds, views=views)
