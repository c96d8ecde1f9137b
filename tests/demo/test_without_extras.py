"""The base install: every dataset-building command works without torch and without the demo servers,
and the commands that need an extra say which one instead of failing with an ImportError.

The extras are installed in the test environment, so each command runs in a subprocess whose
``sitecustomize`` makes them unimportable (as in a fresh ``pip install cloudphasebench``): any import
of torch or moto on the way of a base command fails these tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudbench.extras import DISTRIBUTION

from .conftest import SMALL

BLOCKER = '''
import sys

BLOCKED = {blocked!r}


class _NotInstalled:
    """Acts as if these top-level packages were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''

TRAIN_MODULES = ("torch",)
DEMO_MODULES = ("moto", "flask", "flask_cors", "boto3")


def _env(tmp_path: Path, blocked: tuple[str, ...]) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=set(blocked)), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    env["MPLBACKEND"] = "Agg"
    return env


def _cloudbench(args: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from cloudbench.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_the_blocker_blocks(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import torch"], env=_env(tmp_path, TRAIN_MODULES),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr


@pytest.mark.parametrize("command, extras", [
    ("train-baseline", "train"),
    ("evaluate", "train"),
    ("demo", "train,demo"),
])
def test_command_without_its_extra_exits_1_naming_it(tmp_path, command, extras):
    env = _env(tmp_path, TRAIN_MODULES + DEMO_MODULES)
    for args in ([command, "--help"], [command, "--out", str(tmp_path / "x")]):
        proc = _cloudbench(args, env)
        assert proc.returncode == 1, proc.stderr
        assert f"pip install '{DISTRIBUTION}[{extras}]'" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_demo_names_only_the_missing_extra(tmp_path):
    proc = _cloudbench(["demo", "--help"], _env(tmp_path, DEMO_MODULES))
    assert proc.returncode == 1 and f"'{DISTRIBUTION}[demo]'" in proc.stderr


def test_help_lists_every_command_and_what_is_missing(tmp_path):
    proc = _cloudbench(["--help"], _env(tmp_path, TRAIN_MODULES + DEMO_MODULES))
    assert proc.returncode == 0, proc.stderr
    for command in ("inspect", "download", "collocate", "build-splits", "verify", "synth"):
        line = next(line for line in proc.stdout.splitlines() if line.strip().startswith(command + " "))
        assert "not installed" not in line
    for command in ("train-baseline", "evaluate", "demo"):
        line = next(line for line in proc.stdout.splitlines() if line.strip().startswith(command + " "))
        assert "not installed" in line


@pytest.mark.parametrize("command", ["inspect", "download", "collocate", "build-splits", "verify", "synth"])
def test_base_command_help_works_without_extras(tmp_path, command):
    proc = _cloudbench([command, "--help"], _env(tmp_path, TRAIN_MODULES + DEMO_MODULES))
    assert proc.returncode == 0, proc.stderr
    assert "Usage: cloudbench " + command in proc.stdout


def test_dataset_chain_runs_without_extras(tmp_path, small_source):
    """download (from a mirror folder) -> collocate -> build-splits -> verify, and inspect, with
    torch and the demo servers unimportable."""
    env = _env(tmp_path, TRAIN_MODULES + DEMO_MODULES)
    archive, pairs, dataset = tmp_path / "archive", tmp_path / "pairs", tmp_path / "dataset"
    bands = ",".join(SMALL.bands)
    start, end = SMALL.span
    steps = [
        ["download", "--start", start.isoformat(), "--end", end.isoformat(), "--region", "paper",
         "--imager", "himawari", "--labels", "cldclass-lidar", "--bands", bands, "--out", str(archive),
         "--source-root", f"file://{small_source}", "--geometry-reduction", str(SMALL.reduction)],
        ["collocate", "--archive", str(archive), "--region", "paper", "--out", str(pairs), "--imager",
         "himawari", "--bands", bands, "--patch-size", str(SMALL.patch_size)],
        ["build-splits", "--pairs", str(pairs), "--out", str(dataset)],
        ["verify", str(dataset)],
    ]
    for args in steps:
        proc = _cloudbench(args, env)
        assert proc.returncode == 0, f"{args[0]}: {proc.stderr[-3000:]}"
    granule = next(archive.rglob("*CLDCLASS-LIDAR*.hdf"))
    proc = _cloudbench(["inspect", str(granule), "--json"], env)
    assert proc.returncode == 0 and '"product"' in proc.stdout, proc.stderr


def test_library_loader_without_torch_names_the_extra(tmp_path):
    code = ("import cloudbench\n"
            "try:\n    cloudbench.CloudbenchDataset\n"
            "except cloudbench.UserError as exc:\n    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path, TRAIN_MODULES),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"pip install '{DISTRIBUTION}[train]'" in proc.stdout
