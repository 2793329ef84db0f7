"""Films: colorize.py on clips (audio copied packet for packet, bad files one line each, nothing half-written), and
the steady colour on clips whose colour and motion are known (common/clips.py)."""
import cv2
import numpy as np
import pytest
import skimage.data
import torch

from colorize import main as colorize_main
from common.checkpoint import load_model
from common.clips import camera_move, joined, write_video
from common.hints import colour_ab, point_hints
from common.images import ImageError
from common.metrics import warp_error
from common.video import FilmColour, Steady, small_gray, write_clip
from tests.conftest import ROOT, write_rgb

CPU = torch.device("cpu")
SMALL = (180, 320)


@pytest.fixture(scope="module")
def classifier():
    return load_model(ROOT / "pretrained" / "classifier.pt", CPU)[0]


def gray(frames):
    return [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB) for f in frames]


def two_shots(count=12):
    return joined(camera_move(skimage.data.astronaut(), count, SMALL),
                  camera_move(skimage.data.coffee(), count, SMALL, zoom=(1.2, 1.0)))


def audio_packets(path):
    import av

    with av.open(str(path)) as clip:
        return [bytes(p) for p in clip.demux(clip.streams.audio[0]) if p.size]


def video_frames(path):
    import av

    with av.open(str(path)) as clip:
        video = clip.streams.video[0]
        return [f.to_ndarray(format="rgb24") for f in clip.decode(video)], video.average_rate


@pytest.mark.slow  # encodes and decodes H.264
def test_a_film_comes_back_coloured_at_its_size_and_rate_with_its_audio_untouched(tmp_path, capsys):
    write_video(tmp_path / "film.mp4", gray(two_shots().frames), fps=12)
    colorize_main([str(tmp_path / "film.mp4"), "-o", str(tmp_path / "out"), "--faces", "off"])
    frames, rate = video_frames(tmp_path / "out" / "film_color.mp4")
    assert len(frames) == 24 and frames[0].shape == (*SMALL, 3) and rate == 12
    spread = np.ptp(frames[5].astype(int), axis=2).mean()
    assert spread > 5  # coloured, not gray
    assert audio_packets(tmp_path / "out" / "film_color.mp4") == audio_packets(tmp_path / "film.mp4")
    assert "1 written" in capsys.readouterr().out and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "film_color.mp4"]


