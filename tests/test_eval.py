"""The evaluate() driver on real Market-1501 pairs: folder mode (matching, skips, errors, masks, PCKh), run mode
(a tiny run trained by the real training code), the copy-source baseline, the JSON output and `pg2 eval`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from pg2cli.cli import app
from pg2cli.errors import DataError, OutputExistsError, UsageError
from pg2cli.evaluate import (
    EvalOptions,
    Networks,
    evaluate,
    evaluate_folders,
    evaluate_packed,
    score_images,
)
from pg2cli.evaluate import metrics as M

runner = CliRunner()
PIXEL = ("ssim", "mask_ssim", "psnr", "l1")
SIZE = (64, 32)


@pytest.fixture(scope="module")
def pairs(shared_data):
    """Eight real Market pairs: (source name, target name, source image, target image, target keypoints)."""
    from pg2cli.formats import read_annotations, read_pairs
    from pg2cli.images import read_image

    root = shared_data / "market"
    ann = read_annotations(root / "annotations.csv")
    out = []
    for a, b in read_pairs(root / "pairs.csv")[:8]:
        out.append((a, b, read_image(root / "images" / a), read_image(root / "images" / b), ann.get(b)))
    return out


def _write(folder: Path, name: str, image: np.ndarray) -> None:
    from pg2cli.images import write_image

    write_image(folder / name, image)


@pytest.fixture()
def folders(tmp_path, pairs):
    """generated/ holds each pair's source image under the target's name (a copy-source 'method'),
    targets/ the real targets, annotations.csv the targets' keypoints."""
    from pg2cli.formats import Annotations, write_annotations

    gen, tgt = tmp_path / "generated", tmp_path / "targets"
    for a, b, src, trg, _ in pairs:
        _write(gen, b, src)
        _write(tgt, b, trg)
    write_annotations(tmp_path / "ann.csv", Annotations([p[1] for p in pairs], np.stack([p[4] for p in pairs])))
    return gen, tgt, tmp_path / "ann.csv"


def _reference(pairs, protocol="pg2") -> dict[str, float]:
    """Per-pair metrics straight from metrics.py, averaged: what folder mode must reproduce."""
    from pg2cli.data.render import render_pose_mask

    vals = {m: [] for m in PIXEL}
    for _, _, g, t, kp in pairs:
        mask = render_pose_mask(kp, t.shape[:2])
        vals["ssim"].append(M.ssim(g, t, protocol))
        vals["mask_ssim"].append(M.mask_ssim(g, t, mask, protocol))
        vals["psnr"].append(M.psnr(g, t))
        vals["l1"].append(M.l1(g, t))
    return {k: float(np.mean(v)) for k, v in vals.items()}


OPTS = EvalOptions(metrics=PIXEL)


@pytest.mark.parametrize("protocol", ["pg2", "patn"])
def test_folder_mode_equals_the_per_pair_metrics(folders, pairs, protocol):
    gen, tgt, ann = folders
    res = evaluate_folders(gen, tgt, ann, EvalOptions(metrics=PIXEL, protocol=protocol), Networks())
    ref = _reference(pairs, protocol)
    for m in PIXEL:
        assert res.metrics[m] == pytest.approx(ref[m], abs=1e-12), m
    assert res.counts == {"pairs": 8, "skipped": 0, "targets_unmatched": 0}
    assert res.protocol == protocol


def test_score_images_is_the_copy_source_baseline(folders, pairs):
    from pg2cli.data.render import render_pose_mask

    gen, tgt, ann = folders
    masks = np.stack([render_pose_mask(p[4], p[3].shape[:2]) for p in pairs])
    res = score_images(np.stack([p[2] for p in pairs]), np.stack([p[3] for p in pairs]), masks,
                       options=EvalOptions(metrics=PIXEL, batch_size=3), networks=Networks())
    assert res.metrics == pytest.approx(evaluate_folders(gen, tgt, ann, OPTS, Networks()).metrics, abs=1e-12)
    assert res.counts["pairs"] == 8


