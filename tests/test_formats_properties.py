"""Property-based tests of the format readers and writers: round trips, and junk is rejected cleanly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pg2cli.errors import Pg2Error
from pg2cli.formats import (
    Annotations,
    read_annotations,
    read_openpose_json,
    read_pairs,
    write_annotations,
    write_openpose_json,
    write_pairs,
)
from pg2cli.formats.openpose import OpenPosePerson

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Names as datasets have them: any printable text without line breaks, not blank, no surrounding spaces.
names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40
).map(str.strip).filter(bool)
coords = st.one_of(st.just(-1), st.integers(0, 4096))
keypoint_rows = st.lists(st.tuples(coords, coords), min_size=18, max_size=18)


@SETTINGS
@given(rows=st.lists(st.tuples(names, keypoint_rows), max_size=20, unique_by=lambda r: r[0]))
def test_annotation_csv_round_trip(tmp_path_factory, rows):
    kp = np.full((len(rows), 18, 2), np.nan, np.float32)
    for i, (_, pts) in enumerate(rows):
        for k, (x, y) in enumerate(pts):
            if x != -1 and y != -1:
                kp[i, k] = (x, y)
    path = tmp_path_factory.mktemp("a") / "a.csv"
    write_annotations(path, Annotations([n for n, _ in rows], kp))
    if not rows:
        return  # a header-only file is valid and reads back empty
    back = read_annotations(path)
    assert back.names == [n for n, _ in rows]
    np.testing.assert_array_equal(back.keypoints, kp)
    # writing what was read gives the same bytes
    again = path.with_name("b.csv")
    write_annotations(again, back)
    assert again.read_bytes() == path.read_bytes()


@SETTINGS
@given(pairs=st.lists(st.tuples(names, names), max_size=30))
def test_pairs_csv_round_trip(tmp_path_factory, pairs):
    path = tmp_path_factory.mktemp("p") / "p.csv"
    write_pairs(path, pairs)
    assert read_pairs(path) == pairs


@SETTINGS
@given(people=st.lists(st.lists(st.tuples(st.floats(0, 5000), st.floats(0, 5000), st.floats(0.01, 1)),
                                min_size=18, max_size=18), max_size=4))
def test_openpose_json_round_trip(tmp_path_factory, people):
    objs = [OpenPosePerson(np.array([p[:2] for p in person], np.float32),
                           np.array([p[2] for p in person], np.float32)) for person in people]
    path = write_openpose_json(tmp_path_factory.mktemp("j") / "p.json", objs)
    back = read_openpose_json(path)
    assert len(back) == len(objs)
    for a, b in zip(objs, back):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)


@SETTINGS
@given(junk=st.binary(max_size=400))
def test_junk_is_rejected_with_a_pg2_error_or_read(tmp_path_factory, junk):
    d = tmp_path_factory.mktemp("j")
    for reader, name in ((read_annotations, "a.csv"), (read_pairs, "p.csv"), (read_openpose_json, "o.json")):
        path = d / name
        path.write_bytes(junk)
        try:
            reader(path)
        except Pg2Error as e:
            assert "\n" not in str(e) and str(path) in str(e)


@SETTINGS
@given(text=st.text(max_size=300))
def test_junk_text_after_a_valid_header_is_rejected_or_read(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("t") / "a.csv"
    path.write_text("name:keypoints_y:keypoints_x\n" + text, encoding="utf-8")
    try:
        ann = read_annotations(path)
    except Pg2Error as e:
        assert str(path) in str(e)
    else:
        assert ann.keypoints.shape == (len(ann), 18, 2)


# The whole-file fast path of read_annotations must give exactly what the row-by-row parser gives, and leave
# every malformed file to it (so the error names the line).
_valid = st.lists(st.integers(-1, 5000).map(str), min_size=18, max_size=18)
_bad = st.sampled_from(["", " ", "-", "--1", "1 2", "5-", "-2", "1.0", "99999999999999999999", "2147483648", "0x1",
                        "1,2", "[1]", "05", "00", "-01", "-00", "- 1", "+5", "\u0665", "\t5"])


@SETTINGS
@given(rows=st.lists(st.tuples(_valid, _valid), min_size=1, max_size=6), spaces=st.booleans(),
       corrupt=st.one_of(st.none(), st.tuples(st.integers(0, 5), st.integers(0, 35), _bad)),
       resize=st.one_of(st.none(), st.tuples(st.integers(0, 5), st.sampled_from([17, 19]))))
def test_annotation_fast_path_equals_row_by_row_parsing(tmp_path_factory, rows, spaces, corrupt, resize):
    import pg2cli.formats.annotations as A

    rows = [(list(ys), list(xs)) for ys, xs in rows]
    if corrupt is not None:
        r, k, bad = corrupt
        ys, xs = rows[r % len(rows)]
        (ys if k < 18 else xs)[k % 18] = bad
    if resize is not None:
        r, n = resize
        ys, xs = rows[r % len(rows)]
        rows[r % len(rows)] = ((ys + ["3"])[:n], xs)
    sep = ", " if spaces else ","
    lines = [A.ANNOTATION_HEADER] + [f"img{i}.png: [{sep.join(ys)}]: [{sep.join(xs)}]" for i, (ys, xs) in enumerate(rows)]
    path = tmp_path_factory.mktemp("f") / "a.csv"
    path.write_text("\n".join(lines) + "\n")

    def parse(fast: bool):
        saved = A._read_fast
        if not fast:
            A._read_fast = lambda *a: None
        try:
            return read_annotations(path)
        except Pg2Error as e:
            return str(e)
        finally:
            A._read_fast = saved

    ref, got = parse(False), parse(True)
    if isinstance(ref, str):
        assert got == ref
    else:
        assert got.names == ref.names
        np.testing.assert_array_equal(got.keypoints, ref.keypoints)
    if corrupt is None and resize is None:  # well-formed: the fast path itself took it
        assert A._read_fast(path, path.read_text().splitlines()) is not None


def test_annotation_rows_of_19_and_17_values_are_not_evened_out(tmp_path):
    """Two malformed rows whose lengths add up to two good ones are still reported (by line), not misparsed."""
    ys, xs = list(range(10, 28)), list(range(30, 48))
    path = tmp_path / "a.csv"
    path.write_text("name:keypoints_y:keypoints_x\n"
                    f"a.png: {ys + [5]}: {xs}\n"
                    f"b.png: {ys[:-1]}: {xs}\n")
    with pytest.raises(Pg2Error, match=r"a\.csv:2: keypoints_y has 19 values"):
        read_annotations(path)