@pytest.mark.slow  # encodes and decodes H.264
def test_a_truncated_or_false_film_is_one_line_and_the_rest_is_written(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "good.mp4", gray(two_shots(4).frames), fps=12)
    data = (tmp_path / "in" / "good.mp4").read_bytes()
    (tmp_path / "in" / "cut.mp4").write_bytes(data[:len(data) // 2])
    (tmp_path / "in" / "notes.mp4").write_text("not a film")
    write_rgb(tmp_path / "in" / "photo.png", skimage.data.astronaut()[::4, ::4])
    with pytest.raises(SystemExit) as stop:
        colorize_main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--faces", "off"])
    err = capsys.readouterr().err
    assert stop.value.code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_color.mp4", "photo_color.png"]
    skipped = [line for line in err.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 2 and all("not a readable video" in line for line in skipped)
    assert "Traceback" not in err


@pytest.mark.slow  # encodes and decodes H.264
def test_ctrl_c_in_the_middle_of_a_film_leaves_no_file(tmp_path):
    write_video(tmp_path / "film.mp4", gray(two_shots(4).frames), fps=12)
    seen = []

    def colour(rgb):
        seen.append(1)
        if len(seen) == 5:
            raise KeyboardInterrupt
        return rgb

    with pytest.raises(KeyboardInterrupt):
        write_clip(tmp_path / "film.mp4", tmp_path / "film_color.mp4", colour)
    assert list(tmp_path.iterdir()) == [tmp_path / "film.mp4"]
    with pytest.raises(ImageError, match="not a readable video"):
        write_clip(tmp_path / "nothing.mp4", tmp_path / "x.mp4", colour)


def test_a_still_background_beside_a_moving_object_is_carried_as_still():
    rng = np.random.default_rng(0)
    background = np.tile(np.linspace(30, 70, SMALL[0], dtype=np.float32)[:, None], (1, SMALL[1]))
    patch = rng.uniform(20, 90, (60, 60)).astype(np.float32)
    frames = []
    for x in (100, 108):
        L = background.copy()
        L[60:120, x:x + 60] = patch
        frames.append(L)
    steady = Steady()
    steady.advance(frames[0])
    steady.advance(frames[1])
    map_x = steady.motion[0]
    beside = np.s_[60:120, 172:190]  # plain background within 20 pixels right of the object
    raw = steady.dis.calc(small_gray(frames[1]), small_gray(frames[0]), None)
    assert np.abs(raw[beside][..., 0]).mean() > 2  # the flow spills the motion onto it...
    assert np.abs(map_x - np.arange(SMALL[1]))[beside].max() < 0.5  # ...the colour stays where it is
    assert np.abs(map_x - np.arange(SMALL[1]) + 8)[70:110, 115:160].mean() < 1  # the object's comes with it


@pytest.mark.slow
def test_steady_colour_halves_the_warp_error_and_starts_afresh_at_a_cut(classifier):
    clip = two_shots()
    ways = {}
    for steady in (False, True):
        colour = FilmColour(classifier, 128, CPU, steady=steady)
        ways[steady] = [colour(frame) for frame in clip.frames]
    errors = {s: np.mean([warp_error(out[i - 1], out[i], back) for i, back in enumerate(clip.back) if back])
              for s, out in ways.items()}
    assert errors[True] < 0.5 * errors[False]
    truth_ab = [cv2.cvtColor(f.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 1:] for f in clip.frames]
    mse = {s: np.mean([((cv2.cvtColor(o.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 1:] - t) ** 2).mean()
                       for o, t in zip(out, truth_ab)]) for s, out in ways.items()}
    assert mse[True] < 1.1 * mse[False]
    assert np.array_equal(ways[True][12], ways[False][12])  # the cut: nothing carried from the astronaut
    assert not np.array_equal(ways[True][11], ways[False][11])


@pytest.mark.slow
def test_the_carried_share_sets_how_steady_the_colour_is(classifier):
    clip = two_shots()
    out = {carry: [colour(f) for f in clip.frames] for carry, colour in
           ((c, FilmColour(classifier, 128, CPU, carry=c)) for c in (0.0, 0.5, 0.9))}
    plain = FilmColour(classifier, 128, CPU, steady=False)
    assert all(np.array_equal(a, plain(f)) for a, f in zip(out[0.0], clip.frames))  # nothing carried: each frame alone
    errors = [np.mean([warp_error(frames[i - 1], frames[i], back) for i, back in enumerate(clip.back) if back])
              for frames in out.values()]
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.slow
def test_a_hint_on_one_frame_holds_through_its_shot_and_ends_at_the_cut(tmp_path):
    hint_model = load_model(ROOT / "pretrained" / "hints.pt", CPU)[0]
    clip = two_shots()
    green = (30, 160, 60)
    hints = point_hints([(160, 150, green)], SMALL, 128)
    plain = FilmColour(hint_model, 128, CPU)
    hinted = FilmColour(hint_model, 128, CPU, hints=hints, hint_frame=2)
    out = {name: [colour(f) for f in clip.frames] for name, colour in (("plain", plain), ("hinted", hinted))}
    target = colour_ab([green])[0]
    for t in (2, 6, 11):
        ab = {k: cv2.cvtColor(v[t].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 1:].reshape(-1, 2) for k, v in
              out.items()}
        pulled = [np.linalg.norm(ab[k] - target, axis=1).min() for k in ("plain", "hinted")]
        assert pulled[1] < pulled[0] - 5, t  # somewhere in the frame the hint's colour holds
    assert np.array_equal(out["plain"][12], out["hinted"][12])  # after the cut: no hint left
    assert np.array_equal(out["plain"][1], out["hinted"][1])  # before its frame: none yet


def test_eval_video_scores_both_ways_on_clips_of_the_test_faces(real_split, tmp_path, capsys):
    import json

    from eval_video import main as eval_video_main

    eval_video_main(["--data", str(real_split), "--frames", "8", "--faces", "off", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "video.json").read_text())
    assert result["fresh_after_cut"] and set(result["clips"]) == {"pan and zoom", "moving face", "cut"}
    pan = result["clips"]["pan and zoom"]
    assert pan["steady"]["warp_error"] < pan["frame by frame"]["warp_error"]
    assert (tmp_path / "strip.png").stat().st_size > 10_000 and "steady / plain" in capsys.readouterr().out
