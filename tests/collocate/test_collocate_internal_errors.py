"""A bug is never bad data: a programming error inside a reader stops the run with exit 4.

Only data errors (a file that cannot be read as its product) may cost a granule or a slot; a
TypeError or KeyError from the code must stop the run, name the error, and leave its traceback in
the run's log, instead of showing up as "skipped, damaged file" in the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudbench.cli import ERROR_LOG, main
from cloudbench.errors import DataError, is_data_error

BASE = ["--labels", "cldclass-lidar", "--bands", "B13", "--patch-size", "16", "--no-progress", "--no-quicklook"]


def _collocate(archive: Path, out: Path, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(["collocate", "--archive", str(archive), "--region", "120,-40,160,40", "--out", str(out), *BASE])
    return exc.value.code, capsys.readouterr().err


def _only_good_granule(synthetic_archive, tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "archive"
    shutil.copytree(synthetic_archive["root"], root, ignore=lambda d, names: [
        n for n in names if n in (synthetic_archive["broken"].name, synthetic_archive["twin"].name)])
    return root


def test_a_type_error_in_the_label_reader_stops_the_run_with_exit_4(synthetic_archive, tmp_path, monkeypatch,
                                                                     capsys):
    from cloudbench.sensors.cloudsat_cldclass_lidar import CloudsatCldclassLidar

    def buggy(self, path, grid):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(CloudsatCldclassLidar, "read_profiles", buggy)
    out = tmp_path / "pairs"
    code, err = _collocate(_only_good_granule(synthetic_archive, tmp_path), out, capsys)
    assert code == 4
    assert "internal error" in err and "TypeError" in err and "unsupported operand" in err
    log = out / ERROR_LOG
    assert log.exists() and "Traceback" in log.read_text() and "buggy" in log.read_text()
    ledger = out / "ledger.jsonl"
    assert not ledger.exists() or not any(json.loads(line).get("status") == "skipped"
                                          for line in ledger.read_text().splitlines())


def test_a_key_error_while_decoding_imagery_stops_the_run_not_the_slot(synthetic_archive, tmp_path, monkeypatch,
                                                                        capsys):
    from cloudbench.sensors.ahi_hsd import AhiHsd

    def buggy(self, path, band, rows=None):
        return {}["values"]

    monkeypatch.setattr(AhiHsd, "decode", buggy)
    out = tmp_path / "pairs"
    code, err = _collocate(_only_good_granule(synthetic_archive, tmp_path), out, capsys)
    assert code == 4 and "KeyError" in err
    report = out / "report.json"
    assert not report.exists() or not json.loads(report.read_text())["bad_imager_files"]


def test_a_damaged_file_is_still_a_data_error(synthetic_archive, tmp_path, capsys):
    """The other side of the line: the truncated granule is skipped (exit 3), as before."""
    import shutil

    root = tmp_path / "archive"
    shutil.copytree(synthetic_archive["root"], root)
    code, _ = _collocate(root, tmp_path / "pairs", capsys)
    assert code == 3
    report = json.loads((tmp_path / "pairs" / "report.json").read_text())
    assert [Path(s["file"]).name for s in report["skipped"]] == [synthetic_archive["broken"].name]


@pytest.mark.parametrize("exc, expected", [
    (DataError("truncated", path="x"), True), (OSError("HDF error"), True), (EOFError(), True),
    (TypeError("bug"), False), (KeyError("Rad"), False), (AttributeError("bug"), False), (ValueError("bug"), False),
])
def test_is_data_error(exc, expected):
    assert is_data_error(exc) is expected
