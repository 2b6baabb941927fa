"""The fast PNG reader: the same pixels as OpenCV for the PNGs it takes, None (OpenCV decides) for the rest."""

from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
import pytest

from pg2cli.images import ImageError, decode_image, decode_png_fast, to_rgb8


def opencv(data: bytes) -> np.ndarray:
    return to_rgb8(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))


def chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def make_png(arr: np.ndarray, filters, colour: int, depth: int = 8, interlace: int = 0, extra: bytes = b"",
             claim_height: int | None = None, stream: bytes | None = None) -> bytes:
    """A PNG written by hand with the given filter type per row (cycled): 0 None, 1 Sub, 2 Up, 4 Paeth.
    `claim_height` puts another height in the header; `stream` replaces the IDAT's zlib stream."""
    h, w = arr.shape[:2]
    c = arr.shape[2] if arr.ndim == 3 else 1
    a = arr.reshape(h, w * c).astype(np.int32)
    lines = []
    for r in range(h):
        f = filters[r % len(filters)]
        left = np.concatenate([np.zeros(c, np.int32), a[r, :-c]])
        up = a[r - 1] if r else np.zeros_like(a[r])
        if f == 0:
            res = a[r]
        elif f == 1:
            res = a[r] - left
        elif f == 2:
            res = a[r] - up
        else:  # Paeth
            upleft = np.concatenate([np.zeros(c, np.int32), up[:-c]])
            p = left + up - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
            res = a[r] - pred
        lines.append(bytes([f]) + (res % 256).astype(np.uint8).tobytes())
    ihdr = w.to_bytes(4, "big") + (claim_height or h).to_bytes(4, "big") + bytes([depth, colour, 0, 0, interlace])
    idat = zlib.compress(b"".join(lines)) if stream is None else stream
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_the_shared_pngs_read_as_opencv_reads_them(shared_data):
    paths = sorted(shared_data.rglob("*.png"))
    assert len(paths) > 300
    fast = 0
    for p in paths:
        data = p.read_bytes()
        got = decode_png_fast(data)
        if got is not None:
            fast += 1
            assert got.dtype == np.uint8 and got.flags.c_contiguous
            np.testing.assert_array_equal(got, opencv(data), err_msg=str(p))
        np.testing.assert_array_equal(decode_image(data, p), opencv(data), err_msg=str(p))
    assert fast >= 0.9 * len(paths)  # the OpenCV-written crops all take the fast path


@pytest.mark.parametrize("filters", [[0], [1], [2], [2, 2, 1], [0, 2, 2, 2], [1, 2], [2, 0, 1]])
@pytest.mark.parametrize("colour, channels", [(2, 3), (6, 4), (0, 1)])
def test_none_sub_and_up_rows_of_every_colour_type(filters, colour, channels):
    rng = np.random.default_rng(len(filters) * 10 + colour)
    arr = rng.integers(0, 256, (13, 7, channels) if channels > 1 else (13, 7), dtype=np.uint8)
    data = make_png(arr, filters, colour)
    got = decode_png_fast(data)
    assert got is not None and got.shape == (13, 7, 3)
    np.testing.assert_array_equal(got, opencv(data))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_opencv_written_pngs_take_the_fast_path(tmp_path, channels):
    rng = np.random.default_rng(channels)
    arr = rng.integers(0, 256, (40, 30, channels), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", arr[:, :, 0] if channels == 1 else arr)
    assert ok
    data = buf.tobytes()
    got = decode_png_fast(data)
    assert got is not None
    np.testing.assert_array_equal(got, opencv(data))


def test_pillow_pngs_with_adaptive_filters_read_the_same():
    from PIL import Image

    rng = np.random.default_rng(3)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8), (7, 7), 2)
    buf = io.BytesIO()
    Image.fromarray(smooth).save(buf, format="PNG")
    data = buf.getvalue()
    np.testing.assert_array_equal(decode_image(data), smooth)


def _corrupt_idat_crc(data: bytes) -> bytes:
    i = data.index(b"IDAT")
    length = int.from_bytes(data[i - 4:i], "big")
    end = i + 4 + length
    return data[:end] + bytes([data[end] ^ 1]) + data[end + 1:]


