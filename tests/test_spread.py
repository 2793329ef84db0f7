"""A hint's colour stays inside the object it was put on, and fills it."""
import numpy as np
import torch

from common.checkpoint import load_model
from common.color import rgb_to_lab
from common.hints import Hints, point_hints
from common.inference import colorize
from common.spread import keep_inside
from tests.conftest import ROOT

BLUE = np.array([20.0, -60.0], np.float32)


def two_objects(side=128):
    """L of a dark object on the left and a bright one on the right, each a little textured."""
    rng = np.random.default_rng(0)
    L = np.where(np.arange(side)[None, :] < side // 2, 30.0, 70.0) + rng.normal(0, 1.0, (side, side))
    return L.astype(np.float32)


def hint_at(y, x, ab):
    return Hints(np.array([y]), np.array([x]), ab[None].astype(np.float32))


def test_one_hint_fills_its_object_and_stops_at_the_edge():
    L = two_objects()
    auto = np.zeros((128, 128, 2), np.float32)
    y, x = np.mgrid[0:128, 0:128]
    blob = np.exp(-((x - 32) ** 2 + (y - 64) ** 2) / (2 * 50.0**2)).astype(np.float32)  # a network's block of colour
    net = blob[..., None] * BLUE * 0.6
    a, b = keep_inside(hint_at(64, 32, BLUE), L, auto.transpose(2, 0, 1), net.transpose(2, 0, 1))
    out = np.dstack([a, b])
    change = np.linalg.norm(out - auto, axis=2)
    left, right = np.s_[:, :64], np.s_[:, 64:]
    assert change[right].sum() / change.sum() < 0.1  # the network's own spread put 0.3 of it there
    assert np.linalg.norm(net - auto, axis=2)[right].sum() / np.linalg.norm(net - auto, axis=2).sum() > 0.25
    moved_halfway = np.linalg.norm(out - BLUE, axis=2) <= 0.5 * np.linalg.norm(auto - BLUE, axis=2)
    assert moved_halfway[left].mean() > 0.95


def test_hints_that_agree_on_one_turn_of_the_hue_recolour_everywhere():
    L = two_objects()
    angle = np.radians(120)
    auto = np.broadcast_to(np.array([30.0, 10.0], np.float32), (128, 128, 2)).copy()
    turned = np.array([30 * np.cos(angle) - 10 * np.sin(angle), 30 * np.sin(angle) + 10 * np.cos(angle)], np.float32)
    points = [(20, 20), (100, 20), (64, 40), (20, 50), (100, 45)]  # all on the left object
    hints = Hints(np.array([p[0] for p in points]), np.array([p[1] for p in points]),
                  np.stack([turned * (1 + 0.01 * i) for i in range(len(points))]).astype(np.float32))
    net = np.broadcast_to(turned, (128, 128, 2)).copy()  # the network turned the whole picture
    a, b = keep_inside(hints, L, auto.transpose(2, 0, 1), net.transpose(2, 0, 1))
    assert np.abs(np.dstack([a, b])[:, 80:] - turned).max() < 2.0  # the right object turned too


def test_the_shipped_hint_model_keeps_a_hint_on_its_side_of_an_edge():
    model, _ = load_model(ROOT / "pretrained" / "hints.pt", torch.device("cpu"))
    gray = np.repeat(np.clip(two_objects() * 2.55, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    before = rgb_to_lab(colorize(model, [gray], 128, torch.device("cpu"))[0].rgb)[..., 1:]
    hints = point_hints([(32, 64, (40, 80, 220))], (128, 128), 128)
    after = rgb_to_lab(colorize(model, [gray], 128, torch.device("cpu"), hints=[hints])[0].rgb)[..., 1:]
    change = np.linalg.norm(after - before, axis=2)
    assert change[:, :64].mean() > 10 and change[:, 72:].sum() / change.sum() < 0.1


def test_a_large_photo_is_kept_inside_at_the_work_size_and_left_to_upsample():
    L = np.repeat(np.repeat(two_objects(), 8, axis=0), 6, axis=1)  # 1024 x 768
    auto = np.zeros((2, 128, 128), np.float32)
    net = np.broadcast_to(BLUE[:, None, None] * 0.5, (2, 128, 128)).copy()
    out = keep_inside(hint_at(512, 192, BLUE), L, auto, net)
    assert out.shape == (2, 256, 192)
    assert np.allclose(out[:, 128, 48], BLUE, atol=1) and np.abs(out[:, 128, 170]).max() < 5
