"""Hostile inputs made at test time: broken and unusual images, junk CSV rows, bad HDF5 and JSON, evil checkpoints.

Nothing here is stored in the repository: every file is written into a test's tmp_path from real pixels given
by the caller (or from a few synthetic ones), so the suite needs no fixtures on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np

# ------------------------------------------------------------------------------------------------- images


def gradient(h: int = 128, w: int = 64) -> np.ndarray:
    """A deterministic uint8 RGB test picture [h, w, 3] with every channel different (catches BGR/RGB swaps)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256], -1).astype(np.uint8)


def write_png(path: Path, array: np.ndarray) -> Path:
    """Write `array` as PNG exactly as given (gray [h, w], RGB or RGBA [h, w, 3|4], uint8 or uint16)."""
    import cv2

    a = np.asarray(array)
    if a.ndim == 3:  # OpenCV wants BGR(A)
        a = a[..., [2, 1, 0, 3][: a.shape[2]]]
    if not cv2.imwrite(str(path), np.ascontiguousarray(a)):
        raise RuntimeError(f"cannot write {path}")
    return path


def png_bytes(rgb: np.ndarray) -> bytes:
    """`rgb` encoded as PNG."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    assert ok
    return buf.tobytes()


def jpeg_bytes(rgb: np.ndarray, quality: int = 95) -> bytes:
    """`rgb` encoded as JPEG."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first `keep` of an encoded file, as a download cut short leaves it."""
    return data[: max(1, int(len(data) * keep))]


NOT_AN_IMAGE = b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"  # what a failed download saves


def grayscale(path: Path, rgb: np.ndarray) -> np.ndarray:
    """Write a 1-channel PNG; return the RGB image a reader must produce (gray repeated)."""
    gray = rgb[..., 1].copy()
    write_png(path, gray)
    return np.repeat(gray[..., None], 3, axis=2)


def rgba(path: Path, rgb: np.ndarray) -> np.ndarray:
    """Write an RGBA PNG with a varying alpha; return the expected RGB (alpha dropped, colours kept)."""
    alpha = (np.arange(rgb.shape[1], dtype=np.uint16) * 4 % 256).astype(np.uint8)
    write_png(path, np.dstack([rgb, np.broadcast_to(alpha, rgb.shape[:2])]))
    return rgb


def png16(path: Path, rgb: np.ndarray) -> np.ndarray:
    """Write a 16-bit RGB PNG holding v * 257 (+ low-bit noise); return the expected 8-bit RGB (the high byte)."""
    wide = rgb.astype(np.uint16) * 257
    wide[..., 0] -= (rgb[..., 0] > 0).astype(np.uint16) * 3  # low bits that must not leak into the 8-bit value
    write_png(path, wide)
    return (wide >> 8).astype(np.uint8)


def cmyk_jpeg(path: Path, rgb: np.ndarray) -> np.ndarray:
    """Write a CMYK JPEG (as print workflows and some cameras do); return Pillow's RGB reading of it."""
    from PIL import Image

    Image.fromarray(rgb).convert("CMYK").save(path, "JPEG", quality=98)
    with Image.open(path) as im:
        assert im.mode == "CMYK"
        return np.asarray(im.convert("RGB"))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A valid-looking PNG whose header claims width x height RGB pixels (30 GB decoded) in a few hundred bytes.

    Only the header is big: the IDAT holds the first few rows, compressed, so making it allocates nothing large.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    rows = zlib.compress(b"\0" * (1 + 3 * min(width, 4096)) * 4, 9)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def bomb_jpeg(path: Path, size: int = 65_000) -> Path:
    """A small real JPEG whose frame header (SOF) is patched to claim size x size pixels (Pillow's path)."""
    data = bytearray(jpeg_bytes(gradient(16, 16)))
    i = 2
    while i < len(data):  # walk the marker segments to the SOF0/SOF2 frame header
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC2):
            data[i + 5:i + 9] = struct.pack(">HH", size, size)  # height, width
            break
        i += 2 + length
    else:  # pragma: no cover - OpenCV always writes a SOF0
        raise RuntimeError("no SOF marker found")
    path.write_bytes(bytes(data))
    return path


# ------------------------------------------------------------------------------------------------- CSVs

ROW18 = json.dumps(list(range(10, 28)))


def ann_text(*rows: str) -> str:
    """An annotation CSV (header + rows)."""
    return "name:keypoints_y:keypoints_x\n" + "".join(r + "\n" for r in rows)


def ann_row(name: str, ys=None, xs=None) -> str:
    """One annotation line with 18 valid values unless `ys`/`xs` (raw text) say otherwise."""
    return f"{name}: {ys if ys is not None else ROW18}: {xs if xs is not None else ROW18}"


