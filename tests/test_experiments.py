import json

import pytest

from experiments import main as experiments_main

METRICS = {"test_loss": 20.5, "mse_ab": 20.4, "psnr": 33.1, "ssim": 0.97, "ciede2000": 3.2, "auc": 0.96,
           "colourfulness": 27.0, "colourfulness_truth": 31.3, "train_seconds": 120, "temperature": 0.38}


def run(folder, **args):
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"metrics": METRICS, "args": {"epochs": 10, **args}}))
    return str(folder)


def test_table_puts_each_run_beside_the_report(tmp_path, capsys):
    runs = [run(tmp_path / "n1", net=1, tanh=False), run(tmp_path / "n3t", net=3, tanh=True),
            run(tmp_path / "c", net=3, classifier=True), run(tmp_path / "old", net=2, loss="classify"),
            run(tmp_path / "m", net=3, mirror=True)]
    experiments_main([*runs, "--out", str(tmp_path / "table.md")])
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert len(lines) == 7 and lines == capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| Network 1 | 32.89 | 20.5 | 20.4 |")
    assert lines[3].startswith("| Network 3 tanh | 0.0013 |")
    assert lines[4].startswith("| Classifier, Network 3 backbone, T = 0.38 | - |")
    assert lines[5].startswith("| Classifier, Network 2 backbone, T = 0.38 | - |")  # made when it was --loss classify
    assert lines[2].endswith("| 10 | 2 | - |")
    assert lines[6].startswith("| Network 3, mirrored | - |")  # the report's protocol has no mirror average


def test_seeds_of_one_configuration_become_mean_and_sd(tmp_path, capsys):
    runs = []
    for seed, mse in ((42, 10.0), (43, 12.0), (44, 14.0)):
        folder = tmp_path / f"n3-{seed}"
        folder.mkdir()
        folder.joinpath("metrics.json").write_text(json.dumps({"metrics": {**METRICS, "mse_ab": mse},
                                                               "args": {"epochs": 10, "net": 3, "seed": seed}}))
        runs.append(str(folder))
    experiments_main([*runs, run(tmp_path / "n1", net=1, seed=42)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| Network 3 | 22.19 | 20.5 | 12 +- 2 | 33.1 |")  # the same in every seed: no sd
    assert lines[2].endswith("| 42 43 44 |")
    assert lines[3].startswith("| Network 1 | 32.89 |") and lines[3].endswith("| 42 |")


def test_a_decoding_chosen_after_training_is_named_by_what_was_scored(tmp_path, capsys):
    """A shipped classifier trained without --mirror and scored mirrored is one seed of the mirrored recipe."""
    runs = []
    for seed, mirror, minutes in ((42, False, 100), (43, True, 284)):
        folder = tmp_path / f"c{seed}"
        folder.mkdir()
        scored = {**METRICS, "mirror": True, "temperature": 0.55, "train_seconds": minutes * 60}
        folder.joinpath("metrics.json").write_text(json.dumps(
            {"metrics": scored, "args": {"epochs": 200, "net": "unet", "classifier": True, "mirror": mirror,
                                         "seed": seed}}))
        runs.append(str(folder))
    experiments_main(runs)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("| Classifier, U-Net backbone, T = 0.55, mirrored | - |")
    assert lines[2].endswith("| 200 | 192 +- 130 | 42 43 |")  # whole minutes, not 1.9e+02 +- 1.3e+02


def test_curves_plot_the_test_loss_and_print_the_last_epochs_spread(tmp_path, capsys):
    runs = []
    for schedule, losses in (("none", [30, 12, 25, 9, 31]), ("cosine", [30, 14, 11, 10, 9.5])):
        folder = tmp_path / schedule
        folder.mkdir()
        folder.joinpath("metrics.json").write_text(json.dumps(
            {"metrics": METRICS, "args": {"lr_schedule": schedule}, "history": {"test_loss": losses}}))
        runs.append(str(folder))
    experiments_main([*runs, "--curves", str(tmp_path / "curves.png")])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("none (schedule none): last 5 epochs' test loss 9 to 31")
    assert printed[1].startswith("cosine (schedule cosine): last 5 epochs' test loss 9.5 to 30")
    assert (tmp_path / "curves.png").is_file()
    assert json.loads((tmp_path / "curves.json").read_text())["cosine (schedule cosine)"][-1] == 9.5


def test_missing_run_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        experiments_main([str(tmp_path / "nope")])
    assert "metrics.json: missing" in capsys.readouterr().err


def test_ensembles_scored_and_stored_become_rows_of_their_members_names_by_seed(tmp_path, capsys):
    import torch

    from common.checkpoint import save_checkpoint
    from common.models import Classifier, Colorizer
    from ensemble import main as ensemble_main

    files = []
    for seed in (42, 43):
        torch.manual_seed(seed)
        for name, model in (("calm", Colorizer((4,) * 5, unet=True)),
                            ("vivid", Classifier((4,) * 5, unet=True, temperature=0.55, mirror=True))):
            save_checkpoint(tmp_path / f"{name}{seed}.pt", model,
                            args={"size": 32, "seed": seed, "epochs": 10, "lr_schedule": "cosine"})
        pair = tmp_path / f"pair{seed}.pt"
        ensemble_main([str(tmp_path / f"calm{seed}.pt"), str(tmp_path / f"vivid{seed}.pt"), "--out", str(pair)])
        state = torch.load(pair, weights_only=True)
        scored = {k: v for k, v in METRICS.items() if k != "train_seconds"}  # what test_colorizer.py --store writes
        state["metrics"] = {**scored, "mse_ab": 6.0 + seed - 42}
        torch.save(state, pair)
        files.append(str(pair))
    capsys.readouterr()
    experiments_main(files)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # one row for both seeds
    assert lines[2].startswith("| Average of U-Net and Classifier, U-Net backbone, T = 0.55, mirrored | - | 20.5 | "
                               "6.5 +- 0.71 |")
    assert lines[2].endswith("| 10 | - | 42 43 |")  # its members' epochs and seeds; it trains nothing itself