def test_folder_mode_matching_by_stem_and_patn_names(tmp_path, pairs):
    gen, tgt = tmp_path / "g", tmp_path / "t"
    (a, b, src, trg, _), (a2, b2, src2, trg2, _) = pairs[0], pairs[1]
    _write(tgt, Path(b).with_suffix(".jpg").name, trg)  # a JPEG target scores against a PNG output
    _write(gen, b, src)
    _write(tgt, b2, trg2)
    _write(gen, f"{a2}___{b2}_vis.png", src2)  # PATN's output naming
    res = evaluate_folders(gen, tgt, None, EvalOptions(metrics=("l1",)), Networks())
    assert res.counts["pairs"] == 2 and res.counts["skipped"] == 0


def test_missing_partner_and_size_mismatch_are_reported_skips(folders, pairs):
    gen, tgt, ann = folders
    _write(gen, "no_such_target.png", pairs[0][2])
    (gen / pairs[1][1]).unlink()
    _write(gen, pairs[1][1], cv2.resize(pairs[1][2], (32, 64)))
    (gen / pairs[2][1]).unlink()  # a target nobody generated: counted, not an error
    res = evaluate_folders(gen, tgt, ann, OPTS, Networks())
    reasons = dict(res.skipped)
    assert res.counts["pairs"] == 6 and res.counts["skipped"] == 2
    assert "no target named no_such_target" in reasons["no_such_target.png"]
    assert "size 64x32 differs from the target's 128x64" in reasons[pairs[1][1]]
    assert res.metrics["ssim"] == pytest.approx(_reference(pairs[:1] + pairs[3:])["ssim"], abs=1e-12)
    res_json = res.as_json()
    assert res_json["skipped"] == 2 and res_json["targets_unmatched"] == 1


def test_folder_mode_errors(tmp_path, folders, pairs):
    gen, tgt, ann = folders
    other = tmp_path / "other"
    _write(other, "x.png", pairs[0][2])
    with pytest.raises(DataError, match="none of 1 generated images has a partner"):
        evaluate_folders(other, tgt, None, OPTS, Networks())
    small = tmp_path / "small"
    for _, b, src, _, _ in pairs[:2]:
        _write(small, b, src[:64])
    with pytest.raises(DataError, match="no pair could be scored.*differs from the target"):
        evaluate_folders(small, tgt, None, OPTS, Networks())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images found"):
        evaluate_folders(empty, tgt, None, OPTS, Networks())


def test_missing_annotation_row_skips_the_pair(folders, pairs, tmp_path):
    from pg2cli.formats import Annotations, write_annotations

    gen, tgt, _ = folders
    write_annotations(tmp_path / "few.csv", Annotations([p[1] for p in pairs[:5]], np.stack([p[4] for p in pairs[:5]])))
    res = evaluate_folders(gen, tgt, tmp_path / "few.csv", OPTS, Networks())
    assert res.counts["pairs"] == 5 and res.counts["skipped"] == 3
    assert all("has no row in" in r for _, r in res.skipped)


def test_mask_metrics_and_pckh_without_annotations_are_skipped_with_a_reason(folders):
    gen, tgt, _ = folders
    res = evaluate_folders(gen, tgt, None, EvalOptions(metrics=("ssim", "mask_ssim", "pckh")),
                           Networks(pose=object(), pose_name="fake"))
    assert res.metrics["ssim"] is not None
    assert res.metrics["mask_ssim"] is None and "--annotations" in res.notes["mask_ssim"]
    assert res.metrics["pckh"] is None and "--annotations" in res.notes["pckh"]


