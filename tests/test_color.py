import numpy as np
import torch

from common.color import image_ab, lab_to_rgb, merge_L_ab, rgb_to_lab, rgb_to_lab_batch, rgb_to_lab_torch, split_lab


def random_rgb(seed, shape=(48, 40, 3)):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    img[0, :8] = [[0, 0, 0], [255, 255, 255], [1, 1, 1], [255, 0, 0], [0, 255, 0], [0, 0, 255], [3, 2, 1], [10, 10, 9]]
    return img


def test_lab_ranges_and_round_trip_within_one_level():
    img = random_rgb(0)
    lab = rgb_to_lab(img)
    assert lab.dtype == np.float32
    assert 0 <= lab[..., 0].min() and lab[..., 0].max() <= 100
    assert -128 <= lab[..., 1:].min() and lab[..., 1:].max() <= 128
    assert np.abs(lab_to_rgb(lab).astype(int) - img).max() <= 1


def test_merge_accepts_channel_first_ab():
    img = random_rgb(1)
    lab = rgb_to_lab(img)
    assert np.array_equal(merge_L_ab(lab[..., 0], lab[..., 1:].transpose(2, 0, 1)), lab_to_rgb(lab))


def test_torch_lab_matches_opencv_within_half_a_unit():
    for seed in range(3):
        img = random_rgb(seed)
        ours = rgb_to_lab_torch(torch.from_numpy(img).float() / 255)
        assert np.abs(ours.numpy() - rgb_to_lab(img)).max() < 0.5


def test_batch_conversion_is_opencv_per_image_and_splits_into_L_and_ab():
    images = np.stack([random_rgb(seed, (16, 12, 3)) for seed in range(3)])
    lab = rgb_to_lab_batch(torch.from_numpy(images).float() / 255)
    assert all(np.array_equal(lab[i].numpy(), rgb_to_lab(img)) for i, img in enumerate(images))
    L, ab = split_lab(lab)
    assert L.shape == (3, 1, 16, 12) and ab.shape == (3, 2, 16, 12)
    assert torch.equal(L[:, 0] * 100, lab[..., 0]) and torch.equal(ab.permute(0, 2, 3, 1), lab[..., 1:])
    assert torch.equal(image_ab(torch.from_numpy(images).permute(0, 3, 1, 2)), ab)
