import pickle

import pytest
import torch

from common.checkpoint import load_checkpoint, load_model, save_checkpoint
from common.cli import UserError
from common.models import Classifier, Colorizer, MeanChromaRegressor
from ensemble import main as ensemble_main
from test_colorizer import main as evaluate_main


class Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path, capsys):
    victim = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"model": "colorizer", "state_dict": {}, "x": Payload(str(victim))}, evil)
    assert not victim.exists()
    with pytest.raises(UserError, match="could run code"):
        load_checkpoint(evil)
    assert not victim.exists()
    with pytest.raises(SystemExit):
        evaluate_main(["--checkpoint", str(evil), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "evil.pt" in err and not victim.exists()


def test_truncated_foreign_and_missing_files_each_give_one_line(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, Colorizer())
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pt").write_text("hello")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with open(tmp_path / "pickle.pt", "wb") as f:
        pickle.dump([1, 2, 3], f)
    for name, message in [("cut.pt", "not a readable checkpoint"), ("text.pt", "not a readable checkpoint"),
                          ("foreign.pt", "not a checkpoint of this project"), ("missing.pt", "no such checkpoint"),
                          ("pickle.pt", "not a readable checkpoint|could run code")]:
        with pytest.raises(UserError, match=message) as e:
            load_checkpoint(tmp_path / name)
        assert name in str(e.value) and "\n" not in str(e.value)


def test_other_architecture_says_what_it_holds(tmp_path):
    path = tmp_path / "reg.pt"
    save_checkpoint(path, MeanChromaRegressor())
    with pytest.raises(UserError, match="holds a regressor model, but a colorizer was asked for"):
        load_checkpoint(path, expect=["colorizer"])


def test_atomic_save_leaves_no_temporary_and_round_trips(tmp_path):
    model = Colorizer((4, 4, 4, 4, 4))
    save_checkpoint(tmp_path / "m.pt", model, metrics={"test_loss": 1.5})
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    state = load_checkpoint(tmp_path / "m.pt")
    assert state["config"] == {"features": [4, 4, 4, 4, 4], "tanh": False, "unet": False, "hints": False,
                               "mirror": False}
    assert state["metrics"]["test_loss"] == 1.5
    assert all(torch.equal(state["state_dict"][k], v) for k, v in model.state_dict().items())


def test_an_ensemble_of_trained_files_loads_as_one_checkpoint_and_refuses_files_that_cannot_be_members(tmp_path,
                                                                                                        capsys):
    torch.manual_seed(0)
    calm, vivid = Colorizer((4, 4, 4, 4, 4), unet=True), Classifier((4, 4, 4, 4, 4), temperature=0.7, mirror=True)
    for name, model in (("calm.pt", calm), ("vivid.pt", vivid), ("hints.pt", Colorizer((4,) * 5, hints=True)),
                        ("mean.pt", MeanChromaRegressor())):
        save_checkpoint(tmp_path / name, model, args={"size": 32})
    save_checkpoint(tmp_path / "big.pt", Colorizer((4,) * 5), args={"size": 64})
    ensemble_main([str(tmp_path / "calm.pt"), str(tmp_path / "vivid.pt"), "--out", str(tmp_path / "pair.pt")])
    model, state = load_model(tmp_path / "pair.pt", "cpu")
    assert state["model"] == "ensemble" and state["args"]["size"] == 32
    assert [m["config"] for m in state["config"]["members"]] == [calm.config, vivid.config]
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        alone = [m.eval().predict_ab(m(x), (32, 32)) for m in (calm, vivid)]
        assert torch.allclose(model.eval()(x), (alone[0] + alone[1]) / 2, atol=1e-5)
    capsys.readouterr()
    for files, said in [(["calm.pt", "hints.pt"], "hints.pt: holds a hint colorizer"),
                        (["mean.pt", "calm.pt"], "mean.pt: holds a regressor"),
                        (["calm.pt", "big.pt"], "trained at sizes [32, 64]"), (["calm.pt"], "at least two"),
                        (["calm.pt", "gone.pt"], "gone.pt: no such checkpoint")]:
        with pytest.raises(SystemExit):
            ensemble_main([*(str(tmp_path / f) for f in files), "--out", str(tmp_path / "no.pt")])
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err and not (tmp_path / "no.pt").exists()


def test_checkpoints_side_by_side_are_named_by_file_then_run_folder_then_path():
    from pathlib import Path

    from test_colorizer import checkpoint_names

    shipped = [Path("pretrained/network3.pt"), Path("pretrained/unet.pt")]
    assert checkpoint_names(shipped) == ["network3", "unet"]
    runs = [Path("runs/experiments/unet-seed43/model.pt"), Path("runs/experiments/classifier-unet-seed43/model.pt"),
            Path("pretrained/network3.pt")]
    assert checkpoint_names(runs) == ["unet-seed43", "classifier-unet-seed43", "network3"]  # no folder "model.pt"
    clash = [Path("a/run/model.pt"), Path("b/run/model.pt")]
    assert checkpoint_names(clash) == ["a/run/model.pt", "b/run/model.pt"]
