"""Face-aware colorization: calibration, crops, and blending, on the photos that ship with scikit-image."""
import json

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from common.checkpoint import load_model
from common.faces import FRAMING_FILE, calibrate, crop_square, detect, find_faces, framings, load_framing
from common.inference import colorize, lightness
from tests.conftest import ROOT, made_up_image

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def classifier():
    return load_model(ROOT / "pretrained" / "classifier.pt", CPU)[0]


@pytest.fixture(scope="module")
def face():
    """The astronaut's face, cropped at the training framing: a picture like face_images'."""
    photo = skimage.data.astronaut()
    x0, y0, side = (round(v) for v in crop_square(detect(lightness(photo))[0], load_framing()))
    return cv2.resize(photo[y0:y0 + side, x0:x0 + side], (128, 128), interpolation=cv2.INTER_AREA)


def scene(face, side, x, y, size=600):
    """A smooth face-free picture with the face pasted at (x, y), `side` pixels wide, parts outside cut off."""
    background = cv2.resize(made_up_image(np.random.default_rng(5), 64), (size, size), interpolation=cv2.INTER_CUBIC)
    pasted = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    xs, ys = slice(max(0, x), min(size, x + side)), slice(max(0, y), min(size, y + side))
    background[ys, xs] = pasted[ys.start - y:ys.stop - y, xs.start - x:xs.stop - x]
    return background


def ab(rgb):
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 1:]


@pytest.mark.slow
def test_calibration_is_deterministic_and_calibrate_faces_reproduces_the_shipped_framing(face, real_split, tmp_path,
                                                                                        capsys):
    from calibrate_faces import main as calibrate_main

    pictures = [face, cv2.flip(face, 1), cv2.resize(skimage.data.astronaut()[20:300, 120:400], (128, 128))]
    Ls = [lightness(p) for p in pictures]
    assert calibrate(Ls) == calibrate(Ls) and calibrate(Ls)["faces_found"] == 3
    calibrate_main(["--data", str(real_split), "--out", str(tmp_path / "framing.json")])
    assert json.loads((tmp_path / "framing.json").read_text()) == json.loads(FRAMING_FILE.read_text())
    assert "faces found in 645 of 675 training pictures" in capsys.readouterr().out


