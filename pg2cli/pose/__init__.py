"""Pose extraction: COCO-18 keypoints from images with the `openpose` or the offline `mediapipe` backend.

Importing this package is cheap; torch, controlnet-aux and mediapipe are imported by `get_backend`.
"""

from __future__ import annotations

import os
from typing import Callable, Protocol

import numpy as np

from pg2cli.errors import UsageError
from pg2cli.formats.openpose import OpenPosePerson
from pg2cli.skeleton import NUM_KEYPOINTS

BACKENDS = ("openpose", "mediapipe")


class PoseBackend(Protocol):
    """What a backend offers: `detect` people in uint8 RGB images, best first per image."""

    name: str

    def detect(self, images: list[np.ndarray]) -> list[list[OpenPosePerson]]: ...

    def close(self) -> None: ...


def _openpose(weights=None, device="auto", **opts) -> PoseBackend:
    from pg2cli.pose.openpose import OpenPoseBackend

    return OpenPoseBackend(weights=weights, device=device, **opts)


def _mediapipe(weights=None, device="auto", **opts) -> PoseBackend:
    from pg2cli.pose.mediapipe_backend import MediaPipeBackend

    if weights is not None:
        raise UsageError("--weights applies to the openpose backend; mediapipe uses the model bundled in its wheel")
    return MediaPipeBackend(**opts)  # CPU only: `device` does not apply


_FACTORIES: dict[str, Callable[..., PoseBackend]] = {"openpose": _openpose, "mediapipe": _mediapipe}


def get_backend(name: str = "openpose", weights: str | os.PathLike | None = None, device: str = "auto",
                **opts) -> PoseBackend:
    """A ready pose backend by name.

    openpose options: scales (network input heights, default (184,)), batch_size (16 on a CPU, 64 on a GPU),
    refine (sub-pixel DARK-style keypoints, default False: controlnet-aux's integer pixels).
    mediapipe options: mode ("auto" | "roi" | "detector"), min_visibility (0.5), detection_confidence (0.3).
    """
    if name not in _FACTORIES:
        raise UsageError(f"pose backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return _FACTORIES[name](weights=weights, device=device, **opts)


def estimate_keypoints(image: np.ndarray, backend: PoseBackend) -> np.ndarray:
    """Keypoints [18, 2] (x, y) of the best person in a uint8 RGB image; all NaN when nobody is found."""
    people = backend.detect([np.asarray(image)])[0]
    if not people:
        return np.full((NUM_KEYPOINTS, 2), np.nan, np.float32)
    return np.asarray(people[0].keypoints, np.float32)


__all__ = ["BACKENDS", "PoseBackend", "get_backend", "estimate_keypoints"]
