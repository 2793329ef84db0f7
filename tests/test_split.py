import json
import subprocess
import sys

import pytest

from common.files import split_parts
from split_data import main as split_main
from tests.conftest import ROOT


def files(split, part):
    return sorted(p.name for p in split_parts(split)[part])


def test_real_split_is_675_75_disjoint_complete_and_repeatable(real_data, tmp_path):
    split_main(["--src", str(real_data), "--out", str(tmp_path / "a")])
    split_main(["--src", str(real_data), "--out", str(tmp_path / "b")])
    train, test = files(tmp_path / "a", "train"), files(tmp_path / "a", "test")
    assert (len(train), len(test)) == (675, 75)
    assert not set(train) & set(test)
    assert set(train) | set(test) == {p.name for p in real_data.glob("*.jpg")}
    assert (train, test) == (files(tmp_path / "b", "train"), files(tmp_path / "b", "test"))
    manifest = json.loads((tmp_path / "a" / "split.json").read_text())
    assert manifest["seed"] == 42 and manifest["train"] == train and manifest["test"] == test
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["prepared", "split.json"]  # no photo copied
    assert not list((tmp_path / "a").rglob("*.jpg"))


def test_seed_changes_split_and_rerun_with_other_settings_refuses(image_folder, tmp_path, capsys):
    out = tmp_path / "split"
    split_main(["--src", str(image_folder), "--out", str(out), "--test-size", "0.2"])
    first = files(out, "test")
    split_main(["--src", str(image_folder), "--out", str(out), "--test-size", "0.2"])  # same settings: no-op
    with pytest.raises(SystemExit) as e:
        split_main(["--src", str(image_folder), "--out", str(out), "--test-size", "0.2", "--seed", "7"])
    assert e.value.code == 2 and "--force" in capsys.readouterr().err
    assert files(out, "test") == first
    split_main(["--src", str(image_folder), "--out", str(out), "--test-size", "0.2", "--seed", "7", "--force"])
    second = files(out, "test")
    assert second != first and len(second) == len(first) == 4
    assert len(files(out, "train")) == 16 and not set(second) & set(files(out, "train"))


def test_within_splits_only_the_training_photos_and_reruns_as_recorded(image_folder, tmp_path, capsys):
    outer, inner = tmp_path / "split", tmp_path / "val"
    split_main(["--src", str(image_folder), "--out", str(outer), "--test-size", "0.2", "--size", "32"])
    split_main(["--within", str(outer), "--out", str(inner), "--test-size", "0.25", "--size", "32"])
    assert "(12 train / 4 validation, within" in capsys.readouterr().out
    train, validation = files(inner, "train"), files(inner, "test")
    assert (len(train), len(validation)) == (12, 4) and not set(train) & set(validation)
    assert set(train) | set(validation) == set(files(outer, "train"))  # never a photo of the outer test part
    split_main(["--out", str(inner), "--test-size", "0.25", "--size", "32"])  # the recorded --within is kept
    assert "split already in place (12 train / 4 validation" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        split_main(["--within", str(tmp_path / "nope"), "--out", str(tmp_path / "v2")])
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope" in err and "split.json" in err and err.count("\n") == 1


def test_missing_source_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        split_main(["--src", str(tmp_path / "nope"), "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope" in err and err.count("\n") == 1


@pytest.mark.slow
def test_split_in_place_is_checked_without_loading_torch(tiny_split, image_folder):
    """`make train` and `make test` run this check every time: it must not pay for torch and OpenCV."""
    probe = ("import sys; from split_data import main; main(sys.argv[1:]); "
             "print(sorted(m for m in ('torch', 'cv2') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe, "--src", str(image_folder), "--out", str(tiny_split),
                          "--test-size", "0.2", "--size", "32"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "split already in place (16 train / 4 test" in run.stdout and run.stdout.strip().endswith("[]")
