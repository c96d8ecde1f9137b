"""train-baseline and evaluate end to end on a real DATASET/, every model, plus their error exits."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloudbench.cli import main
from cloudbench.models import MODEL_NAMES

CLI = Path(sys.executable).with_name("cloudbench")


def _run(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


@pytest.fixture(scope="module")
def runs(fake_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name in MODEL_NAMES:
        run = root / name
        code = _run(["train-baseline", "--dataset", str(fake_dataset), "--model", name, "--out", str(run),
                     "--epochs", "2", "--batch-size", "4", "--size", "tiny", "--device", "cpu", "--seed", "1"])
        assert code == 0
        out[name] = run
    return out


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_trains_and_reports(runs, name):
    run = runs[name]
    doc = json.loads((run / "metrics.json").read_text())
    assert doc["model"]["name"] == name and doc["model"]["parameters"] > 0
    assert len(doc["history"]) == 2 and doc["split"] == "test"
    m = doc["metrics"]
    assert sum(map(sum, m["confusion_matrix"])) == m["labeled_voxels"] > 0
    assert set(doc["baselines"]) == {"majority-class", "bt-threshold"}
    assert {"macro_cloud", "macro_all", "micro_all", "micro_cloud", "cloud_mask", "per_level", "complex_columns"} <= set(m)
    assert "macro_all" in m["definitions"]
    for fig in doc["figures"]:
        assert (run / fig).stat().st_size > 1000
    report = (run / "report.md").read_text()
    assert "| ice |" in report and "Definitions" in report
    assert (run / "checkpoints" / "best.pt").exists() and (run / "checkpoints" / "last.pt").exists()


def test_evaluate_any_split_and_compare(runs, fake_dataset, tmp_path, capsys):
    ckpt = runs["sgmagnet"] / "checkpoints" / "best.pt"
    out = tmp_path / "eval"
    assert _run(["evaluate", "--dataset", str(fake_dataset), "--checkpoint", str(ckpt), "--split", "val",
                 "--out", str(out), "--device", "cpu"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["split"] == "val" and (out / "report.md").exists()
    # evaluating the same checkpoint on test reproduces the training run's test metrics
    assert _run(["evaluate", "--dataset", str(fake_dataset), "--checkpoint", str(ckpt), "--out", str(tmp_path / "t"),
                 "--device", "cpu"]) == 0
    again = json.loads((tmp_path / "t" / "metrics.json").read_text())
    first = json.loads((runs["sgmagnet"] / "metrics.json").read_text())
    assert again["metrics"] == first["metrics"]
    capsys.readouterr()
    assert _run(["evaluate", "--compare", *(str(runs[n]) for n in MODEL_NAMES)]) == 0
    table = capsys.readouterr().out
    assert all(n in table for n in MODEL_NAMES) and "macro F1 (all)" in table


def test_cli_subprocess_and_errors(runs, fake_dataset, tmp_path):
    missing = subprocess.run([str(CLI), "train-baseline", "--dataset", str(tmp_path / "nope"), "--out",
                              str(tmp_path / "r")], capture_output=True, text=True)
    assert missing.returncode == 1 and "nope" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    corrupt = subprocess.run([str(CLI), "evaluate", "--dataset", str(fake_dataset), "--checkpoint", str(bad)],
                             capture_output=True, text=True)
    assert corrupt.returncode == 2 and "bad.pt" in corrupt.stderr
    assert _run(["evaluate", "--compare", str(tmp_path / "empty")]) == 1
