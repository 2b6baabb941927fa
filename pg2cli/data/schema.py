"""The packed HDF5 layout (schema `pg2cli.packed`): names, shapes, attributes, and a validating reader.

Documented for other tools in docs/hdf5-schema.md; any change to the layout bumps SCHEMA_VERSION.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pg2cli.errors import DataError, FormatError
from pg2cli.skeleton import NUM_KEYPOINTS

SCHEMA = "pg2cli.packed"
SCHEMA_VERSION = 1
POSE_DTYPES = ("uint8", "float16", "float32")

# Dataset name -> shape pattern (N images, P pairs, H x W pixels); checked by inspect_packed.
DATASETS: dict[str, tuple] = {
    "images": ("N", "H", "W", 3),
    "names": ("N",),
    "keypoints": ("N", NUM_KEYPOINTS, 2),
    "pose_maps": ("N", NUM_KEYPOINTS, "H", "W"),
    "masks": ("N", "H", "W"),
    "pairs": ("P", 2),
}
REQUIRED_ATTRS = ("schema", "schema_version", "height", "width", "pose_map", "pose_radius", "pose_sigma",
                  "mask_radius", "mask_closing", "fingerprint")


@dataclass
class PackedInfo:
    """What `pg2 info` shows and what readers check: the layout and parameters of one packed file."""

    path: Path
    schema_version: int
    height: int
    width: int
    num_images: int
    num_pairs: int
    pose_map: str
    pose_radius: float
    pose_sigma: float
    fingerprint: str
    attrs: dict = field(default_factory=dict)
    pose_dtype: str = "uint8"
    mask_radius: int = 4
    mask_closing: int = 5
    file_bytes: int = 0
    datasets: dict = field(default_factory=dict)  # name -> {"shape", "dtype", "chunks", "compression", "stored_bytes"}

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of every image and map in the file."""
        return self.height, self.width


def _attr(value):
    """An HDF5 attribute as a plain Python value (bytes -> str, numpy scalars -> Python, arrays -> lists)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):
        v = value.tolist()
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v] if isinstance(v, list) else v
    return value


def open_h5(path: str | os.PathLike):
    """Open an HDF5 file read-only, turning "missing", "not HDF5" and "truncated" into one-line DataErrors."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file (expected a packed HDF5 made by `pg2 pack`)")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a packed HDF5 file made by `pg2 pack`")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        msg = str(e)
        why = "truncated (the file is shorter than its header says; was it copied or written completely?)" \
            if "truncated" in msg.lower() or "eof" in msg.lower() else "not an HDF5 file"
        raise FormatError(path, f"{why} ({msg.split('(')[0].strip()})") from None


def _check_layout(path: Path, f) -> dict[str, int]:
    """Check every required dataset's presence, rank and consistent sizes; return N, P, H, W."""
    dims: dict[str, int] = {}
    missing = [name for name in DATASETS if name not in f]
    if missing:
        raise FormatError(path, f"missing dataset{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                f"(a {SCHEMA} file has {', '.join(DATASETS)})")
    for name, pattern in DATASETS.items():
        shape = f[name].shape
        if shape is None or len(shape) != len(pattern):
            raise FormatError(path, f"dataset {name!r} has shape {shape}, expected {_pattern(pattern)}")
        for want, got in zip(pattern, shape):
            if isinstance(want, int):
                if got != want:
                    raise FormatError(path, f"dataset {name!r} has shape {shape}, expected {_pattern(pattern)}")
            elif dims.setdefault(want, got) != got:
                raise FormatError(path, f"dataset {name!r} has {want} = {got}, other datasets have {dims[want]}")
    return dims


def _pattern(pattern: tuple) -> str:
    return "[" + ", ".join(str(p) for p in pattern) + "]"


def inspect_packed(path: str | os.PathLike, check_pairs: bool = True) -> PackedInfo:
    """Read and validate a packed file's layout and attributes (no pixel data is read).

    Raises DataError/FormatError with a one-line message for a missing file, a non-HDF5 or truncated file, an
    unknown schema or a newer schema version, a missing or misshapen dataset, and pair indices out of range.
    """

    path = Path(path)
    with open_h5(path) as f:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        schema = attrs.get("schema")
        if schema != SCHEMA:
            found = f"schema {schema!r}" if schema is not None else "no 'schema' attribute"
            raise FormatError(path, f"unknown schema: {found}, expected {SCHEMA!r} (a file made by `pg2 pack`)")
        version = attrs.get("schema_version")
        if not isinstance(version, int) or version < 1:
            raise FormatError(path, f"schema_version is {version!r}, expected a positive integer")
        if version > SCHEMA_VERSION:
            raise FormatError(path, f"schema version {version} is newer than this pg2cli reads ({SCHEMA_VERSION}); "
                                    "upgrade pg2cli or re-pack the data")
        missing = [a for a in REQUIRED_ATTRS if a not in attrs]
        if missing:
            raise FormatError(path, f"missing attribute{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        dims = _check_layout(path, f)
        n, p, h, w = dims["N"], dims["P"], dims["H"], dims["W"]
        if (h, w) != (attrs["height"], attrs["width"]):
            raise FormatError(path, f"images are {h}x{w} but the attributes say {attrs['height']}x{attrs['width']}")
        pose_dtype = str(f["pose_maps"].dtype)
        if pose_dtype not in POSE_DTYPES:
            raise FormatError(path, f"pose_maps has dtype {pose_dtype}, expected one of {', '.join(POSE_DTYPES)}")
        for name, dtype in (("images", "uint8"), ("masks", "uint8"), ("keypoints", "float32")):
            if str(f[name].dtype) != dtype:
                raise FormatError(path, f"dataset {name!r} has dtype {f[name].dtype}, expected {dtype}")
        if check_pairs and p:
            pairs = f["pairs"][()]
            lo, hi = int(pairs.min()), int(pairs.max())
            if lo < 0 or hi >= n:
                raise FormatError(path, f"pairs hold index {lo if lo < 0 else hi}, expected 0..{n - 1}")
        datasets = {}
        for name in DATASETS:
            d = f[name]
            datasets[name] = {"shape": tuple(d.shape), "dtype": str(d.dtype), "chunks": d.chunks,
                              "compression": d.compression, "compression_opts": d.compression_opts,
                              "stored_bytes": int(d.id.get_storage_size())}
    return PackedInfo(
        path=path, schema_version=version, height=h, width=w, num_images=n, num_pairs=p,
        pose_map=str(attrs["pose_map"]), pose_radius=float(attrs["pose_radius"]),
        pose_sigma=float(attrs["pose_sigma"]), fingerprint=str(attrs["fingerprint"]), attrs=attrs,
        pose_dtype=pose_dtype, mask_radius=int(attrs["mask_radius"]), mask_closing=int(attrs["mask_closing"]),
        file_bytes=path.stat().st_size, datasets=datasets,
    )


def json_attr(attrs: dict, key: str, default=None):
    """An attribute stored as a JSON string (e.g. `left_out`), decoded; `default` when absent."""
    raw = attrs.get(key)
    return default if raw is None else json.loads(raw)
