"""The `openpose` backend: CMU's COCO-18 body network as packaged by controlnet-aux, batched, decoded on device.

The OpenPose model and its weights are licensed by CMU for non-commercial use only.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from pg2cli.errors import DataError, MissingWeightsError, Pg2Error, UsageError
from pg2cli.formats.openpose import OpenPosePerson
from pg2cli.pose.decode import PAD_VALUE, ScaleGeometry, decode_batch, geometry
from pg2cli.skeleton import NUM_KEYPOINTS

WEIGHTS_ENV = "PG2_OPENPOSE_WEIGHTS"
HF_REPO = "lllyasviel/Annotators"
WEIGHTS_FILE = "body_pose_model.pth"
DEFAULT_SCALES = (184.0,)  # controlnet-aux: image height scaled to 0.5 x 368
DECODE_BUDGET = 1 << 26  # at most this many full-resolution heatmap values per decoded chunk (256 MB)
HOW_TO_GET_WEIGHTS = (
    f"pass --weights PATH (a {WEIGHTS_FILE} file or a folder holding it), set {WEIGHTS_ENV}, or download it "
    f"once online with `huggingface-cli download {HF_REPO} {WEIGHTS_FILE}`; --backend mediapipe needs none"
)


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; 'cuda' without a GPU is refused."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA GPU is visible (use --device cpu or auto)")
    if device != "cpu" and not device.startswith("cuda"):
        raise UsageError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    return device


def _weights_file(path: str | os.PathLike, source: str) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / WEIGHTS_FILE
    if not p.is_file():
        raise MissingWeightsError(f"{path} ({source}): no such file (expected {WEIGHTS_FILE} or a folder holding it)")
    return p


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick connection test, so that an offline machine fails in seconds, not after the hub's retries."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def resolve_weights(weights: str | os.PathLike | None = None) -> Path:
    """The body model file: `weights` > $PG2_OPENPOSE_WEIGHTS > the Hugging Face cache (downloaded if online)."""
    if weights:
        return _weights_file(weights, "--weights")
    if os.environ.get(WEIGHTS_ENV):
        return _weights_file(os.environ[WEIGHTS_ENV], WEIGHTS_ENV)
    import logging

    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(HF_REPO, WEIGHTS_FILE, local_files_only=True))
    except Exception:  # not in the cache (the hub raises several types for that)
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline or not _hub_reachable():
        raise MissingWeightsError("OpenPose weights not found and the Hugging Face hub is unreachable: "
                                  + HOW_TO_GET_WEIGHTS)
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)  # its retry warnings would drown the one-line error
    try:
        return Path(hf_hub_download(HF_REPO, WEIGHTS_FILE))
    except Exception as e:
        raise MissingWeightsError(f"could not download {HF_REPO}/{WEIGHTS_FILE} ({type(e).__name__}): "
                                  f"{HOW_TO_GET_WEIGHTS}") from None
    finally:
        hub_log.setLevel(level)


@lru_cache(maxsize=1)
def body_model_class() -> type:
    """controlnet-aux's `bodypose_model` class.

    Its module is loaded from its file: `import controlnet_aux.open_pose.model` would first run
    controlnet_aux/__init__.py, which imports every detector (about 3 s and a screen of warnings).
    """
    spec = importlib.util.find_spec("controlnet_aux")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise Pg2Error("the openpose backend needs controlnet-aux: pip install controlnet-aux")
    path = Path(next(iter(spec.submodule_search_locations))) / "open_pose" / "model.py"
    if path.is_file():
        module_spec = importlib.util.spec_from_file_location("pg2cli.pose._controlnet_aux_body_model", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module.bodypose_model
    with warnings.catch_warnings():  # a future layout: the slow, noisy import still works
        warnings.simplefilter("ignore")
        from controlnet_aux.open_pose.model import bodypose_model
    return bodypose_model


def to_original_layout(state_dict: dict) -> dict:
    """A bodypose_model state dict with the released file's keys ('model0.conv1_1.weight' -> 'conv1_1.weight')."""
    return {key.split(".", 1)[1]: value for key, value in state_dict.items()}


def save_random_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """Save randomly initialised body-model weights in the released file's layout (for tests and benchmarks)."""
    import torch

    torch.manual_seed(seed)
    path = Path(path)
    torch.save(to_original_layout(body_model_class()().state_dict()), path)
    return path


def load_body_model(path: str | os.PathLike, device: str = "cpu"):
    """The body network with weights from a `body_pose_model.pth` (original or controlnet-aux key layout)."""
    import torch

    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        model = body_model_class()()
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        reason = (str(e).splitlines() or [""])[0][:120]
        raise DataError(f"{path}: not a PyTorch weights file ({type(e).__name__}: {reason})") from None
    if not isinstance(saved, dict):
        raise DataError(f"{path}: expected a state dict of the OpenPose body model, found {type(saved).__name__}")
    expected = model.state_dict()
    state = {}
    missing = []
    for key, ref in expected.items():
        value = saved.get(key.split(".", 1)[1], saved.get(key))
        if value is None:
            missing.append(key.split(".", 1)[1])
        elif tuple(value.shape) != tuple(ref.shape):
            raise DataError(f"{path}: {key.split('.', 1)[1]} has shape {tuple(value.shape)}, expected "
                            f"{tuple(ref.shape)} (not the OpenPose COCO-18 body model)")
        else:
            state[key] = value
    if missing:
        raise DataError(f"{path}: {len(missing)} of {len(expected)} tensors of the OpenPose body model are missing "
                        f"(e.g. {missing[0]}); expected {WEIGHTS_FILE} from {HF_REPO}")
    model.load_state_dict(state, assign=True)
    return model.eval().to(device)


