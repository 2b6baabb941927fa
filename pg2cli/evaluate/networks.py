"""The pretrained networks behind IS, FID and LPIPS: where their weights are found, and thin batch wrappers.

Nothing is downloaded. Weights come from an explicit path, an environment variable, or the file name the
libraries themselves cache under `torch.hub.get_dir()/checkpoints` (so a machine where pytorch-fid or
torchvision once downloaded them just works):

- Inception (IS, FID): pytorch-fid's port of TensorFlow's 2015-12-05 graph, `pt_inception-2015-12-05-6726825d.pth`
  (`--inception-weights`, `$PG2_INCEPTION_WEIGHTS`).
- LPIPS: the AlexNet trunk, torchvision's `alexnet-owt-7be5be79.pth` (`--lpips-weights`, `$PG2_LPIPS_WEIGHTS`);
  the linear calibration layers ship inside the lpips package. A full `lpips.LPIPS` state dict is accepted too.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from pg2cli.errors import MissingWeightsError


@dataclass(frozen=True)
class WeightSpec:
    """Where one network's weights are looked for."""

    what: str  # human name for messages
    file_name: str  # the name the library caches the download under
    env: str  # environment variable holding a path
    option: str  # the CLI option holding a path


INCEPTION = WeightSpec("Inception-v3 (pytorch-fid, TF 2015-12-05)", "pt_inception-2015-12-05-6726825d.pth",
                       "PG2_INCEPTION_WEIGHTS", "--inception-weights")
ALEXNET = WeightSpec("AlexNet (torchvision, for LPIPS)", "alexnet-owt-7be5be79.pth",
                     "PG2_LPIPS_WEIGHTS", "--lpips-weights")


def hub_checkpoint_dir() -> Path:
    """torch.hub's download cache (`$TORCH_HOME/hub/checkpoints`, default ~/.cache/torch/hub/checkpoints)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(spec: WeightSpec, path: str | os.PathLike | None = None) -> Path | None:
    """The weights file for `spec`: `path` if given (it must exist), else $env, else the hub cache; None if absent."""
    if path is None and os.environ.get(spec.env):
        path = os.environ[spec.env]
        source = f"${spec.env}"
    else:
        source = spec.option
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise MissingWeightsError(f"{source} {path}: no such file (expected the {spec.what} weights)")
        return path
    cached = hub_checkpoint_dir() / spec.file_name
    return cached if cached.is_file() else None


def missing_reason(spec: WeightSpec) -> str:
    """One line saying why a metric is skipped and how to enable it."""
    return (f"no {spec.what} weights: put {spec.file_name} in {hub_checkpoint_dir()} "
            f"or pass {spec.option} PATH (or set ${spec.env})")


def _load_state_dict(path: Path, what: str) -> dict:
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which
        raise MissingWeightsError(f"{path}: cannot load the {what} weights "
                                  f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(sd, dict):
        raise MissingWeightsError(f"{path}: expected a state dict for the {what} weights, found {type(sd).__name__}")
    return sd


def required_state_dict(spec: WeightSpec, path: str | os.PathLike | None = None) -> dict:
    """The weights for `spec` (see `find_weights`); MissingWeightsError saying how to get them when absent."""
    found = find_weights(spec, path)
    if found is None:
        raise MissingWeightsError(missing_reason(spec))
    return _load_state_dict(found, spec.what)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the libraries' deprecation chatter (torchvision's `pretrained=`) while building networks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _nchw(images: np.ndarray, device) -> "torch.Tensor":  # noqa: F821
    import torch

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images [B, H, W, 3], got {images.dtype} {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()


class InceptionNet:
    """pytorch-fid's FID Inception-v3: pool3 features [B, 2048] for FID and class probabilities [B, 1008] for IS.

    The IS logits are pool3 @ W_fc^T without the bias, as OpenAI's IS code reads the TF graph
    (`softmax/logits/MatMul`) and torch-fidelity's `logits_unbiased`. Images are resized to 299x299
    bilinearly inside the network, as pytorch-fid does.
    """

    def __init__(self, state_dict: dict, device: str = "cpu"):
        import torch
        from pytorch_fid import inception as pfi

        # pytorch-fid builds its patched network and then loads the weights from its URL; hand it ours instead.
        original = pfi.load_state_dict_from_url
        pfi.load_state_dict_from_url = lambda *args, **kwargs: state_dict
        try:
            with _quiet():
                self.net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True,
                                           normalize_input=True).eval().to(device)
        finally:
            pfi.load_state_dict_from_url = original
        self.fc_weight = state_dict["fc.weight"].to(device, torch.float32)  # [1008, 2048]
        self.device = device

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: str = "cpu") -> "InceptionNet":
        """From `path`, $PG2_INCEPTION_WEIGHTS or the hub cache; MissingWeightsError when none is found."""
        return cls(required_state_dict(INCEPTION, path), device)

    @staticmethod
    def random_state_dict(seed: int = 0) -> dict:
        """Randomly initialised weights with the right layout (tests exercise the real code path with them).

        Batch-norm statistics are calibrated on a few noise images; with the default (0, 1) statistics the
        activations of a random network grow to ~1e10 and the features are useless even as plumbing.
        """
        import torch
        import torchvision

        torch.manual_seed(seed)
        with _quiet():
            net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the calibration batch
        net.train()
        with torch.no_grad():
            net(torch.rand(2, 3, 160, 160) * 2 - 1)  # small: only the statistics' scale matters here
            net.fc.weight.mul_(0.01)  # logits of a few units, so the class probabilities are not all one-hot
        return net.eval().state_dict()

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB [B, H, W, 3] -> (pool3 features [B, 2048] float64, probabilities [B, 1008] float64)."""
        import torch

        with torch.inference_mode():
            x = _nchw(images, self.device) / 255.0  # pytorch-fid expects [0, 1]
            pool = self.net(x)[0].flatten(1)  # [B, 2048]
            probs = torch.softmax((pool @ self.fc_weight.T).double(), dim=1)  # [B, 1008], float64 for IS's logs
        return pool.double().cpu().numpy(), probs.double().cpu().numpy()