@pytest.mark.slow
def test_eval_faces_scores_face_aware_colour_on_test_faces_in_scenes(real_data, tmp_path, capsys):
    from eval_faces import main as eval_faces_main

    for part, names in (("train", sorted(real_data.glob("*.jpg"))[:2]), ("test", sorted(real_data.glob("*.jpg"))[2:8])):
        (tmp_path / "split" / part).mkdir(parents=True)
        for name in names:
            (tmp_path / "split" / part / name.name).write_bytes(name.read_bytes())
    eval_faces_main(["--data", str(tmp_path / "split"), "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "test" / "faces_in_scenes.json").read_text())["summary"]
    assert summary["scenes"] == 6 and summary["hits"] >= 4
    assert summary["face_aware"] < 0.7 * summary["face_plain"]  # the README's 75 scenes: 51.19 -> 16.77
    assert (tmp_path / "out" / "test" / "scenes.png").stat().st_size > 10_000
    assert "detector found the face in" in capsys.readouterr().out


def test_a_face_crop_gives_todays_output_exactly(classifier, face):
    framing = load_framing()
    assert detect(lightness(face)) and find_faces(lightness(face), framing, 40) == []
    aware, plain = (colorize(classifier, [face], 128, CPU, faces=f)[0] for f in ((framing, 40), None))
    assert aware.faces == 0 and np.array_equal(aware.rgb, plain.rgb)


def test_a_pasted_face_gets_the_crops_colours_and_far_from_it_nothing_changes(classifier, face):
    photo = scene(face, 160, 300, 200)
    framing = load_framing()
    aware, plain = (colorize(classifier, [photo], 128, CPU, faces=f)[0] for f in ((framing, 40), None))
    assert aware.faces == 1
    alone = colorize(classifier, [face], 128, CPU)[0].rgb  # what the model gives the face as a crop
    region = np.s_[200 + 24:200 + 136, 300 + 24:300 + 136]  # inside the face, away from its edges
    crop_ab = ab(cv2.resize(alone, (160, 160), interpolation=cv2.INTER_AREA))[24:136, 24:136]
    near, far = (np.abs(ab(result.rgb)[region] - crop_ab).mean() for result in (aware, plain))
    assert near < 3 and far > 2 * near
    left = int(min(x0 for x0, _, _ in framings(crop_square(detect(lightness(photo))[0], framing))))
    assert 150 < left < 300  # every crop square starts right of this column
    assert np.array_equal(aware.rgb[:, :left], plain.rgb[:, :left]) and not np.array_equal(aware.rgb, plain.rgb)


def test_a_close_up_face_is_coloured_with_the_photo_and_a_smaller_face_beside_it_gets_its_own_crops(classifier,
                                                                                                       face):
    framing = load_framing()
    photo = scene(face, 90, 505, 400, size=600)[:500].copy()  # a small face in the bottom right corner...
    photo[:480, :480] = cv2.resize(face, (480, 480), interpolation=cv2.INTER_CUBIC)  # ...beside a close-up
    found = [crop_square(box, framing) for box in detect(lightness(photo))]
    assert len(found) == 2 and any(side >= 0.8 * 500 for _, _, side in found)  # the close-up's crop spans it
    faces = find_faces(lightness(photo), framing, 40)
    assert len(faces) == 1 and faces[0][len(faces[0]) // 2][0] > 400  # the small face alone, at its place
    aware, plain = (colorize(classifier, [photo], 128, CPU, faces=f)[0] for f in ((framing, 40), None))
    assert aware.faces == 1
    small = np.s_[410:480, 515:585]
    assert np.abs(ab(aware.rgb)[small] - ab(plain.rgb)[small]).mean() > 2  # the small face has its own colour
    assert np.array_equal(aware.rgb[:300, :300], plain.rgb[:300, :300])  # the close-up: the whole photo's


def test_a_photo_without_a_face_is_unchanged(classifier):
    photo = cv2.resize(made_up_image(np.random.default_rng(2), 64), (640, 480), interpolation=cv2.INTER_CUBIC)
    aware, plain = (colorize(classifier, [photo], 128, CPU, faces=f)[0] for f in ((load_framing(), 40), None))
    assert aware.faces == 0 and np.array_equal(aware.rgb, plain.rgb)


def test_a_face_cut_by_the_border_is_cropped_without_error(classifier, face):
    photo = scene(face, 200, -30, 380)  # 30 px of the face cut off by the left edge
    squares = find_faces(lightness(photo), load_framing(), 40)
    assert len(squares) == 1 and min(x0 for x0, _, _ in squares[0]) < 0  # its crops reach past the edge
    result = colorize(classifier, [photo], 128, CPU, faces=(load_framing(), 40))[0]
    assert result.rgb.shape == photo.shape and result.faces == 1


def test_the_looser_count_is_used_only_where_the_strict_one_finds_nothing(monkeypatch):
    import common.faces as faces

    astronaut, coffee = (lightness(getattr(skimage.data, name)()) for name in ("astronaut", "coffee"))
    assert faces.find_boxes(astronaut) == detect(astronaut)  # a face at 5 votes: the looser boxes are not taken
    assert faces.find_boxes(coffee) == []  # neither count sees a face in a cup of coffee
    calls = []

    def counted(found):
        def voted_boxes(L, min_size=40, neighbours=faces.NEIGHBOURS):
            calls.append(neighbours)
            return found
        return voted_boxes

    monkeypatch.setattr(faces, "voted_boxes", counted([((5, 5, 50, 50), 4), ((60, 60, 40, 40), 4)]))
    assert faces.find_boxes(astronaut) == [(5, 5, 50, 50)] and calls == [3]  # the largest looser box only, one pass
    monkeypatch.setattr(faces, "voted_boxes", counted([((5, 5, 50, 50), 4), ((60, 60, 40, 40), 6)]))
    assert faces.find_boxes(astronaut) == [(60, 60, 40, 40)]  # a strict box, though smaller, wins
    assert len(faces.framings(faces.crop_square((5, 5, 50, 50), load_framing()))) == 45


@pytest.mark.slow
def test_one_pass_at_the_looser_count_holds_the_strict_counts_boxes(face):
    """What find_boxes relies on: a box's votes and place do not depend on the count asked for."""
    from common.faces import FALLBACK_NEIGHBOURS, NEIGHBOURS, voted_boxes

    def turned(angle):  # a tilted face gets fewer votes: these land at 4 to 7
        return cv2.warpAffine(face, cv2.getRotationMatrix2D((64, 64), angle, 1.0), (128, 128),
                              borderMode=cv2.BORDER_REFLECT)

    rng = np.random.default_rng(3)
    pictures = [scene(face, int(rng.integers(60, 250)), *(int(v) for v in rng.integers(-40, 500, 2))) for _ in range(4)]
    pictures += [scene(turned(angle), side, 150, 150) for angle, side in ((23, 120), (24, 200), (-17, 200), (22, 200))]
    pictures += [getattr(skimage.data, name)() for name in ("astronaut", "coffee", "chelsea", "camera")]
    strict, loose = 0, 0
    for picture in pictures:
        L = lightness(picture)
        found = voted_boxes(L, 40, FALLBACK_NEIGHBOURS)
        assert [box for box, _ in found] == detect(L, 40, FALLBACK_NEIGHBOURS)
        assert [box for box, votes in found if votes > NEIGHBOURS] == detect(L, 40, NEIGHBOURS)
        strict, loose = strict + len(detect(L, 40, NEIGHBOURS)), loose + len(found)
    assert strict >= 5 and loose >= strict + 3  # faces both counts find, and boxes only the looser one keeps
