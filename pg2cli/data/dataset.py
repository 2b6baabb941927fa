"""Reading packed HDF5 files: a per-sample reader and the torch training Dataset over its pairs.

Both open their h5py handle lazily in the process that reads, so they are safe with DataLoader workers.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

from pg2cli._zlib import fast_zlib
from pg2cli.data.schema import PackedInfo, inspect_packed, open_h5
from pg2cli.errors import DataError
from pg2cli.skeleton import FLIP_PERMUTATION

_FLIP = np.asarray(FLIP_PERMUTATION, dtype=np.int64)
_SAMPLE_DATASETS = ("images", "pose_maps", "masks")


class PackedReader:
    """Random access to the samples of a packed file: images, pose maps, masks by index; names, keypoints and
    pairs held in memory (small). Chunks are read and inflated directly when the file uses pg2cli's own
    one-sample gzip/none chunks, which skips most of h5py's per-read overhead."""

    def __init__(self, path: str | os.PathLike, info: PackedInfo | None = None):
        self.path = Path(path)
        self.info = info or inspect_packed(self.path)
        self._file = None
        self._pid = None
        with open_h5(self.path) as f:
            self.keypoints = f["keypoints"][()].astype(np.float32, copy=False)  # [N, 18, 2]
            self.pairs = f["pairs"][()].astype(np.int64, copy=False)  # [P, 2]
            self.names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in f["names"][()]]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, None  # each process opens its own handle
        state.pop("_ds", None)
        return state

    def _h5(self):
        if self._file is None or self._pid != os.getpid():
            f = open_h5(self.path)
            # name -> (dataset, direct chunk access?, gzip?, dtype, sample shape), looked up once per process
            self._ds = {name: (f[name], _direct_ok(f[name]), f[name].compression == "gzip", f[name].dtype,
                               f[name].shape[1:]) for name in _SAMPLE_DATASETS}
            self._file, self._pid = f, os.getpid()
        return self._file

    def close(self) -> None:
        """Close this process's handle (reopened on the next read)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._pid = None, None

    def __len__(self) -> int:
        return self.info.num_images

    def _read(self, name: str, i: int) -> np.ndarray:
        self._h5()
        d, direct, gzip, dtype, shape = self._ds[name]
        try:
            if direct:
                fmask, raw = d.id.read_direct_chunk((int(i),) + (0,) * len(shape))
                if gzip and not fmask & 1:
                    raw = fast_zlib.decompress(raw)  # ISA-L: 1.3-2x faster than zlib on pose-map chunks
                return np.frombuffer(raw, dtype).reshape(shape)
            return d[int(i)]
        except (OSError, ValueError, zlib.error, fast_zlib.error) as e:
            raise DataError(f"{self.path}: cannot read {name}[{i}] ({e}); the file may be damaged or truncated") \
                from None

    def image(self, i: int) -> np.ndarray:
        """uint8 RGB [H, W, 3] of sample i (read-only view)."""
        return self._read("images", i)

    def pose_map(self, i: int) -> np.ndarray:
        """Pose maps [18, H, W] of sample i as stored: uint8 (value x 255) or float16/float32 in [0, 1]."""
        return self._read("pose_maps", i)

    def mask(self, i: int) -> np.ndarray:
        """uint8 [H, W] in {0, 1} of sample i."""
        return self._read("masks", i)


def _direct_ok(d) -> bool:
    """True when a dataset's chunks are exactly one sample, gzip-compressed or raw, with no other filter."""
    return (d.chunks == (1,) + d.shape[1:] and d.compression in (None, "gzip") and not d.shuffle
            and not d.fletcher32 and d.scaleoffset is None)


_PM1_KEYS = ("source", "target", "source_pose", "target_pose")


def to_float(item: dict) -> dict:
    """A raw item or collated batch of `PairDataset(raw=True)` (on any device) -> the float format of
    `PairDataset`: images u -> u / 127.5 - 1, pose maps v -> 2v - 1 (uint8 maps store 255 v), mask -> float.

    Raw items move 4x fewer bytes through DataLoader workers; converting on the GPU after the copy is free.
    """
    import torch

    out = dict(item)
    for key in _PM1_KEYS:
        if key in out:
            t = out[key]
            out[key] = t.float().mul_(1 / 127.5).sub_(1) if t.dtype == torch.uint8 else t.float().mul_(2).sub_(1)
    out["target_mask"] = out["target_mask"].float()
    return out