def bad_annotation_files(name: str) -> dict[str, tuple[bytes, str, int | None]]:
    """Malformed annotation CSVs of every kind: label -> (file bytes, expected message part, bad line or None).

    `name` is a real image name, so only the malformation can be the reason for refusing the file.
    """
    def first(value: str) -> str:  # 18 values, the first one written as raw JSON text
        return "[" + ", ".join([value] + [str(i) for i in range(17)]) + "]"

    cases: dict[str, tuple[str | bytes, str, int | None]] = {
        "zero_bytes": (b"", "empty file", None),
        "blank_lines": ("\n \n\t\n", "empty file", None),
        "wrong_header": ("name,keypoints_y,keypoints_x\n" + ann_row(name) + "\n", "header is", 1),
        "pairs_csv_given": ("from,to\na.png,b.png\n", "header is", 1),
        "binary_junk": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x80junk", "not UTF-8 text", None),
        "latin1": (("name:keypoints_y:keypoints_x\n" + ann_row("Zoë.png") + "\n").encode("latin-1"),
                   "not UTF-8 text", None),
        "two_fields": (ann_text(f"{name}: {ROW18}"), "2 ':'-separated fields, expected 3", 2),
        "one_field": (ann_text(name), "1 ':'-separated fields, expected 3", 2),
        "not_json": (ann_text(ann_row(name, ys="[1, 2, oops]")), "keypoints_y is not a JSON list", 2),
        "json_not_list": (ann_text(ann_row(name, xs="7")), "keypoints_x is not a JSON list", 2),
        "too_few_values": (ann_text(ann_row(name, ys=json.dumps(list(range(17))))),
                           "keypoints_y has 17 values, expected 18", 2),
        "too_many_values": (ann_text(ann_row(name, xs=json.dumps(list(range(25))))),
                            "keypoints_x has 25 values, expected 18", 2),
        "strings": (ann_text(ann_row(name, ys=json.dumps(["1"] * 18))), "expected integers", 2),
        "booleans": (ann_text(ann_row(name, xs=json.dumps([True] * 18))), "expected integers", 2),
        "null": (ann_text(ann_row(name, xs=json.dumps([None] * 18))), "expected integers", 2),
        "nan": (ann_text(ann_row(name, ys=first("NaN"))), "holds nan, expected integers", 2),
        "infinity": (ann_text(ann_row(name, xs=first("Infinity"))), "holds inf, expected integers", 2),
        "float_overflow": (ann_text(ann_row(name, xs=first("1e400"))), "holds inf, expected integers", 2),
        "huge_int": (ann_text(ann_row(name, ys=first("9" * 400))), "expected integers", 2),
        "int_over_4300_digits": (ann_text(ann_row(name, ys=first("9" * 5000))), "keypoints_y is not a JSON list", 2),
        "negative": (ann_text(ann_row(name, ys=json.dumps([-5] + list(range(17))))), "holds -5", 2),
        "empty_name": (ann_text(ann_row(" ")), "empty image name", 2),
        "duplicate_name": (ann_text(ann_row(name), ann_row("other.png"), ann_row(name)),
                           f"duplicate name '{name}' (first on line 2)", 4),
        "bad_row_after_good": (ann_text(ann_row(name), "garbage"), "1 ':'-separated fields", 3),
    }
    return {k: (v.encode() if isinstance(v, str) else v, msg, line) for k, (v, msg, line) in cases.items()}


def bad_pairs_files() -> dict[str, tuple[bytes, str, int | None]]:
    """Malformed pairs CSVs: label -> (file bytes, expected message part, bad line or None)."""
    return {
        "zero_bytes": (b"", "empty file", None),
        "wrong_header": (b"source,target\na.png,b.png\n", "header is", 1),
        "annotation_csv_given": (ann_text(ann_row("a.png")).encode(), "header is", 1),
        "three_fields": (b"from,to\na.png,b.png,c.png\n", "3 comma-separated fields, expected 2", 2),
        "one_field": (b"from,to\na.png\n", "1 comma-separated fields, expected 2", 2),
        "empty_name": (b"from,to\na.png,\n", "empty image name", 2),
        "binary_junk": (b"\xff\xfe\x00f\x00r", "not UTF-8 text", None),
    }


# ------------------------------------------------------------------------------------------------- HDF5 and JSON


def truncated_copy(src: Path, dst: Path, keep: float = 0.5) -> Path:
    """The first `keep` of `src` (a copy cut short: disk full, interrupted transfer)."""
    data = Path(src).read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def write_bytes(path: Path, data: bytes) -> Path:
    """`data` under `path` (e.g. an empty or text file given an .h5 or .pt name)."""
    path.write_bytes(data)
    return path


