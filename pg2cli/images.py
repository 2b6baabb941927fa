"""Reading and writing images at the edges: uint8 RGB HxWx3 in memory, clear errors for broken files.

Grayscale, palette, RGBA, 16-bit and CMYK images are converted, not refused. A header check refuses
images above `max_pixels` before decoding them (a decompression-bomb guard).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pg2cli._zlib import fast_zlib
from pg2cli.errors import DataError
from pg2cli.fileio import atomic_output

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_MAX_PIXELS = int(os.environ.get("PG2_MAX_PIXELS", 89_478_485))  # Pillow's default bomb limit


class ImageError(DataError):
    """An image file that cannot be used; `reason` is the short cause (for error reports)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _header_size(path: Path, data: bytes) -> tuple[int, int] | None:
    """(width, height) from the file header without decoding pixels; None if Pillow cannot tell."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":  # PNG: read IHDR directly (Pillow costs ~80 us)
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    import io
    import warnings

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with controlnet-aux
        return None
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.MAX_IMAGE_PIXELS = None  # we apply our own limit; restored below for other Pillow users
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Exception:
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _looks_truncated(path: Path, data: bytes) -> bool:
    """JPEG without its end-of-image marker or PNG without IEND: libjpeg would fill the rest with grey."""
    head = data[:8]
    if head[:3] == b"\xff\xd8\xff":
        return b"\xff\xd9" not in data[-64:]
    if head == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-64:]
    return False


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """Convert what OpenCV decodes (gray, BGR, BGRA; 8- or 16-bit) to uint8 RGB HxWx3."""
    import cv2

    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 6: 4}  # 8-bit colour types: grey, RGB, RGBA

_PNG_MAX_SIDE = 1_000_000  # libpng's default limit on width and height (OpenCV refuses larger)


def _row_prefix_sums(px: np.ndarray) -> np.ndarray:
    """Running sums along each row, per channel, modulo 256 (undoing PNG's Sub filter): uint8 [H, W, C].

    OpenCV's integral image gives them as differences of consecutive rows, 2-3x faster than np.cumsum along an
    inner axis; int32 sums wrap consistently, so the difference stays right modulo 256.
    """
    import cv2

    if px.shape[2] > 4 or px.shape[0] * px.shape[1] > 1 << 22:
        return np.cumsum(px, axis=1, dtype=np.uint8)
    total = cv2.integral(px, sdepth=cv2.CV_32S).reshape(px.shape[0] + 1, px.shape[1] + 1, px.shape[2])
    return (total[1:, 1:] - total[:-1, 1:]).astype(np.uint8)


def decode_png_fast(data: bytes) -> np.ndarray | None:
    """uint8 RGB of the PNGs OpenCV writes, about twice as fast as OpenCV reads them; None for any other PNG.

    Handled: 8-bit grey, RGB or RGBA, not interlaced, rows filtered with None, Sub or Up (OpenCV's writer uses
    Sub on every row), no transparency chunk; checksums of IHDR, IDAT and the zlib stream verified. The
    filters are undone with wrapping uint8 prefix sums, along rows (Sub) and down runs of Up rows. Anything
    else (palettes, 16 bits, Average/Paeth filters, a bad checksum, a short stream) returns None, and the
    caller decodes with OpenCV, which gives the same pixels or the error. Alpha is dropped, grey repeated,
    as `to_rgb8` does.
    """
    view = memoryview(data)
    end_of_data = len(data)
    if end_of_data < 33 or bytes(view[:8]) != PNG_SIGNATURE or bytes(view[12:16]) != b"IHDR":  # IHDR first
        return None
    pos, ihdr, idat, idat_done = 8, None, [], False
    while True:
        if pos + 12 > end_of_data:
            return None  # no IEND
        length = int.from_bytes(view[pos:pos + 4], "big")
        kind = bytes(view[pos + 4:pos + 8])
        end = pos + 12 + length
        if end > end_of_data or not kind.isalpha() or not kind.isascii() or not 65 <= kind[2] <= 90:
            return None  # overrun, or not a valid chunk name (letters, reserved bit clear)
        if kind == b"IEND":
            break
        if kind in (b"IHDR", b"IDAT"):
            if fast_zlib.crc32(view[pos + 4:end - 4]) != int.from_bytes(view[end - 4:end], "big"):
                return None
            if kind == b"IHDR":
                if ihdr is not None:
                    return None  # a second IHDR: OpenCV refuses the file
                ihdr = bytes(view[pos + 8:end - 4])
            else:
                if idat_done:
                    return None  # IDAT chunks must follow one another
                idat.append(view[pos + 8:end - 4])
        elif not kind[0] & 0x20 or kind == b"tRNS":  # an unknown critical chunk (PLTE...) or transparency
            return None
        if idat and kind != b"IDAT":
            idat_done = True
        pos = end
    if ihdr is None or len(ihdr) != 13 or not idat:
        return None
    width, height = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    depth, colour, compression, filtering, interlace = ihdr[8:13]
    channels = _PNG_CHANNELS.get(colour)
    if (channels is None or depth != 8 or compression or filtering or interlace
            or not 0 < width <= _PNG_MAX_SIDE or not 0 < height <= _PNG_MAX_SIDE):
        return None
    expected = height * (1 + width * channels)
    try:
        inflater = fast_zlib.decompressobj()
        raw = inflater.decompress(b"".join(idat), expected + 1)  # bounded: a stream cannot outgrow the header
    except Exception:  # zlib.error / isal's IsalError: corrupt stream
        return None
    if len(raw) != expected or not inflater.eof:  # short, long, or without its checksum: OpenCV decides
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + width * channels)
    kinds = rows[:, 0]
    if (kinds > 2).any():
        return None  # Average or Paeth filters: sequential along the row, left to OpenCV
    px = rows[:, 1:].reshape(height, width, channels)
    sub = kinds == 1
    if sub.all():
        out = _row_prefix_sums(px)
    else:
        out = px.copy()
        if sub.any():
            out[sub] = _row_prefix_sums(np.ascontiguousarray(px[sub]))
        up = kinds == 2
        if up.any():
            # An Up row adds the decoded row above: a prefix sum down the rows, restarted at each other row.
            total = np.cumsum(out, axis=0, dtype=np.uint8)
            start = np.maximum.accumulate(np.where(up, -1, np.arange(height)))  # last non-Up row at or above
            # (Up rows at the top, start -1, add the all-zero row before the image: index 0 here)
            before = np.concatenate([np.zeros((1, width, channels), np.uint8), total])[np.maximum(start, 0)]
            out = total - before
    if channels == 3:
        return out
    if channels == 4:
        return np.ascontiguousarray(out[:, :, :3])
    return np.ascontiguousarray(np.repeat(out, 3, axis=2))


def decode_image(data: bytes, path: str | os.PathLike = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to uint8 RGB HxWx3, or raise ImageError with the reason."""
    import cv2

    path = Path(path)
    if len(data) == 0:
        raise ImageError(path, "empty file (0 bytes)")
    size = _header_size(path, data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageError(path, f"{size[0]}x{size[1]} pixels is above the limit of {max_pixels:,} "
                               "(a decompression-bomb guard; raise PG2_MAX_PIXELS to allow it)")
    if _looks_truncated(path, data):
        raise ImageError(path, "truncated image file")
    fast = decode_png_fast(data)  # None for anything but the PNGs it handles
    if fast is not None:
        return fast
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None or img.size == 0:
        raise ImageError(path, "not a readable image (unknown format or corrupt data)")
    return to_rgb8(img)


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as uint8 RGB HxWx3 (non-ASCII paths work), or raise ImageError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not an image") from None
    except OSError as e:
        raise ImageError(path, f"cannot read ({e.strerror})") from None
    return decode_image(data, path, max_pixels)


def write_image(path: str | os.PathLike, rgb: np.ndarray, overwrite: bool = True) -> Path:
    """Write uint8 RGB HxWx3 (or HxW) atomically; the format follows the suffix (PNG recommended)."""
    import cv2

    path = Path(path)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"write_image expects uint8, got {rgb.dtype}")
    bgr = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix or ".png", bgr)
    if not ok:
        raise DataError(f"{path}: cannot encode an image with suffix {path.suffix!r}")
    with atomic_output(path, overwrite) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path


def list_images(root: str | os.PathLike) -> list[str]:
    """Image files under `root`, recursively, as sorted POSIX paths relative to it."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a folder of images)")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES):
                out.append(Path(dirpath, f).relative_to(root).as_posix())
    return sorted(out)


def resolve_under(root: str | os.PathLike, name: str, root_resolved: bool = False) -> Path:
    """`root / name`, refusing names that escape `root` (absolute paths, '..'). `root_resolved`: the caller
    passes an already resolved root (saves resolving it again for every name of a long list).

    The check is on the name's text, not on where symlinks lead: a folder of links into a central image store
    (as extract-pose reads it) packs, while a CSV cannot name files outside the folder.
    """
    rel = os.path.normpath(name) if name else ""
    if not name or "\0" in name or os.path.isabs(rel) or rel == ".." or rel.startswith(".." + os.sep) or rel == ".":
        raise DataError(f"{name!r}: image name escapes the image folder {Path(root).resolve()} "
                        "(expected a relative path inside it)")
    return Path(os.path.join(root if root_resolved else Path(root).resolve(), rel))
