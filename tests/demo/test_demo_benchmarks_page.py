"""docs/benchmarks.md is rendered from benchmarks/results/*.json by benchmarks/report.py, never by hand."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_report():
    """benchmarks/ is not an installed package: load report.py from its file."""
    spec = importlib.util.spec_from_file_location("benchmarks_report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = _load_report()


def test_report_renders_every_measured_value(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "loader.json").write_text(json.dumps({"samples": 390, "zarr": {"samples_per_s": 641.537},
                                                     "meets_target": True}))
    (results / "made_up.json").write_text(json.dumps({"runs": [{"seconds": 12.25}, {"seconds": 13.5}]}))
    (results / "summary.json").write_text(json.dumps({"bench_loader": {"status": "ok"}}))
    text = report.render(results)
    assert "## loader: Loader speed" in text  # titled by benchmarks/bench_loader.py's docstring
    assert "| zarr.samples_per_s | 641.5 |" in text
    assert "| meets_target | true |" in text
    assert "| runs[1].seconds | 13.5 |" in text
    assert "## made_up: made_up" in text
    assert "summary" not in text.split("\n## ", 1)[1]

    page = tmp_path / "benchmarks.md"
    assert report.main(["--results", str(results), "--out", str(page), "--check"]) == 1
    assert report.main(["--results", str(results), "--out", str(page)]) == 0
    assert report.main(["--results", str(results), "--out", str(page), "--check"]) == 0
    (results / "loader.json").write_text(json.dumps({"samples": 391}))
    assert report.main(["--results", str(results), "--out", str(page), "--check"]) == 1


def test_docs_page_matches_the_results():
    """After ``make bench``, rerun ``python -m benchmarks.report`` so the page shows the new numbers."""
    assert report.main(["--results", str(ROOT / "benchmarks" / "results"),
                        "--out", str(ROOT / "docs" / "benchmarks.md"), "--check"]) == 0
