"""PairDataset: values, flips (images, maps, masks, keypoints), determinism, DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest

from pg2cli.data.dataset import PackedReader, PairDataset, to_float
from pg2cli.data.render import render_pose_maps, render_pose_mask
from pg2cli.formats import read_annotations, read_pairs
from pg2cli.images import read_image
from pg2cli.skeleton import FLIP_PERMUTATION, KEYPOINT_NAMES

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def packed(packed_market):
    return packed_market[0]


def _first(ds, flipped: bool) -> int:
    return next(i for i in range(len(ds)) if ds.flipped(i) == flipped)


def test_item_values_match_sources(packed, market):
    ds = PairDataset(packed)
    ann = read_annotations(market / "annotations.csv")
    pairs = read_pairs(market / "pairs.csv")
    assert len(ds) == 100 and ds.info.num_images == 187
    for i in (0, 57, 99):
        item = ds[i]
        a, b = pairs[i]
        src = read_image(market / "images" / a)
        np.testing.assert_allclose(item["source"].numpy(), src.transpose(2, 0, 1) / 127.5 - 1, atol=1e-6)
        kb = ann.keypoints[ann.names.index(b)]
        np.testing.assert_allclose(item["target_pose"].numpy(), 2 * render_pose_maps(kb, (128, 64)) - 1)
        np.testing.assert_array_equal(item["target_mask"].numpy()[0], render_pose_mask(kb, (128, 64)))
        np.testing.assert_array_equal(item["target_keypoints"].numpy(), kb)
        assert item["pair"].item() == i
    shapes = {k: (tuple(v.shape), v.dtype) for k, v in ds[0].items()}
    assert shapes == {
        "source": ((3, 128, 64), torch.float32), "target": ((3, 128, 64), torch.float32),
        "source_pose": ((18, 128, 64), torch.float32), "target_pose": ((18, 128, 64), torch.float32),
        "target_mask": ((1, 128, 64), torch.float32), "source_keypoints": ((18, 2), torch.float32),
        "target_keypoints": ((18, 2), torch.float32), "pair": ((), torch.int64)}
    with pytest.raises(IndexError):
        ds[100]
    lean = PairDataset(packed, source_pose=False)[0]
    assert "source_pose" not in lean and set(lean) == set(shapes) - {"source_pose"}


def test_flip_mirrors_images_and_swaps_sides(packed):
    plain, flip = PairDataset(packed), PairDataset(packed, flip=True, seed=3)
    i = _first(flip, True)
    a, b = plain[i], flip[i]
    np.testing.assert_array_equal(b["source"].numpy(), a["source"].numpy()[:, :, ::-1])
    np.testing.assert_array_equal(b["target"].numpy(), a["target"].numpy()[:, :, ::-1])
    np.testing.assert_array_equal(b["target_mask"].numpy(), a["target_mask"].numpy()[:, :, ::-1])
    perm = list(FLIP_PERMUTATION)
    np.testing.assert_array_equal(b["target_pose"].numpy(), a["target_pose"].numpy()[perm][:, :, ::-1])
    np.testing.assert_array_equal(b["source_pose"].numpy(), a["source_pose"].numpy()[perm][:, :, ::-1])
    ka, kb = a["target_keypoints"].numpy(), b["target_keypoints"].numpy()
    ls, rs = KEYPOINT_NAMES.index("left_shoulder"), KEYPOINT_NAMES.index("right_shoulder")
    if np.isfinite(ka[rs]).all():  # the mirrored person's left shoulder is where the right one was, mirrored
        assert kb[ls, 0] == 63 - ka[rs, 0] and kb[ls, 1] == ka[rs, 1]
    # Flipped keypoints and flipped maps agree: rendering the flipped keypoints gives the flipped maps.
    np.testing.assert_array_equal(b["target_pose"].numpy(), 2 * render_pose_maps(kb, (128, 64)) - 1)
    # The mask is the stored one mirrored; re-rendering from mirrored keypoints differs only by the recipe's
    # int() truncation of the in-between disc centres.
    m, ref = b["target_mask"].numpy()[0] > 0, render_pose_mask(kb, (128, 64)) > 0
    assert (m & ref).sum() / (m | ref).sum() > 0.85
    j = _first(flip, False)
    np.testing.assert_array_equal(flip[j]["target"].numpy(), plain[j]["target"].numpy())


def test_raw_items_convert_to_the_float_format(packed):
    full, raw = PairDataset(packed, flip=True, seed=1), PairDataset(packed, flip=True, seed=1, raw=True)
    i = _first(full, True)
    item = raw[i]
    assert item["source"].dtype == torch.uint8 and item["target_pose"].dtype == torch.uint8
    assert item["target_mask"].dtype == torch.uint8 and item["source"].shape == (3, 128, 64)
    ref = full[i]
    for key, value in to_float(item).items():
        assert value.dtype == ref[key].dtype
        np.testing.assert_allclose(value.numpy(), ref[key].numpy(), atol=1e-6, err_msg=key)
    from torch.utils.data import default_collate

    batch = to_float(default_collate([raw[0], raw[1]]))
    np.testing.assert_allclose(batch["target_pose"][1].numpy(), full[1]["target_pose"].numpy(), atol=1e-6)


def test_flips_are_deterministic_per_seed_epoch_item(packed):
    ds = PairDataset(packed, flip=True, seed=7)
    first = [ds.flipped(i) for i in range(len(ds))]
    assert first == [np.random.default_rng([7, 0, i]).random() < 0.5 for i in range(len(ds))]
    assert 25 < sum(first) < 75
    ds.set_epoch(1)
    assert [ds.flipped(i) for i in range(len(ds))] != first
    assert not any(PairDataset(packed).flipped(i) for i in range(len(ds)))


def test_dataloader_workers_open_their_own_handles(packed):
    from torch.utils.data import DataLoader

    ds = PairDataset(packed, flip=True)
    ds.reader._h5()  # a handle open in the parent must not leak into the workers
    batches = list(DataLoader(ds, batch_size=25, shuffle=True, num_workers=2,
                              generator=torch.Generator().manual_seed(0)))
    assert sum(b["target"].shape[0] for b in batches) == 100
    seen = torch.cat([b["pair"] for b in batches]).sort().values
    assert torch.equal(seen, torch.arange(100))
    i = int(batches[0]["pair"][0])
    np.testing.assert_array_equal(batches[0]["target"][0].numpy(), ds[i]["target"].numpy())


def test_dataset_pickles_without_its_handle(packed):
    import pickle

    ds = PairDataset(packed, flip=True)
    before = ds[3]["target"]
    clone = pickle.loads(pickle.dumps(ds))  # what spawn-started DataLoader workers receive
    assert clone.reader._file is None and torch.equal(clone[3]["target"], before)


def test_reader_reads_samples_and_reopens_after_close(packed, market):
    r = PackedReader(packed)
    np.testing.assert_array_equal(r.image(5), read_image(market / "images" / r.names[5]))
    r.close()
    assert r.mask(5).shape == (128, 64) and r.pose_map(5).dtype == np.uint8