def test_weightless_metrics_are_skipped_and_the_rest_still_run(folders, tmp_path, monkeypatch):
    from pg2cli.evaluate import load_networks

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.delenv("PG2_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.delenv("PG2_LPIPS_WEIGHTS", raising=False)
    gen, tgt, ann = folders
    options = EvalOptions(metrics=("ssim", "lpips", "is", "mask_is", "fid"), device="cpu")
    res = evaluate_folders(gen, tgt, ann, options, load_networks(options))
    assert res.metrics["ssim"] is not None
    for m in ("lpips", "is", "mask_is", "fid"):
        assert res.metrics[m] is None
    assert "alexnet-owt-7be5be79.pth" in res.notes["lpips"] and "--lpips-weights" in res.notes["lpips"]
    assert "pt_inception-2015-12-05-6726825d.pth" in res.notes["fid"]
    out = res.as_json()
    assert out["lpips"] is None and out["protocol"] == "pg2" and out["pairs"] == 8
    assert all(not isinstance(v, (dict, list)) for v in out.values())  # flat


def test_network_metrics_through_the_driver(folders, pairs, tmp_path, monkeypatch):
    """IS, mask-IS, FID and LPIPS plumbing with randomly initialised networks found in torch.hub's cache."""
    import torch
    import torchvision

    from pg2cli.evaluate import load_networks
    from pg2cli.evaluate.networks import ALEXNET, INCEPTION, InceptionNet, LpipsNet

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.save(InceptionNet.random_state_dict(0), cache / INCEPTION.file_name)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), cache / ALEXNET.file_name)
    gen, tgt, ann = folders
    for p in pairs[4:]:  # four pairs are enough for the plumbing
        (gen / p[1]).unlink()
    options = EvalOptions(metrics=("lpips", "is", "mask_is", "fid"), device="cpu", batch_size=3, is_splits=2)
    nets = load_networks(options)
    res = evaluate_folders(gen, tgt, ann, options, nets)
    assert not res.notes and res.counts["pairs"] == 4
    src, trg = np.stack([p[2] for p in pairs[:4]]), np.stack([p[3] for p in pairs[:4]])
    assert res.metrics["lpips"] == pytest.approx(LpipsNet.load()(src, trg).mean(), abs=1e-6)
    feats, probs = nets.inception(src)
    assert res.metrics["is"] == pytest.approx(M.inception_score(probs, 2)[0], rel=1e-6)
    # Batches of 3 vs 4 change float32 round-off, which the tiny std of a random network amplifies.
    assert res.metrics["is_std"] == pytest.approx(M.inception_score(probs, 2)[1], rel=1e-2)
    assert res.metrics["fid"] == pytest.approx(M.fid_from_features(feats, nets.inception(trg)[0]), rel=1e-6)
    assert res.metrics["mask_is"] != pytest.approx(res.metrics["is"], rel=1e-6)


class _ShiftedPoses:
    """A pose 'backend' that returns each image's annotated keypoints moved by a fixed offset."""

    name = "shifted"

    def __init__(self, lookup: dict[bytes, np.ndarray], offset: tuple[float, float]):
        self.lookup, self.offset = lookup, np.asarray(offset, np.float32)

    def detect(self, images):
        from pg2cli.formats import OpenPosePerson

        out = []
        for im in images:
            kp = self.lookup[im.tobytes()] + self.offset
            out.append([OpenPosePerson(kp, np.where(np.isfinite(kp[:, 0]), 1.0, 0.0).astype(np.float32))])
        return out


def test_pckh_through_the_driver_with_known_offsets(folders, pairs):
    gen, tgt, ann = folders
    lookup = {p[2].tobytes(): p[4] for p in pairs}  # generated image -> its target's keypoints
    res = evaluate_folders(gen, tgt, ann, EvalOptions(metrics=("pckh",)),
                           Networks(pose=_ShiftedPoses(lookup, (0.0, 0.0)), pose_name="shifted"))
    assert res.metrics["pckh"] == 1.0
    # Far off: nothing is correct; the denominator is every present target keypoint of images with a head box.
    res = evaluate_folders(gen, tgt, ann, EvalOptions(metrics=("pckh",)),
                           Networks(pose=_ShiftedPoses(lookup, (100.0, 0.0)), pose_name="shifted"))
    expected = M.pckh(np.stack([p[4] for p in pairs]) + 100, np.stack([p[4] for p in pairs]))
    assert res.metrics["pckh"] == 0.0 and res.counts["pckh_keypoints"] == expected.total > 0
    assert res.as_json()["pckh_backend"] == "shifted"