def corrupt_chunks(src: Path, dst: Path, dataset: str = "pose_maps") -> Path:
    """A copy of a packed file, same size and header, with every compressed chunk of `dataset` overwritten in
    place (bit rot on disk: the file opens and describes itself, reading the pixels fails)."""
    import h5py

    shutil.copyfile(src, dst)
    with h5py.File(dst) as f:
        d = f[dataset]
        spans = [d.id.get_chunk_info(i) for i in range(d.id.get_num_chunks())]
    with open(dst, "r+b") as fh:
        for info in spans:
            fh.seek(info.byte_offset + 2)  # past the zlib header, into the deflate stream
            fh.write(b"\xde\xad\xbe\xef" * 8)
    return dst


def foreign_h5(path: Path) -> Path:
    """A valid HDF5 file from some other tool (datasets, no pg2cli schema)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.zeros((4, 8, 8, 3), np.uint8))
        f.create_dataset("label", data=np.arange(4))
        f.attrs["creator"] = "another tool"
    return path


def edited_h5_copy(src: Path, dst: Path, edit) -> Path:
    """A copy of a packed file changed by `edit(h5py.File)` (e.g. a dataset deleted or an attribute changed)."""
    import h5py

    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def bad_pose_json_files() -> dict[str, tuple[bytes, str]]:
    """Malformed or empty OpenPose JSON files: label -> (bytes, expected message part)."""
    person = {"pose_keypoints_2d": [0.0] * 54}
    return {
        "zero_bytes": (b"", "not valid JSON"),
        "truncated": (b'{"version": 1.3, "people": [{"pose_keypoints_2d": [12.0, 3', "not valid JSON"),
        "not_utf8": (b"\xff\xfe{\x00}", "not valid JSON"),
        "a_list": (b"[1, 2, 3]", "expected an OpenPose JSON object with a 'people' list"),
        "no_people_key": (b'{"version": 1.3}', "expected an OpenPose JSON object with a 'people' list"),
        "nobody": (b'{"version": 1.3, "people": []}', "nobody found"),
        "wrong_count": (json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 51}]}).encode(),
                        "has 51 values, expected 54 (COCO-18) or 75 (BODY_25)"),
        "strings": (json.dumps({"people": [{"pose_keypoints_2d": ["1"] * 54}]}).encode(), "not a list of numbers"),
        "person_not_object": (b'{"people": [42]}', "not a list of numbers"),
        "all_missing": (json.dumps({"people": [person]}).encode(), "has no visible keypoint"),
        "huge_int": (b'{"people": [{"pose_keypoints_2d": [' + b"9" * 400 + b", 1.0" * 53 + b"]}]}",
                     "not a list of numbers"),
        "int_over_4300_digits": (b'{"people": [{"pose_keypoints_2d": [' + b"9" * 5000 + b"]}]}", "not valid JSON"),
    }


# ------------------------------------------------------------------------------------------------- checkpoints


class Payload:
    """Pickles to a call of os.system: whoever unpickles it runs `touch marker` (the attack being tested)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class OpenPayload:
    """Pickles to builtins.open(marker, 'w'): a second, shell-free way of proving code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def evil_checkpoint(path: Path, marker: Path, base: Path | None = None, legacy: bool = False) -> Path:
    """A checkpoint whose unpickling would create `marker`.

    With `base`, every entry of a real pg2cli checkpoint is kept and the payload added beside them (so only the
    payload can make a loader refuse it). `legacy` writes a bare pickle (torch's pre-zip format) instead.
    """
    import pickle

    import torch

    payload: dict = {}
    if base is not None:
        payload = torch.load(base, map_location="cpu", weights_only=True)
    payload["__evil__"] = Payload(marker)
    payload["__evil2__"] = OpenPayload(Path(str(marker) + ".open"))
    if legacy:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    return path


def markers(marker: Path) -> list[Path]:
    """The files an evil checkpoint's payloads create when they run (none must exist after a load)."""
    return [p for p in (marker, Path(str(marker) + ".open")) if p.exists()]


def other_architecture(src: Path, dst: Path) -> Path:
    """A copy of a checkpoint whose saved config claims twice the channels its weights have."""
    import torch

    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    ckpt["config"]["model"]["base_channels"] *= 2
    torch.save(ckpt, dst)
    return dst


def foreign_checkpoint(path: Path) -> Path:
    """A plain state dict from some other model (loads safely, is not a pg2cli checkpoint)."""
    import torch

    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3), "conv.bias": torch.zeros(4)}, path)
    return path