class PairDataset:
    """torch Dataset over the pairs of a packed file (PG² training data).

    `ds[i]` is a dict of torch tensors: `source`, `target` float32 [3, H, W] in [-1, 1]; `source_pose`,
    `target_pose` float32 [18, H, W] in [-1, 1]; `target_mask` float32 [1, H, W] in {0, 1};
    `source_keypoints`, `target_keypoints` float32 [18, 2] (x, y) px, NaN = missing; `pair` int64.

    With `flip`, item i of epoch e is mirrored left-right when
    `np.random.default_rng([seed, e, i]).random() < 0.5`: images, maps and mask are mirrored, keypoint x becomes
    W - 1 - x, and left/right channels swap (skeleton.FLIP_PERMUTATION), so the flip is reproducible across
    workers and resumes. Call `set_epoch(e)` before each epoch's DataLoader iterator is created (with
    `persistent_workers=True` the workers keep the epoch they were started with).

    Moving float32 maps between DataLoader workers (shared memory) is what bounds loading speed on small CPUs,
    so two options make items lighter: `source_pose=False` leaves out `source_pose` (only the pose-embedding
    ablations use it), and `raw=True` returns images, maps and mask as stored (uint8 [3, H, W], uint8 or float
    [18, H, W], uint8 [1, H, W]); `to_float(batch)` then gives exactly the default format, e.g. on the GPU.
    """

    def __init__(self, path: str | os.PathLike, flip: bool = False, seed: int = 0, source_pose: bool = True,
                 raw: bool = False):
        self.reader = PackedReader(path)
        self.info = self.reader.info
        self.flip = bool(flip)
        self.seed = int(seed)
        self.source_pose = bool(source_pose)
        self.raw = bool(raw)
        self.epoch = 0

    def __len__(self) -> int:
        return self.info.num_pairs

    def set_epoch(self, epoch: int) -> None:
        """Select the flips of epoch `epoch` (see the class docstring)."""
        self.epoch = int(epoch)

    def flipped(self, i: int) -> bool:
        """Whether item i is mirrored in the current epoch."""
        return self.flip and np.random.default_rng([self.seed, self.epoch, int(i)]).random() < 0.5

    def __getitem__(self, i: int) -> dict:
        import torch

        if not 0 <= i < len(self):
            raise IndexError(f"pair {i} out of range 0..{len(self) - 1}")
        r = self.reader
        src, tgt = (int(v) for v in r.pairs[i])
        flip = self.flipped(i)
        cols = slice(None, None, -1) if flip else slice(None)

        def tensor(a: np.ndarray):  # a C-contiguous writable copy (chunks come back as read-only buffers)
            return torch.from_numpy(np.array(a, order="C"))

        def keypoints(j):
            kp = r.keypoints[j].copy()
            if flip:
                kp = kp[_FLIP]
                kp[:, 0] = (self.info.width - 1) - kp[:, 0]
            return torch.from_numpy(kp)

        def pose(j):  # channel k of a mirrored pose is channel FLIP_PERMUTATION[k], mirrored
            pm = r.pose_map(j)
            return tensor(pm[_FLIP][:, :, ::-1] if flip else pm)

        item = {
            "source": tensor(r.image(src).transpose(2, 0, 1)[:, :, cols]),  # [3, H, W]
            "target": tensor(r.image(tgt).transpose(2, 0, 1)[:, :, cols]),
            "target_pose": pose(tgt),  # [18, H, W]
            "target_mask": tensor(r.mask(tgt)[None, :, cols]),  # [1, H, W]
            "source_keypoints": keypoints(src), "target_keypoints": keypoints(tgt),
            "pair": torch.tensor(i, dtype=torch.int64),
        }
        if self.source_pose:
            item["source_pose"] = pose(src)
        return item if self.raw else to_float(item)
