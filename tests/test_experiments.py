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
            run(tmp_path / "c", net=3, classifier=True), run(tmp_path / "old", net=3, loss="classify")]
    experiments_main([*runs, "--out", str(tmp_path / "table.md")])
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert len(lines) == 6 and lines == capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| Network 1 | 32.89 | 20.5 | 20.4 |")
    assert lines[3].startswith("| Network 3 tanh | 0.0013 |")
    assert lines[4].startswith("| Classifier, Network 3 backbone, T = 0.38 | - |")
    assert lines[5] == lines[4]  # a run made before --classifier, when the flag was --loss classify
    assert lines[2].endswith("| 10 | 2.0 |")


def test_missing_run_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        experiments_main([str(tmp_path / "nope")])
    assert "metrics.json: missing" in capsys.readouterr().err
