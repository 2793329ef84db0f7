import os
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("DATA", ROOT / "data" / "face_images"))
if not REAL_DATA.is_absolute():
    REAL_DATA = ROOT / REAL_DATA


def pytest_collection_modifyitems(items):
    """Every test that needs the real data is slow; the others say so with @pytest.mark.slow."""
    for item in items:
        if {"real_data", "real_split"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def made_up_image(rng, size=32):
    """A smooth colour picture whose chroma follows its brightness, so there is something to learn."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    angle, level = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.8)
    light = level + 0.3 * (np.cos(angle) * x + np.sin(angle) * y) / 2
    warm = light[..., None] * np.array([1.0, 0.75, 0.45])
    cool = (1 - light[..., None]) * np.array([0.2, 0.45, 0.9])
    return np.clip((warm + cool) * 255 + rng.normal(0, 3, (size, size, 3)), 0, 255).astype(np.uint8)


def write_rgb(path, rgb):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tofile(path) is None
    return path


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    for i in range(20):
        write_rgb(folder / f"img{i:02d}.png", made_up_image(rng))
    return folder


@pytest.fixture
def tiny_split(tmp_path, image_folder):
    from split_data import main as split_main

    split_main(["--src", str(image_folder), "--out", str(tmp_path / "split"), "--test-size", "0.2", "--size", "32"])
    return tmp_path / "split"


@pytest.fixture
def real_data():
    if not (REAL_DATA.is_dir() and len(list(REAL_DATA.glob("*.jpg"))) == 750):
        pytest.skip(f"real face_images not at {REAL_DATA} (set DATA=...)")
    return REAL_DATA


@pytest.fixture(scope="session")
def real_split(tmp_path_factory):
    """The report's seed-42 split of the real face_images."""
    from split_data import main as split_main

    if not (REAL_DATA.is_dir() and len(list(REAL_DATA.glob("*.jpg"))) == 750):
        pytest.skip(f"real face_images not at {REAL_DATA} (set DATA=...)")
    out = tmp_path_factory.mktemp("real") / "split"
    split_main(["--src", str(REAL_DATA), "--out", str(out)])
    return out
