"""Photos prepared once and read per sample: preparing, continuing, checking the sources, and the streamed reader."""
import os
import shutil

import cv2
import numpy as np
import pytest
import torch

from common.cli import UserError
from common.data import CROP_RATIO, StreamedBatches, TrainBatches, crop_params, short_side_ratios, warp_pictures
from common.prepare import Prepared, prepare, prepared_part
from split_data import main as split_main
from tests.conftest import made_up_image, write_rgb


def made_up_photos(folder, count, shape=(24, 40), seed=0):
    """`count` colour photos of `shape` (height, width), landscape and portrait alternately."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        h, w = shape if i % 2 == 0 else shape[::-1]
        write_rgb(folder / f"p{i:03d}.png", cv2.resize(made_up_image(rng, 48), (w, h)))
    return sorted(folder.iterdir())


def part_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_photos_keep_their_aspect_with_the_short_side_at_the_size(tmp_path):
    paths = made_up_photos(tmp_path / "src", 4, shape=(30, 50))
    photos = Prepared(prepare(paths, tmp_path / "p", 20, workers=1), paths, 20)
    assert [photos.shape(i) for i in range(4)] == [(20, 33), (33, 20), (20, 33), (33, 20)]
    expected = cv2.resize(cv2.cvtColor(cv2.imread(str(paths[1])), cv2.COLOR_BGR2RGB), (20, 33),
                          interpolation=cv2.INTER_AREA)
    assert np.array_equal(photos.picture(1), expected)
    assert photos.squares[0:4].shape == (4, 3, 20, 20)
    assert np.array_equal(photos.squares[1:2][0].permute(1, 2, 0).numpy(), expected[6:26])  # the centre square


def test_bad_files_are_skipped_with_a_line_each_naming_them(tmp_path, capsys):
    rng = np.random.default_rng(2)
    src = tmp_path / "src"
    for i in range(3):
        write_rgb(src / f"good{i}.png", made_up_image(rng))
    (src / "empty.jpg").write_bytes(b"")
    (src / "notes.png").write_text("not an image at all")
    good = (src / "good0.png").read_bytes()
    (src / "cut.png").write_bytes(good[: len(good) // 3])
    cv2.imwrite(str(src / "gray.png"), made_up_image(rng)[..., 0])
    write_rgb(src / "gray3.jpg", np.repeat(made_up_image(rng)[..., :1], 3, axis=2))
    rgba = np.dstack([made_up_image(rng), np.full((32, 32), 128, np.uint8)])
    cv2.imwrite(str(src / "rgba.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    deep = made_up_image(rng).astype(np.uint16) * 257
    cv2.imwrite(str(src / "deep.png"), cv2.cvtColor(deep, cv2.COLOR_RGB2BGR))
    paths = sorted(src.iterdir())
    photos = Prepared(prepare(paths, tmp_path / "p", 32, workers=2), paths, 32)
    err = capsys.readouterr().err
    assert photos.names == ["deep.png", "good0.png", "good1.png", "good2.png", "rgba.png"]
    assert np.array_equal(photos.picture(0), (deep // 257).astype(np.uint8))
    for bad in ("empty.jpg", "notes.png", "cut.png", "gray.png", "gray3.jpg"):
        assert bad in err
    assert sum("warning: skipping" in line for line in err.splitlines()) == 5


def test_a_folder_without_usable_photo_is_an_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 nope")
    with pytest.raises(UserError, match="no usable colour photo"):
        prepare([tmp_path / "a.jpg"], tmp_path / "p", 32, workers=1)


def test_preparing_stopped_halfway_and_continued_gives_the_same_files(tmp_path):
    paths = made_up_photos(tmp_path / "src", 200)
    whole = prepare(paths, tmp_path / "whole", 24, workers=2)
    again = prepare(paths, tmp_path / "again", 24, workers=2)
    chunks = sorted(again.glob("chunk-*.json"))
    assert len(chunks) == 7  # 200 photos in chunks of 32
    for record in chunks[::2]:  # what a stop leaves: some chunks finished, the others not, no index
        record.unlink()
        record.with_suffix(".u8").rename(record.with_suffix(".tmp"))  # a half-written chunk left behind
    (again / "index.npy").unlink()
    before = {p: p.stat().st_mtime_ns for p in again.glob("chunk-*.u8")}
    prepare(paths, again, 24, workers=2)
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # finished chunks were not done again
    assert part_bytes(whole) == {k: v for k, v in part_bytes(again).items() if not k.endswith(".tmp")}


@pytest.mark.slow
def test_an_interrupted_split_continues_where_it_stopped(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    made_up_photos(tmp_path / "src", 500, shape=(240, 400))
    command = [sys.executable, "split_data.py", "--src", str(tmp_path / "src"), "--out", str(tmp_path / "split"),
               "--size", "200", "--workers", "1"]
    run = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    train = tmp_path / "split" / "prepared" / "200" / "train"
    while len(list(train.glob("chunk-*.json"))) < 2 and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=60) == 130 and "the same command continues" in run.stderr.read()
    assert not (train / "index.npy").exists()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    whole = prepare(sorted((tmp_path / "src").iterdir()), tmp_path / "whole", 200, workers=2)
    reference = Prepared(whole, sorted((tmp_path / "src").iterdir()), 200)
    continued = prepared_part(tmp_path / "split", "train", 200)
    assert len(continued) == 450
    for i in range(0, 450, 17):
        j = reference.names.index(continued.names[i])
        assert np.array_equal(continued.picture(i), reference.picture(j))


def test_a_changed_or_removed_photo_is_named_and_preparing_again_redoes_only_its_chunk(tmp_path, capsys):
    made_up_photos(tmp_path / "src", 100)
    split_main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "split"), "--size", "24", "--workers", "1"])
    assert len(prepared_part(tmp_path / "split", "train", 24)) == 90
    changed = tmp_path / "src" / prepared_part(tmp_path / "split", "train", 24).names[50]
    write_rgb(changed, made_up_image(np.random.default_rng(9), 40))
    with pytest.raises(UserError, match=f"{changed.name}: changed or removed since it was prepared"):
        prepared_part(tmp_path / "split", "train", 24)
    train = tmp_path / "split" / "prepared" / "24" / "train"
    before = {p.name: p.stat().st_mtime_ns for p in train.glob("chunk-*.u8")}
    split_main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "split"), "--size", "24"])
    redone = [p.name for p in train.glob("chunk-*.u8") if p.stat().st_mtime_ns != before[p.name]]
    assert redone == ["chunk-00001.u8"]
    photos = prepared_part(tmp_path / "split", "train", 24)
    assert photos.shape(50) == (24, 24)  # the new 40x40 picture
    os.remove(changed)
    with pytest.raises(UserError, match=f"{changed.name}: changed or removed"):
        prepared_part(tmp_path / "split", "train", 24)
    write_rgb(changed, made_up_image(np.random.default_rng(9), 40))
    split_main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "split"), "--size", "24"])
    chunk = train / "chunk-00002.u8"
    chunk.write_bytes(chunk.read_bytes()[:100])  # a prepared file cut short on the disk
    with pytest.raises(UserError, match="chunk-00002.u8: changed or removed"):
        prepared_part(tmp_path / "split", "train", 24)
    split_main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "split"), "--size", "24"])
    assert len(prepared_part(tmp_path / "split", "train", 24)) == 90


def test_crops_of_a_photo_that_is_not_square_keep_its_aspect():
    generator = torch.Generator().manual_seed(0)
    n = 2000
    for width, height in ((2.0, 1.0), (1.0, 1.5), (1.0, 1.0)):
        sides = torch.tensor([[width, height]], dtype=torch.float64).expand(n, 2)
        flip, w, h, cx, cy = crop_params(n, generator, sides=sides).double().unbind(1)
        aspect = (w * width) / (h * height)  # the crop's own width over its height, in pixels
        assert CROP_RATIO[0] / 1.16 <= aspect.min() and aspect.max() <= CROP_RATIO[1] * 1.16
        assert (w <= 1).all() and (h <= 1).all() and ((cx.abs() + w) <= 1 + 1e-6).all()
    square = crop_params(50, torch.Generator().manual_seed(3))  # the report's protocol, as before
    assert torch.equal(square, crop_params(50, torch.Generator().manual_seed(3), sides=torch.ones(50, 2).double()))


def test_a_round_thing_in_a_wide_photo_stays_round_in_training(tmp_path):
    picture = np.full((32, 96, 3), 200, np.uint8)
    cv2.circle(picture, (48, 16), 10, (20, 40, 160), -1)
    write_rgb(tmp_path / "src" / "wide.png", picture)
    paths = sorted((tmp_path / "src").iterdir())
    photos = Prepared(prepare(paths, tmp_path / "p", 32, workers=1), paths, 32)
    full_height = torch.tensor([[0.0, 1 / 3, 1.0, 0.0, 0.0]])  # a square crop of the whole height, in the middle
    out = warp_pictures([photos.picture(0)], full_height, 32)[0].numpy()
    disc = out[..., 2] > 0.4
    rows, cols = np.flatnonzero(disc.any(axis=1)), np.flatnonzero(disc.any(axis=0))
    assert abs((rows[-1] - rows[0]) - (cols[-1] - cols[0])) <= 1  # as tall as wide: not squashed 3:1
    batches = StreamedBatches(photos, batch_size=4, augment=8, size=32, seed=0)
    assert batches.sides[0].tolist() == [3.0, 1.0]
    L, ab = next(batches.epoch(0))
    assert L.shape == (4, 1, 32, 32) and ab.shape == (4, 2, 32, 32)


def test_streamed_batches_match_the_in_memory_ones_and_workers_change_nothing(tmp_path):
    rng = np.random.default_rng(5)
    for i in range(12):
        write_rgb(tmp_path / "src" / f"s{i:02d}.png", made_up_image(rng, 32))
    paths = sorted((tmp_path / "src").iterdir())
    photos = Prepared(prepare(paths, tmp_path / "p", 32, workers=1), paths, 32)
    memory = TrainBatches(photos.stacked(), 10, 3, 24, seed=4, pipeline="opencv")
    streamed = StreamedBatches(photos, 10, 3, 24, seed=4)
    helped = StreamedBatches(photos, 10, 3, 24, seed=4, workers=2)
    assert short_side_ratios(photos.shapes()).eq(1).all()
    for (L1, ab1), (L2, ab2), (L3, ab3) in zip(memory.epoch(1), streamed.epoch(1), helped.epoch(1), strict=True):
        assert (L1 - L2).abs().max() * 100 < 0.5 and (ab1 - ab2).abs().max() < 1.0  # remap rounds alike but not
        assert torch.equal(L2, L3) and torch.equal(ab2, ab3)


def test_training_streams_a_collection_of_any_shapes(tmp_path, capsys):
    from common.checkpoint import load_checkpoint
    from train_colorizer import main as train_main

    made_up_photos(tmp_path / "src", 30, shape=(40, 56))
    split_main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "split"), "--size", "32", "--test-size",
                "0.2"])
    shutil.rmtree(tmp_path / "split" / "prepared")  # training prepares what it needs on first use
    train_main(["--data", str(tmp_path / "split"), "--out", str(tmp_path / "run"), "--epochs", "1", "--net", "1",
                "--size", "32", "--augment", "2", "--batch-size", "8", "--device", "cpu", "--workers", "1"])
    state = load_checkpoint(tmp_path / "run" / "model.pt")
    assert state["args"]["reader"] == "auto" and state["metrics"]["images"] == 6
    assert "(stream reader, 1 workers)" in capsys.readouterr().out
    assert (tmp_path / "split" / "prepared" / "32" / "train" / "index.npy").is_file()
    with pytest.raises(SystemExit):
        train_main(["--data", str(tmp_path / "split"), "--out", str(tmp_path / "run2"), "--epochs", "1", "--net",
                    "1", "--size", "32", "--reader", "memory", "--device", "cpu"])
    assert "one shape" in capsys.readouterr().err
