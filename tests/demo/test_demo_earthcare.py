"""``cloudbench demo --labels earthcare-ac-tc``, small: the whole chain on 2025 dates with EarthCARE labels.

Three days and one epoch (the default is eight days and twelve epochs; docs/earthcare.md gives its
measured time and scores). The demo runs in-process, as ``cloudbench demo`` runs it; what is checked
is that every stage went through the servers and the products it should: the AC__TC__2B frames from
the loopback STAC search with the MAAP token, the Himawari-9 segments from the S3 buckets, and a
dataset whose samples say so.
"""

from __future__ import annotations

import json
import socket
from datetime import date

import pandas as pd
import pytest

from cloudbench.demo import run_demo

LABELS = "earthcare-ac-tc"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def earthcare_demo(tmp_path_factory):
    lines: list[str] = []
    tokens: list[str] = []
    out = tmp_path_factory.mktemp("ec_demo") / "demo-out"
    result = run_demo(out, days=3, epochs=1, progress=False, bands=("B13", "B14"), labels=LABELS,
                      echo=lines.append, on_servers=lambda endpoints: tokens.append(endpoints.maap_token))
    return result, "\n".join(lines), tokens[0]


@pytest.mark.slow
def test_the_demo_runs_on_2025_dates_through_the_earthcare_servers(earthcare_demo):
    result, printed, token = earthcare_demo
    assert result.settings.dates == [date(2025, 2, 1), date(2025, 2, 3), date(2025, 2, 5)]
    assert "earthcare-ac-tc" in printed and "STAC (ESA MAAP) http://127.0.0.1:" in printed
    assert token and token not in printed  # the MAAP login goes through the environment, never printed
    ledger = [json.loads(x) for x in (result.archive / "ledger.jsonl").read_text().splitlines() if x]
    assert {line["catalog"] for line in ledger} == {"maap-stac", "noaa-s3"}
    frames = [line for line in ledger if line["catalog"] == "maap-stac"]
    assert frames and all(line["source"].startswith("http://127.0.0.1:") for line in frames)
    assert all(line["path"].startswith("earthcare/AC__TC__2B/2025/02/") for line in frames)
    assert not any(port_open(p) for p in result.ports) and len(result.ports) == 5


@pytest.mark.slow
def test_the_demo_dataset_and_evaluation_are_earthcare_over_himawari9(earthcare_demo):
    result, printed, _ = earthcare_demo
    index = pd.read_parquet(result.dataset / "index.parquet")
    assert set(index["label_product"]) == {LABELS} and set(index["platform"]) == {"himawari9"}
    assert set(index["split"]) >= {"train", "val", "test"}
    metrics = result.evaluation["metrics"]
    assert metrics["labeled_voxels"] > 0 and metrics["macro_all"]["f1"] is not None
    assert set(result.evaluation["baselines"]) == {"majority-class", "bt-threshold"}
    assert "macro_all" in result.table and "bt-threshold" in result.table
    record = json.loads((result.out / "demo.json").read_text())
    assert set(record["cpu_seconds"]) == set(record["seconds"]) and all(v >= 0 for v in record["cpu_seconds"].values())
