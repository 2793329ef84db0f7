import numpy as np
import pytest

from common.color import lab_to_rgb, rgb_to_lab
from common.metrics import ab_auc, ab_squared_error, colourfulness, psnr, score_images
from tests.conftest import made_up_image


@pytest.fixture
def picture():
    return made_up_image(np.random.default_rng(0), 48)


def test_identical_images_score_perfectly(picture):
    s = score_images([picture], [picture.copy()])
    assert s["mse_ab"] == 0 and s["ciede2000"] == 0 and s["ssim"] == pytest.approx(1.0) and s["auc"] == 1.0
    assert s["colourfulness"] == s["colourfulness_truth"] > 10


def test_known_ab_shift_gives_known_mse_and_auc(picture):
    a = rgb_to_lab(picture)
    b = a.copy()
    b[..., 1] += 6.0
    b[..., 2] -= 8.0  # distance 10 everywhere; squared error (36 + 64) / 2 per channel
    assert ab_squared_error(b, a) == pytest.approx(50.0)
    assert ab_auc(b, a) == pytest.approx(140.5 / 150)  # 0 below t = 10, 1 from t = 10 on (trapezoids)
    shifted = lab_to_rgb(b)
    expected = ab_squared_error(rgb_to_lab(shifted), a)
    assert score_images([shifted], [picture])["mse_ab"] == pytest.approx(expected)
    assert 40 < expected < 60  # 8-bit rounding and gamut clipping move it a little from 50


def test_psnr_of_a_known_error(picture):
    noisy = np.clip(picture.astype(int) + 5, 0, 255).astype(np.uint8)
    mse = np.mean((noisy.astype(float) - picture) ** 2)
    assert psnr(noisy, picture) == pytest.approx(10 * np.log10(255**2 / mse))
    assert psnr(picture, picture) == 100.0


def test_gray_has_zero_colourfulness(picture):
    gray = np.repeat(picture[..., :1], 3, axis=2)
    assert colourfulness(gray) == 0
    assert colourfulness(np.zeros((4, 4, 3), np.uint8) + [255, 0, 0]) == pytest.approx(0.3 * np.hypot(255, 127.5))