def test_pckh_with_mediapipe_on_the_real_targets(folders):
    """Real targets scored as if generated: the offline extractor agrees with the annotations (notes: ~0.8)."""
    pytest.importorskip("mediapipe")
    gen, tgt, ann = folders
    res = evaluate_folders(tgt, tgt, ann, EvalOptions(metrics=("pckh",), pose_backend="mediapipe"))
    assert res.pose_backend == "mediapipe"
    assert 0.6 < res.metrics["pckh"] <= 1.0


# ---------------------------------------------------------------------------------------------- run mode

def _packed_arrays(path):
    import h5py

    with h5py.File(path, "r") as f:
        pairs = f["pairs"][()]
        return f["images"][()], f["masks"][()], f["keypoints"][()], pairs


def test_copy_source_baseline_in_run_mode(pairs_packed):
    images, masks, _, pairs = _packed_arrays(pairs_packed)
    res = evaluate_packed(pairs_packed, baseline="copy_source", options=EvalOptions(metrics=PIXEL, batch_size=3),
                          networks=Networks())
    ref = score_images(images[pairs[:, 0]], images[pairs[:, 1]], masks[pairs[:, 1]],
                       options=EvalOptions(metrics=PIXEL), networks=Networks())
    assert res.metrics == pytest.approx(ref.metrics, abs=1e-12)
    assert res.counts["pairs"] == len(pairs) == 8


def test_run_mode_generates_with_the_final_networks_and_round_trips(pairs_packed, tiny_run, tmp_path):
    import torch

    from pg2cli.images import read_image
    from pg2cli.infer import to_uint8
    from pg2cli.train.checkpoint import load_generators

    images, masks, kps, pairs = _packed_arrays(pairs_packed)
    saved = tmp_path / "saved"
    res = evaluate_packed(pairs_packed, tiny_run, options=EvalOptions(metrics=PIXEL, batch_size=3, device="cpu"),
                          networks=Networks(), save_images=saved)
    assert res.counts["stage"] == 2 and res.counts["pairs"] == 8
    # Independently: the stage-2 generators on the file's own pose maps.
    import h5py

    gens = load_generators(tiny_run, device="cpu")
    with h5py.File(pairs_packed, "r") as f:
        maps = f["pose_maps"][()]
    src = torch.from_numpy(images[pairs[:, 0]]).permute(0, 3, 1, 2).float() / 127.5 - 1
    pose = torch.from_numpy(maps[pairs[:, 1]]).float() / 127.5 - 1
    expected = to_uint8(gens(src, pose)[1])
    names = sorted(p.name for p in (saved / "generated").iterdir())
    assert len(names) == 8 and (saved / "annotations.csv").is_file()
    from pg2cli.evaluate.driver import pair_file_name
    from pg2cli.formats import read_annotations

    ann_names = read_annotations(saved / "annotations.csv").names
    got = np.stack([read_image(saved / "generated" / name) for name in ann_names])
    # Batches of 3 vs 8 may round a rare pixel the other way (float sums in another order): within one level.
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    ref = score_images(expected, images[pairs[:, 1]], masks[pairs[:, 1]], options=EvalOptions(metrics=PIXEL),
                       networks=Networks())
    assert res.metrics == pytest.approx(ref.metrics, abs=1e-4)
    assert ann_names[0] == pair_file_name(*_names(pairs_packed, pairs[0]))
    # What was saved scores the same again in folder mode (masks re-drawn from the rounded keypoints).
    again = evaluate_folders(saved / "generated", saved / "targets", saved / "annotations.csv", OPTS, Networks())
    for m in ("ssim", "psnr", "l1"):
        assert again.metrics[m] == pytest.approx(res.metrics[m], abs=1e-12)
    assert again.metrics["mask_ssim"] == pytest.approx(res.metrics["mask_ssim"], abs=0.05)
    with pytest.raises(OutputExistsError):
        evaluate_packed(pairs_packed, tiny_run, options=OPTS, networks=Networks(), save_images=saved)


def _names(pairs_packed, pair):
    import h5py

    with h5py.File(pairs_packed, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["names"][()]]
    return names[pair[0]], names[pair[1]]


