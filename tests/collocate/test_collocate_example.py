"""examples/collocate_on_cluster.py runs as its docstring says: a stand-in cluster, the same command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_example_collocates_the_archive(synthetic_archive, tmp_path):
    archive = tmp_path / "archive"
    shutil.copytree(synthetic_archive["root"], archive,
                    ignore=lambda d, names: [n for n in names if n == synthetic_archive["broken"].name])
    pairs = tmp_path / "pairs"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "collocate_on_cluster.py"), str(archive), str(pairs),
         "--region", "120,-40,160,40", "--workers", "2",
         "--extra", "--imager", "himawari", "--bands", "B13", "--patch-size", "16", "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "stand-in cluster at tcp://" in proc.stdout and "--scheduler tcp://" in proc.stdout
    report = json.loads((pairs / "report.json").read_text())
    assert report["jobs_done"] == 2 and report["jobs_skipped"] == 0 and report["pairs"] > 20