class LpipsNet:
    """LPIPS (AlexNet trunk + the package's v0.1 linear layers): distance [B] between two uint8 image batches."""

    def __init__(self, alexnet_state_dict: dict | None, device: str = "cpu"):
        import lpips

        with _quiet():
            # pnet_rand=True builds the trunk without asking torchvision to download; weights are loaded below.
            self.net = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
        if alexnet_state_dict is not None:
            if any(k.startswith("net.slice") for k in alexnet_state_dict):  # a whole LPIPS state dict
                self.net.load_state_dict(alexnet_state_dict)
            else:
                self.net.net.load_state_dict(self._trunk_keys(alexnet_state_dict))
        self.net = self.net.eval().to(device)
        self.device = device

    def _trunk_keys(self, sd: dict) -> dict:
        """torchvision AlexNet keys (`features.3.weight`) -> lpips' sliced trunk keys (`slice2.3.weight`)."""
        out = {}
        slices = [(name, mod) for name, mod in self.net.net.named_children() if name.startswith("slice")]
        for key, value in sd.items():
            parts = key.split(".")
            if parts[0] != "features":
                continue  # the classifier is not part of LPIPS
            for name, mod in slices:
                if hasattr(mod, parts[1]):
                    out[f"{name}.{parts[1]}.{parts[2]}"] = value
        return out

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: str = "cpu") -> "LpipsNet":
        """From `path`, $PG2_LPIPS_WEIGHTS or the hub cache; MissingWeightsError when none is found."""
        return cls(required_state_dict(ALEXNET, path), device)

    def __call__(self, generated: np.ndarray, target: np.ndarray) -> np.ndarray:
        """uint8 RGB [B, H, W, 3] twice -> LPIPS distances [B] (inputs scaled to [-1, 1] as lpips expects)."""
        import torch

        with torch.inference_mode():
            a = _nchw(generated, self.device) / 127.5 - 1.0
            b = _nchw(target, self.device) / 127.5 - 1.0
            d = self.net(a, b)  # [B, 1, 1, 1]
        return d.flatten().double().cpu().numpy()
