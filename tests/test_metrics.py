import numpy as np
import pytest

from common.color import lab_to_rgb, rgb_to_lab
from common.metrics import ab_auc, ab_squared_error, colourfulness, psnr, score_pictures, summarize
from tests.conftest import made_up_image


@pytest.fixture
def picture():
    return made_up_image(np.random.default_rng(0), 48)


def test_identical_images_score_perfectly(picture):
    s = summarize(score_pictures([picture], [picture.copy()]))[0]
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
    assert score_pictures([shifted], [picture])["mse_ab"][0] == pytest.approx(expected)
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


def test_bootstrap_interval_of_identical_pictures_is_a_point():
    from common.metrics import bootstrap

    assert bootstrap(np.full(75, 12.5)) == (12.5, 12.5)
    means, intervals = summarize({"mse_ab": np.full(10, 3.0), "psnr": np.arange(10.0)})
    assert intervals["mse_ab"] == [3.0, 3.0] and means["psnr"] == 4.5
    low, high = intervals["psnr"]
    assert low < 4.5 < high


def test_bootstrap_interval_matches_the_normal_theory_on_a_known_sample():
    from common.metrics import bootstrap

    sample = np.random.default_rng(1).normal(10.0, 2.0, 400)
    half = 1.96 * sample.std(ddof=1) / np.sqrt(len(sample))  # the direct computation: mean +- 1.96 s / sqrt(n)
    low, high = bootstrap(sample, resamples=20000)
    assert low == pytest.approx(sample.mean() - half, abs=0.1 * half)
    assert high == pytest.approx(sample.mean() + half, abs=0.1 * half)
    assert bootstrap(sample) == bootstrap(sample) != bootstrap(sample, seed=1)  # seeded


def test_paired_difference_of_a_model_with_itself_is_exactly_zero():
    from common.metrics import compare

    per_picture = {"mse_ab": np.random.default_rng(2).gamma(2.0, 5.0, 75), "psnr": np.linspace(30, 40, 75)}
    for row in compare(per_picture, per_picture).values():
        assert row == {"difference": 0.0, "ci95": [0.0, 0.0]}
    shifted = {k: v + 1 for k, v in per_picture.items()}
    assert compare(shifted, per_picture)["mse_ab"] == {"difference": 1.0, "ci95": [1.0, 1.0]}
