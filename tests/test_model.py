"""PG²'s networks and losses: the authors' parameter counts, shapes at both dataset sizes, ablations, loss values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pg2cli import losses
from pg2cli.errors import UsageError
from pg2cli.model import ModelConfig, build, count_parameters, parameter_counts
from pg2cli.model.g1 import pose_coordinates

TINY = dict(base_channels=8, z_dim=8, d_channels=8)


# The original TensorFlow code's networks at Market-1501 size (128x64, n = 128, z = 64, D width 64).
@pytest.mark.parametrize("name, expected", [("g1", 70_795_075), ("g2", 6_058_883), ("d", 4_324_737)])
def test_market_parameter_counts_match_the_original_code(name, expected):
    assert parameter_counts(ModelConfig(image_size=(128, 64)))[name] == expected


# The original code's networks at DeepFashion size (256x256, N = 6, n = 128, z = 64, D width 64): models256.py's
# G1 (8x8 bottleneck), its G2 (UAE_noFC_AfterNoise: a skip at every decoder level) and DCGANDiscriminator_256.
@pytest.mark.parametrize("name, expected", [("g1", 122_103_235), ("g2", 12_696_067), ("d", 10_896_257)])
def test_deepfashion_parameter_counts_match_the_original_code(name, expected):
    from pg2cli.train.config import PRESETS

    assert parameter_counts(PRESETS["deepfashion"].model)[name] == expected


def test_g2_full_skip_adds_only_the_full_resolution_concat():
    # The DeepFashion G2 differs from the Market one only in its last decoder conv: n + n inputs instead of n.
    n = 128
    market = parameter_counts(ModelConfig(image_size=(256, 256)))
    deepfashion = parameter_counts(ModelConfig(image_size=(256, 256), g2_full_skip=True))
    assert deepfashion["g2"] - market["g2"] == n * n * 9
    assert (deepfashion["g1"], deepfashion["d"]) == (market["g1"], market["d"])


def test_parameter_counts_follow_the_layout():
    # D at DeepFashion size has one more 5x5 conv (512 -> 512) + BN, and a linear over 8x8x512:
    # independent arithmetic from the layer list, not from the code.
    d = (3 * 64 * 25 + 64) + (64 * 128 * 25 + 128) + (128 * 256 * 25 + 256) + (256 * 512 * 25 + 512) \
        + (512 * 512 * 25 + 512) + 2 * (128 + 256 + 512 + 512) + (8 * 8 * 512 + 1)
    assert parameter_counts(ModelConfig(image_size=(256, 256)))["d"] == d
    # The pair discriminator only widens the first conv from 3 to 6 input channels.
    single = parameter_counts(ModelConfig(image_size=(128, 64)))["d"]
    pair = parameter_counts(ModelConfig(image_size=(128, 64), d_input="pair"))["d"]
    assert pair - single == 3 * 64 * 25


@pytest.mark.parametrize("size, full_skip", [((128, 64), False), ((256, 256), False), ((256, 256), True),
                                              ((64, 32), True)])
@pytest.mark.parametrize("embedding", ["maps", "coords", "heatmap-encoder"])
def test_output_shapes(size, full_skip, embedding):
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=size, pose_embedding=embedding, g2_full_skip=full_skip, **TINY)
    nets = build(cfg)
    src = torch.rand(2, 3, *size) * 2 - 1
    pose = torch.rand(2, 18, *size) * 2 - 1
    with torch.no_grad():
        coarse = nets.g1(src, pose)
        diff = nets.g2(src, coarse)
        logits = nets.d(coarse + diff)
    assert coarse.shape == diff.shape == (2, 3, *size)
    assert logits.shape == (2,)
    assert cfg.depth == int(math.log2(size[0])) - 2


def test_pair_discriminator_judges_condition_and_image():
    torch.manual_seed(0)
    d = build(ModelConfig(image_size=(64, 32), d_input="pair", **TINY), ("d",)).d.eval()
    img, cond = torch.randn(2, 3, 64, 32), torch.randn(2, 3, 64, 32)
    assert d(img, cond).shape == (2,)
    assert not torch.allclose(d(img, cond), d(img, torch.zeros_like(cond)))
    with pytest.raises(ValueError, match="condition"):
        d(img)


@pytest.mark.parametrize("embedding", ["maps", "coords", "heatmap-encoder"])
def test_every_pose_embedding_uses_the_pose(embedding):
    from pg2cli.data.render import render_pose_maps

    torch.manual_seed(0)
    g1 = build(ModelConfig(image_size=(64, 32), pose_embedding=embedding, **TINY), ("g1",)).g1
    kp = np.full((18, 2), np.nan, np.float32)
    kp[1], kp[2] = (16, 10), (10, 14)
    moved = kp.copy()
    moved[2] = (22, 30)
    poses = torch.from_numpy(np.stack([render_pose_maps(k, (64, 32)) for k in (kp, moved)])) * 2 - 1
    src = torch.rand(1, 3, 64, 32).expand(2, -1, -1, -1)
    with torch.no_grad():
        out = g1(src, poses)
    assert (out[0] - out[1]).abs().max() > 1e-4


def test_pose_coordinates_recover_disc_keypoints():
    from pg2cli.data.render import render_pose_maps

    h, w = 64, 32
    kp = np.full((18, 2), np.nan, np.float32)
    kp[0], kp[5], kp[13] = (10.0, 12.0), (20.0, 30.0), (16.0, 50.0)
    maps = torch.from_numpy(render_pose_maps(kp, (h, w), kind="disc", radius=4))[None] * 2 - 1
    coords = pose_coordinates(maps).reshape(18, 3).numpy()
    for k in (0, 5, 13):  # discs away from the border: the centroid is the keypoint
        x, y = kp[k]
        np.testing.assert_allclose(coords[k], [x / (w - 1) * 2 - 1, y / (h - 1) * 2 - 1, 1.0], atol=1e-5)
    missing = [k for k in range(18) if k not in (0, 5, 13)]
    np.testing.assert_array_equal(coords[missing], 0.0)


def test_initialisation():
    torch.manual_seed(0)
    nets = build(ModelConfig(image_size=(128, 64)), ("d",))
    w = nets.d.features[2].weight  # the 2nd 5x5 conv: 64 -> 128
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    assert all(m.bias.abs().max() == 0 for m in nets.d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    g2 = build(ModelConfig(image_size=(64, 32), **TINY), ("g2",)).g2
    w = g2.stem[0].weight  # Glorot uniform: bound sqrt(6 / (fan_in + fan_out))
    bound = math.sqrt(6 / (6 * 9 + 8 * 9))
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


@pytest.mark.parametrize("kwargs, message", [
    (dict(image_size=(100, 50)), "power of two"),
    (dict(image_size=(128, 40)), "multiple of 16"),
    (dict(pose_embedding="onehot"), "pose_embedding"),
    (dict(d_input="triple"), "d_input"),
    (dict(base_channels=0), "base_channels"),
])
def test_bad_model_config(kwargs, message):
    with pytest.raises(UsageError, match=message):
        ModelConfig(**kwargs)


def test_build_needs_a_resolved_size():
    with pytest.raises(UsageError, match="image_size"):
        build(ModelConfig(image_size=None))


def test_pose_mask_l1_is_the_papers_formula():
    pred = torch.tensor([0.5, -0.5, 1.0, 0.0]).reshape(1, 1, 2, 2).expand(1, 3, 2, 2)
    target = torch.zeros(1, 3, 2, 2)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0]).reshape(1, 1, 2, 2)
    # |d| = .5, .5, 1, 0 per channel: mean 0.5; masked mean (0.5 + 1) / 4 = 0.375.
    assert losses.pose_mask_l1(pred, target, mask).item() == pytest.approx(0.875)
    assert losses.plain_l1(pred, target, mask).item() == pytest.approx(0.5)
    # ||(pred - target) * (1 + M)||_1 / numel: the same number.
    assert ((pred - target) * (1 + mask)).abs().mean().item() == pytest.approx(0.875)


def test_adversarial_losses():
    def sp(x):  # softplus: BCE-with-logits against 0 is softplus(x), against 1 softplus(-x)
        return math.log1p(math.exp(x))

    real_t, real_s, fake = torch.tensor([2.0]), torch.tensor([-1.0]), torch.tensor([0.5])
    assert losses.generator_adversarial(fake).item() == pytest.approx(sp(-0.5))
    assert losses.discriminator_single(real_t, real_s, fake).item() == pytest.approx(
        0.5 * sp(-2.0) + 0.25 * sp(-1.0) + 0.25 * sp(0.5))
    assert losses.discriminator_pair(real_t, fake).item() == pytest.approx(sp(-2.0) + sp(0.5))


def test_count_parameters_includes_batch_norm_affine():
    bn = torch.nn.BatchNorm2d(7)
    assert count_parameters(bn) == 14
