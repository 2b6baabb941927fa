"""make-pairs: the standard pair counts, identity rules, filters, sampling and splits."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pg2cli.data.pairs import PairOptions, deepfashion_identity, make_pairs, market_identity, regex_identity
from pg2cli.errors import UsageError
from pg2cli.formats import Annotations, read_annotations, read_pairs


def test_market_standard_rule_gives_263632_pairs(shared_data):
    ann = read_annotations(shared_data / "standard" / "market-annotation-train.csv")
    res = make_pairs([ann], PairOptions(dataset="market"))
    assert len(res.pairs) == 263_632
    assert len(set(res.pairs)) == len(res.pairs)
    assert all(market_identity(a) == market_identity(b) and a != b for a, b in res.pairs)


def test_deepfashion_standard_rule_gives_the_standard_test_pairs(shared_data):
    ann = read_annotations(shared_data / "standard" / "fasion-annotation-test.csv")
    res = make_pairs([ann], PairOptions(dataset="deepfashion"))
    standard = read_pairs(shared_data / "standard" / "fashion-pairs-test.csv")
    assert len(res.pairs) == 8570
    assert set(res.pairs) == set(standard)


@pytest.mark.parametrize(
    "name, ident",
    [
        ("0002_c1s1_000451_03.jpg", "0002"),
        ("sub/dir/1501_c6s4_001877_01.png", "1501"),
        ("-1_c1s1_000401_03.jpg", "-1"),
        ("0000_c1s1_000151_01.jpg", "0000"),
        ("c1s1_000451_03.jpg", None),
    ],
)
def test_market_identity(name, ident):
    assert market_identity(name) == ident


@pytest.mark.parametrize(
    "name, ident",
    [
        ("fashionWOMENBlouses_Shirtsid0000635004_1front.jpg", "id0000635004"),
        ("WOMEN/Blouses_Shirts/id_00006350/04_1_front.jpg", "id0000635004"),
        ("img/MEN/Denim/id_00000080/01_7_additional.jpg", "id0000008001"),
        ("fashionWOMENDressesid00001610_1front.jpg", None),
    ],
)
def test_deepfashion_identity(name, ident):
    assert deepfashion_identity(name) == ident


def test_regex_identity_and_bad_regex():
    rule = regex_identity(r"person(\d+)/")
    assert rule("person12/a.jpg") == "12" and rule("x.jpg") is None
    assert regex_identity(r"^[a-z]+")("bob_3.png") == "bob"
    with pytest.raises(UsageError, match="not a valid regular expression"):
        regex_identity("(")


def _table(names, missing=()):
    kp = np.tile(np.arange(36, dtype=np.float32).reshape(1, 18, 2), (len(names), 1, 1))
    for i, k in missing:
        kp[i, k] = np.nan
    return Annotations(list(names), kp)


def test_filters_and_drop_reasons():
    names = ["0001_a.jpg", "0001_b.jpg", "0001_c.jpg", "-1_x.jpg", "0000_y.jpg", "0002_a.jpg", "junk.jpg"]
    ann = _table(names, missing=[(2, 8)])  # 0001_c lacks its right hip
    res = make_pairs([ann], PairOptions())
    assert res.pairs == [("0001_a.jpg", "0001_b.jpg"), ("0001_b.jpg", "0001_a.jpg")]
    assert res.dropped == {"required keypoints missing": 1, "distractor/junk identity": 2, "no identity in name": 1}
    assert res.identities == 2  # 0002 has one image and no pair
    loose = make_pairs([ann], PairOptions(require=(), drop_distractors=False))
    assert ("0001_c.jpg", "0001_a.jpg") in loose.pairs and len(loose.pairs) == 6
    strict = make_pairs([ann], PairOptions(require=(), min_keypoints=18))
    assert len(strict.pairs) == 2


def test_several_files_are_merged_and_duplicates_dropped():
    a = _table(["0001_a.jpg", "0001_b.jpg"])
    b = _table(["0001_c.jpg", "0001_a.jpg"])
    res = make_pairs([a, b], PairOptions())
    assert res.rows_read == 4 and res.dropped["duplicate name"] == 1
    assert len(res.pairs) == 6


def test_sample_and_split_are_deterministic_and_disjoint(shared_data):
    ann = read_annotations(shared_data / "standard" / "market-annotation-train.csv")
    a = make_pairs([ann], PairOptions(sample=1000, seed=3))
    b = make_pairs([ann], PairOptions(sample=1000, seed=3))
    c = make_pairs([ann], PairOptions(sample=1000, seed=4))
    assert a.pairs == b.pairs and a.pairs != c.pairs and len(a.pairs) == 1000
    capped = make_pairs([ann], PairOptions(max_per_identity=5))
    assert max(np.unique([market_identity(x) for x, _ in capped.pairs], return_counts=True)[1]) <= 5
    split = make_pairs([ann], PairOptions(test_fraction=0.2, seed=1))
    train_ids = {market_identity(x) for x, _ in split.pairs}
    test_ids = {market_identity(x) for x, _ in split.test_pairs}
    assert not train_ids & test_ids
    assert test_ids == set(split.test_identities)
    assert len(split.pairs) + len(split.test_pairs) == 263_632


def test_bad_options_are_usage_errors():
    ann = _table(["0001_a.jpg"])
    with pytest.raises(UsageError, match="--dataset 'coco'"):
        make_pairs([ann], PairOptions(dataset="coco"))
    with pytest.raises(UsageError, match="--test-fraction"):
        make_pairs([ann], PairOptions(test_fraction=1.5))


def test_pairs_file_header(tmp_path):
    from pg2cli.formats import write_pairs

    p = write_pairs(tmp_path / "p.csv", [("a,b.jpg", "c.jpg")])
    rows = list(csv.reader(p.open()))
    assert rows == [["from", "to"], ["a,b.jpg", "c.jpg"]]
