import pickle

import pytest
import torch

from common.checkpoint import load_checkpoint, save_checkpoint
from common.cli import UserError
from common.models import Colorizer, MeanChromaRegressor
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