def test_run_mode_stage_limit_and_size_mismatch(pairs_packed, tiny_run, shared_data, tmp_path):
    from pg2cli.data.pack import PackOptions, pack

    one = evaluate_packed(pairs_packed, tiny_run, stage=1, limit=3, options=EvalOptions(metrics=("l1",), device="cpu"),
                          networks=Networks())
    two = evaluate_packed(pairs_packed, tiny_run, stage=2, limit=3, options=EvalOptions(metrics=("l1",), device="cpu"),
                          networks=Networks())
    assert one.counts["stage"] == 1 and two.counts["stage"] == 2
    assert one.counts["pairs"] == 3 and one.counts["pairs_in_file"] == 8
    assert one.metrics["l1"] != two.metrics["l1"]
    m = shared_data / "market"
    lines = (m / "pairs.csv").read_text().splitlines()[:2]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    pack(m / "images", m / "annotations.csv", tmp_path / "p.csv", tmp_path / "big.h5",
         PackOptions(only_paired=True, workers=0))
    with pytest.raises(DataError, match="images are 128x64 but .* was trained at 64x32"):
        evaluate_packed(tmp_path / "big.h5", tiny_run, options=OPTS, networks=Networks())


def test_evaluate_refuses_wrong_combinations(pairs_packed, tiny_run, folders):
    gen, tgt, _ = folders
    with pytest.raises(UsageError, match="not both"):
        evaluate(run=tiny_run, data=pairs_packed, generated=gen, targets=tgt)
    with pytest.raises(UsageError, match="needs both --generated DIR and --targets DIR"):
        evaluate(generated=gen)
    with pytest.raises(UsageError, match="--stage applies to run mode"):
        evaluate(generated=gen, targets=tgt, stage=1)
    with pytest.raises(UsageError, match="--run or --baseline, not both"):
        evaluate(run=tiny_run, data=pairs_packed, baseline="copy_source")
    with pytest.raises(UsageError, match="nothing to evaluate"):
        evaluate()
    with pytest.raises(UsageError, match="--metrics: unknown ssmi"):
        EvalOptions(metrics="ssmi,l1")
    with pytest.raises(UsageError, match="--protocol"):
        EvalOptions(protocol="deformable")


# ---------------------------------------------------------------------------------------------- CLI

def test_cli_folder_mode_writes_flat_json(folders, pairs, tmp_path):
    gen, tgt, ann = folders
    out = tmp_path / "m.json"
    args = ["eval", "--generated", str(gen), "--targets", str(tgt), "--annotations", str(ann),
            "--metrics", "ssim,mask_ssim,l1,psnr", "--protocol", "patn", "-o", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    got = json.loads(out.read_text())
    ref = _reference(pairs, "patn")
    assert got["protocol"] == "patn" and got["pairs"] == 8
    for m in PIXEL:
        assert got[m] == pytest.approx(ref[m], abs=1e-6)
    assert "mask_ssim" in r.output
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "already exists" in r.output


def test_cli_run_mode_and_errors(pairs_packed, tiny_run, tmp_path):
    r = runner.invoke(app, ["eval", "--run", str(tiny_run), "--data", str(pairs_packed), "--metrics", "ssim,l1",
                            "--device", "cpu", "--save-images", str(tmp_path / "s"), "-o", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    got = json.loads((tmp_path / "m.json").read_text())
    assert got["stage"] == 2 and got["pairs"] == 8 and set(got) >= {"ssim", "l1", "protocol"}
    r = runner.invoke(app, ["eval", "--run", str(tiny_run)])
    assert r.exit_code == 2 and "needs --data" in r.output
    r = runner.invoke(app, ["eval", "--generated", str(tmp_path / "nope"), "--targets", str(tmp_path)])
    assert r.exit_code == 1 and "not a folder" in r.output
    r = runner.invoke(app, ["eval", "--data", str(pairs_packed), "--baseline", "copy_source", "--metrics", "bogus"])
    assert r.exit_code == 2 and "unknown bogus" in r.output
