"""docs/quickstart.md runs as written: every ``sh`` and ``python`` block, in order, in one fresh folder.

The first block is a small ``cloudbench demo`` (a subprocess of the installed command), so this module
is also the end-to-end test of the demo: exit 0, the metrics table printed, the figures it names on
disk, and the loopback servers' ports closed once it is over.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cloudbench.demo import MARKER, SOURCE

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(kind: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(QUICKSTART.read_text(encoding="utf-8")) if lang == kind]


def env_with_venv() -> dict[str, str]:
    """The environment of an activated virtual environment: its bin/ first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "Agg"
    return env


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory, small_source):
    """Run the runnable blocks in document order in one folder; keep each one's result.

    The folder starts with the synthetic archive a first demo run would leave (the demo reuses it when
    its settings match, which the demo test checks), so the slowest step is not paid twice.
    """
    cwd = tmp_path_factory.mktemp("quickstart")
    (cwd / "demo-out").mkdir()
    (cwd / "demo-out" / MARKER).touch()
    shutil.copytree(small_source, cwd / "demo-out" / SOURCE)
    env = env_with_venv()
    results = []
    order = [(lang, body) for lang, body in BLOCK.findall(QUICKSTART.read_text(encoding="utf-8"))
             if lang in ("sh", "python")]
    for lang, body in order:
        argv = ["bash", "-euo", "pipefail", "-c", body] if lang == "sh" else [sys.executable, "-c", body]
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        results.append({"lang": lang, "body": body, "rc": proc.returncode, "out": proc.stdout, "err": proc.stderr})
        if proc.returncode != 0:
            break
    return cwd, results


def test_quickstart_has_runnable_blocks():
    assert any("cloudbench demo" in b for b in blocks("sh"))
    assert blocks("python")


def test_every_quickstart_block_runs(quickstart_run):
    _, results = quickstart_run
    assert len(results) == len(blocks("sh")) + len(blocks("python"))
    for r in results:
        assert r["rc"] == 0, f"block failed ({r['rc']}):\n{r['body']}\n--- stdout\n{r['out'][-3000:]}\n--- stderr\n{r['err'][-3000:]}"


def test_make_targets_in_quickstart_exist():
    """The ``console`` block shows make targets: each must be a real target of the Makefile."""
    targets = [line.split()[1] for body in blocks("console") for line in body.splitlines() if line.startswith("make ")]
    assert {"demo", "test"} <= set(targets)
    for target in targets:
        proc = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    dry = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "cloudbench demo" in dry


def test_demo_prints_metrics_and_leaves_figures(quickstart_run):
    cwd, results = quickstart_run
    demo = results[0]
    assert demo["rc"] == 0
    out = demo["out"]
    assert "reusing the complete synthetic archive" in out
    for command in ("download", "collocate", "build-splits", "verify", "train-baseline", "evaluate"):
        assert f"cloudbench {command}" in out
    assert "== metrics (test split) ==" in out
    table = out.split("== metrics (test split) ==", 1)[1].split("== figures ==", 1)[0]
    for row in ("clear", "ice", "mixed", "water", "macro_all", "cloud_mask", "majority-class", "bt-threshold"):
        assert re.search(rf"^{row}\s+(\d\.\d{{3}}|n/a)", table, re.M), f"no {row} row in\n{table}"
    figures = [line.strip() for line in out.split("== figures ==", 1)[1].splitlines()
               if line.strip().endswith(".png")]
    assert len(figures) >= 4
    for fig in figures:
        path = cwd / fig
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
    # the printed table is the evaluation written to disk, not a copy of something else
    doc = json.loads((cwd / "demo-out" / "run" / "eval-test" / "metrics.json").read_text())
    f1 = doc["metrics"]["macro_all"]["f1"]
    assert re.search(rf"^macro_all\s+\S+\s+\S+\s+{f1:.3f}", table, re.M)


def test_demo_servers_are_gone_afterwards(quickstart_run):
    cwd, results = quickstart_run
    record = json.loads((cwd / "demo-out" / "demo.json").read_text())
    ports = record["ports"]
    assert len(ports) == 5  # S3, CMR-style HTTP, SFTP, STAC, EUMETSAT Data Store
    printed = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", results[0]["out"])}
    assert set(ports) <= printed
    assert not any(port_open(p) for p in ports)
    # the download really went through them: granules over SFTP from loopback, imagery from the S3 buckets
    lines = [json.loads(x) for x in (cwd / "demo-out" / "archive" / "ledger.jsonl").read_text().splitlines() if x]
    catalogs = {line["catalog"] for line in lines}
    assert catalogs == {"cloudsat-dpc", "noaa-s3"}
    assert all(line["source"].startswith("sftp://127.0.0.1:") for line in lines if line["catalog"] == "cloudsat-dpc")


def test_plot_sample_example_runs_on_the_demo_dataset(quickstart_run, tmp_path):
    cwd, _ = quickstart_run
    png = tmp_path / "sample.png"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "plot_sample.py"), str(cwd / "demo-out" / "dataset"),
                           "--split", "test", "--out", str(png)],
                          capture_output=True, text=True, timeout=120, env=env_with_venv())
    assert proc.returncode == 0, proc.stderr
    assert "track pixels" in proc.stdout
    assert "'ice': 0, 'mixed': 0, 'water': 0" not in proc.stdout  # without --index: the cloudiest sample
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_output_to_a_file_has_stage_lines_not_bars(quickstart_run):
    """Output that is not a terminal (here: pipes, as with ``make demo > log.txt``) gets no progress bars,
    only one line per stage; a bar would leave carriage returns and hundreds of redraws."""
    _, results = quickstart_run
    demo = results[0]
    assert "\r" not in demo["out"] and "\r" not in demo["err"]
    assert len((demo["out"] + demo["err"]).splitlines()) < 300
    stage_lines = demo["err"].splitlines()
    for stage in ("label granules:", "imagery:", "collocate:", "build-splits:", "epoch 1/1:"):
        assert sum(line.startswith(stage) for line in stage_lines) == 1, (stage, demo["err"][-2000:])
