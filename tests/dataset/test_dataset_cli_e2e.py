"""The installed ``cloudbench`` executable: build-splits then verify, as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

from cloudbench.dataset.testing import write_fake_pairs

EXE = str(Path(sys.executable).with_name("cloudbench"))


def test_build_splits_then_verify(tmp_path):
    pairs = write_fake_pairs(tmp_path / "PAIRS", days=8, samples_per_day=2, seed=1)
    out = tmp_path / "DATASET"
    run = subprocess.run([EXE, "build-splits", "--pairs", str(pairs), "--out", str(out), "--seed", "4",
                          "--ratios", "0.6,0.2,0.2", "--shard-size", "2", "--block-days", "3"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "split rule" in run.stdout and "summary.png" in run.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["splits"] == {"seed": 4, "ratios": [0.6, 0.2, 0.2], "holdout_region": None,
                                            "holdout_month": None, "block_days": 3, "block_epoch": "1970-01-01"}
    assert manifest["guard"]["block_tradeoff"]["block_days"] == 3 and "blocks of 3 day(s)" in run.stdout
    assert manifest["config"]["shard_size"] == 2
    run = subprocess.run([EXE, "verify", str(out), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["ok"] is True
    bad = subprocess.run([EXE, "build-splits", "--pairs", str(pairs), "--out", str(tmp_path / "D2"),
                          "--holdout-month", "2018-13"], capture_output=True, text=True)
    assert bad.returncode == 1 and "YYYY-MM" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run([EXE, "build-splits", "--pairs", str(pairs), "--out", str(tmp_path / "D3"),
                          "--block-days", "0"], capture_output=True, text=True)
    assert bad.returncode == 1 and "--block-days" in bad.stderr and "Traceback" not in bad.stderr
