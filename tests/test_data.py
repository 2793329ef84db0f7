import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.color import rgb_to_lab_torch, split_lab
from common.data import (
    CROP_SCALE,
    PIPELINES,
    EvalBatches,
    TrainBatches,
    crop_params,
    warp_opencv,
    warp_torch,
)
from common.images import ImageError, read_image
from tests.conftest import made_up_image


@pytest.fixture
def images():
    rng = np.random.default_rng(1)
    return torch.from_numpy(np.stack([made_up_image(rng, 32) for _ in range(6)])).permute(0, 3, 1, 2).contiguous()


def channels_last(images):
    return images.permute(0, 2, 3, 1).contiguous()


@pytest.mark.parametrize("warp", [warp_torch, warp_opencv])
def test_warps_keep_shapes_and_ranges(images, warp):
    params = crop_params(len(images), torch.Generator().manual_seed(0))
    out = warp(channels_last(images), params, 24)
    assert out.shape == (6, 24, 24, 3) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("warp", [warp_torch, warp_opencv])
def test_forced_flip_mirrors_and_full_crop_is_identity(images, warp):
    identity = torch.tensor([[0.0, 1.0, 1.0, 0.0, 0.0]]).repeat(len(images), 1)
    flipped = identity.clone()
    flipped[:, 0] = 1
    as_float = channels_last(images).float() / 255
    assert torch.allclose(warp(channels_last(images), identity, 32), as_float, atol=1e-5)
    assert torch.allclose(warp(channels_last(images), flipped, 32), as_float.flip(2), atol=1e-5)


def test_separable_warp_equals_grid_sample(images):
    params = crop_params(len(images), torch.Generator().manual_seed(3))
    flip, w, h, cx, cy = params.unbind(1)
    theta = torch.zeros(len(images), 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * (1 - 2 * flip), cx, h, cy
    grid = F.affine_grid(theta, [len(images), 3, 28, 28], align_corners=False)
    expected = F.grid_sample(images.float() / 255, grid, padding_mode="border", align_corners=False)
    assert torch.allclose(warp_torch(channels_last(images), params, 28), expected.permute(0, 2, 3, 1), atol=1e-5)


def test_opencv_warp_matches_torch_warp_across_several_remap_calls():
    """More images than one cv2.remap call takes at 32 rows each, so the batch is split."""
    rng = np.random.default_rng(2)
    many = torch.from_numpy(rng.integers(0, 256, (1100, 32, 32, 3), dtype=np.uint8))
    params = crop_params(len(many), torch.Generator().manual_seed(4))
    levels = (warp_opencv(many, params, 32) - warp_torch(many, params, 32)).abs() * 255
    # positions rounded to 1/32 pixel on each axis move a value by at most 255/32 levels; on pure
    # noise (neighbours ~85 levels apart) by under a level on average, while a misplaced image would be ~85 off
    assert levels.max() <= 255 / 32 and levels.mean() < 1
    assert levels[-100:].mean() < 1


def test_cpu_batches_match_the_torch_pipeline_a_gpu_runs(images):
    params = crop_params(len(images), torch.Generator().manual_seed(5))
    warp, to_lab = PIPELINES["opencv"]
    L, ab = split_lab(to_lab(warp(channels_last(images), params, 32)))
    L_gpu_way, ab_gpu_way = split_lab(rgb_to_lab_torch(warp_torch(channels_last(images), params, 32)))
    assert (L - L_gpu_way).abs().max() * 100 < 1.0 and (ab - ab_gpu_way).abs().max() < 1.5
    assert (ab - ab_gpu_way).abs().mean() < 0.1


def test_crop_area_in_bounds_and_parameters_differ_per_sample():
    params = crop_params(10_000, torch.Generator().manual_seed(0))
    flip, w, h, cx, cy = params.unbind(1)
    area = w * h
    assert CROP_SCALE[0] - 1e-6 <= area.min() and area.max() <= CROP_SCALE[1] + 1e-6
    assert area.min() < 0.62 and area.max() > 0.98
    assert (cx.abs() <= 1 - w + 1e-6).all() and (cy.abs() <= 1 - h + 1e-6).all()
    assert 0.45 < flip.mean() < 0.55
    assert len(torch.unique(params[:100], dim=0)) == 100


def test_epoch_serves_augment_times_n_samples_and_is_seeded(images):
    batches = TrainBatches(images, batch_size=7, augment=10, size=32, seed=5)
    epoch = list(batches.epoch(0))
    assert sum(len(L) for L, _ in epoch) == 60 == batches.samples and len(epoch) == len(batches)
    L, ab = epoch[0]
    assert L.shape == (7, 1, 32, 32) and ab.shape == (7, 2, 32, 32)
    assert 0 <= L.min() and L.max() <= 1 and ab.abs().max() < 128
    again = list(TrainBatches(images, batch_size=7, augment=10, size=32, seed=5).epoch(0))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(epoch, again))
    assert not torch.equal(next(batches.epoch(1))[0], L)
    assert not torch.equal(next(TrainBatches(images, 7, 10, 32, seed=6).epoch(0))[0], L)


def test_regressor_target_is_mean_ab(images):
    L, ab = next(iter(EvalBatches(images, batch_size=3)))
    _, mean_ab = next(iter(EvalBatches(images, batch_size=3, target="mean_ab")))
    assert mean_ab.shape == (3, 2) and torch.allclose(mean_ab, ab.mean(dim=(2, 3)))


def test_read_image_names_the_file(tmp_path):
    bad = tmp_path / "ünïcode name.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(ImageError, match="ünïcode name.jpg"):
        read_image(bad)


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    rgb = made_up_image(np.random.default_rng(4), 32)[:, :20]  # 32 tall, 20 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the camera was turned 90 degrees clockwise
    Image.fromarray(rgb).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    upright = read_image(tmp_path / "turned.jpg")
    assert upright.shape[:2] == (20, 32)
    assert np.abs(upright.astype(int) - np.rot90(rgb, 3)).mean() < 4