def network_input(rgb: np.ndarray, target_height: float) -> tuple[np.ndarray, ScaleGeometry]:
    """The padded network input of one image (uint8 BGR [Hp, Wp, 3]) and its geometry, as controlnet-aux makes it."""
    import cv2

    h, w = rgb.shape[:2]
    geom = geometry(h, w, target_height)
    (hs, ws), (hp, wp) = geom.scaled, geom.padded
    m = float(target_height) / h
    interp = cv2.INTER_AREA if (h * m + w * m) / (h + w) < 1 else cv2.INTER_LANCZOS4  # smart_resize_k's test
    scaled = cv2.resize(np.ascontiguousarray(rgb[:, :, ::-1]), (ws, hs), interpolation=interp)  # CMU's net wants BGR
    out = np.full((hp, wp, 3), PAD_VALUE, np.uint8)
    out[:hs, :ws] = scaled
    return out, geom


class OpenPoseBackend:
    """Batched COCO-18 body keypoints: images of one size share a forward pass, decoding runs on the device.

    `scales`: network input heights in pixels (default 184, controlnet-aux's); several are averaged.
    `batch_size`: images per forward pass (default 16 on a CPU, 64 on a GPU).
    `refine`: sub-pixel, DARK-style keypoints from the network's heatmaps (see decode.refine_peaks); more
    accurate near image borders. Off by default: controlnet-aux's integer pixels, as PG²'s annotations.
    `stats` accumulates seconds spent in the network (with preprocessing) and in decoding (for benchmarks).
    """

    name = "openpose"

    def __init__(self, weights: str | os.PathLike | None = None, device: str = "auto",
                 scales: Sequence[float] = DEFAULT_SCALES, batch_size: int | None = None, refine: bool = False):
        import torch

        if not scales or any(s < 16 for s in scales):
            raise UsageError(f"--scale {list(scales)}: expected network input heights of at least 16 pixels")
        if batch_size is not None and batch_size < 1:
            raise UsageError(f"--batch-size {batch_size}: expected at least 1")
        self.device = resolve_device(device)
        self.scales = tuple(float(s) for s in scales)
        self.refine = bool(refine)
        # A GPU needs bigger batches to be busy; on a CPU larger ones only cost memory.
        self.batch_size = batch_size or (64 if self.device.startswith("cuda") else 16)
        # Untrained or fine-tuned weights can drive activations into denormal floats, ~10x slower on CPUs.
        torch.set_flush_denormal(True)
        self.weights = resolve_weights(weights)
        self.model = load_body_model(self.weights, self.device).to(memory_format=torch.channels_last)
        self.stats = {"images": 0, "network_s": 0.0, "decode_s": 0.0}

    def _sync(self) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)

    def forward(self, images: list[np.ndarray], scale: float):
        """((paf [B, 38, h, w], heatmap [B, 19, h, w]), ScaleGeometry) for same-size RGB images at one scale."""
        import torch

        prepared = [network_input(im, scale) for im in images]
        batch = torch.from_numpy(np.stack([p[0] for p in prepared])).to(self.device)  # [B, Hp, Wp, 3] uint8
        x = batch.permute(0, 3, 1, 2).float().div_(256.0).sub_(0.5)  # controlnet-aux's x / 256 - 0.5
        with torch.inference_mode():
            paf, heat = self.model(x.contiguous(memory_format=torch.channels_last))
        return (paf, heat), prepared[0][1]

    def _detect_same_size(self, images: list[np.ndarray]) -> list[list[OpenPosePerson]]:
        import torch

        t0 = time.perf_counter()
        outputs, geoms = [], []
        for scale in self.scales:
            maps, geom = self.forward(images, scale)
            outputs.append(maps)
            geoms.append(geom)
        self._sync()
        t1 = time.perf_counter()
        threads = torch.get_num_threads()
        if self.device == "cpu":
            # Decoding is many small ops: one thread is several times faster than two on a busy CPU.
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                people = decode_batch([(paf.contiguous(), heat.contiguous()) for paf, heat in outputs], geoms,
                                      refine=self.refine)
        finally:
            torch.set_num_threads(threads)
        self.stats["network_s"] += t1 - t0
        self.stats["decode_s"] += time.perf_counter() - t1
        self.stats["images"] += len(images)
        return people

    def detect(self, images: list[np.ndarray]) -> list[list[OpenPosePerson]]:
        """People in each uint8 RGB image, best first; images of one size go through the network together."""
        out: list[list[OpenPosePerson] | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            by_size.setdefault(im.shape[:2], []).append(i)
        for (h, w), idx in by_size.items():
            step = max(1, min(self.batch_size, DECODE_BUDGET // (NUM_KEYPOINTS * h * w)))
            for lo in range(0, len(idx), step):
                chunk = idx[lo:lo + step]
                for i, people in zip(chunk, self._detect_same_size([images[i] for i in chunk])):
                    out[i] = people
        return out  # type: ignore[return-value]

    def close(self) -> None:
        """Nothing to release (the model is freed with the object); here for a uniform backend interface."""