def _chunks(data: bytes) -> list[bytes]:
    """The chunks of a PNG, each with its length, name and checksum."""
    out, pos = [], 8
    while pos < len(data):
        end = pos + 12 + int.from_bytes(data[pos:pos + 4], "big")
        out.append(data[pos:end])
        pos = end
    return out


def _reordered(data: bytes, order) -> bytes:
    c = _chunks(data)
    return data[:8] + b"".join(c[i] if isinstance(i, int) else i for i in order)


@pytest.mark.parametrize("case", ["paeth", "16-bit", "palette", "interlaced", "transparency", "bad crc",
                                  "bad stream", "short stream", "no IEND", "long stream", "second IHDR",
                                  "IHDR not first", "IDAT interrupted", "bad chunk name", "too wide",
                                  "not a PNG"])
def test_anything_else_is_left_to_opencv(case):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 5, 3), dtype=np.uint8)
    data = {
        "paeth": lambda: make_png(rgb, [1, 4], 2),
        "16-bit": lambda: make_png(rgb, [0], 2, depth=16),
        "palette": lambda: make_png(rgb[:, :, 0], [0], 3, extra=chunk(b"PLTE", bytes(range(256)) * 3)),
        "interlaced": lambda: make_png(rgb, [0], 2, interlace=1),
        "transparency": lambda: make_png(rgb, [0], 2, extra=chunk(b"tRNS", b"\0\1\0\2\0\3")),
        "bad crc": lambda: _corrupt_idat_crc(make_png(rgb, [1], 2)),
        "bad stream": lambda: make_png(rgb, [1], 2, stream=bytes(40)),  # garbage with a valid chunk checksum
        "short stream": lambda: make_png(rgb[:8], [1], 2, claim_height=9),
        "no IEND": lambda: make_png(rgb, [1], 2)[:-12],
        # 1x1 in the header, 50 MB of rows in a 50 kB stream: refused without inflating it all
        "long stream": lambda: make_png(rgb[:1, :1], [1], 2, stream=zlib.compress(bytes(50 << 20), 9)),
        "second IHDR": lambda: _reordered(make_png(rgb, [1], 2), [0, _chunks(make_png(rgb[:2], [1], 2))[0], 1, 2]),
        "IHDR not first": lambda: _reordered(make_png(rgb, [1], 2), [chunk(b"tEXt", b"a\0b"), 0, 1, 2]),
        "IDAT interrupted": lambda: _split_idat(make_png(rgb, [1], 2)),
        "bad chunk name": lambda: _reordered(make_png(rgb, [1], 2), [0, chunk(b"abcd", b""), 1, 2]),
        "too wide": lambda: make_png(np.zeros((1, 1_000_001), np.uint8), [0], 0),
        "not a PNG": lambda: b"\x89PNX" + make_png(rgb, [1], 2)[5:],
    }[case]()
    assert decode_png_fast(data) is None


def _split_idat(data: bytes) -> bytes:
    """The IDAT's stream in two IDAT chunks with a text chunk between them (not allowed)."""
    c = _chunks(data)
    body = c[1][8:-4]
    return data[:8] + c[0] + chunk(b"IDAT", body[:10]) + chunk(b"tEXt", b"a\0b") + chunk(b"IDAT", body[10:]) + c[2]


def test_a_stream_split_over_several_idat_chunks_reads():
    rgb = np.random.default_rng(1).integers(0, 256, (9, 5, 3), dtype=np.uint8)
    c = _chunks(make_png(rgb, [1, 2], 2))
    body = c[1][8:-4]
    data = b"\x89PNG\r\n\x1a\n" + c[0] + b"".join(chunk(b"IDAT", body[i:i + 7]) for i in range(0, len(body), 7)) + c[2]
    np.testing.assert_array_equal(decode_png_fast(data), rgb)


def test_a_corrupt_png_is_still_refused_with_a_reason(tmp_path):
    data = _corrupt_idat_crc(make_png(np.zeros((9, 5, 3), np.uint8), [1], 2))
    with pytest.raises(ImageError):
        decode_image(data, tmp_path / "x.png")
