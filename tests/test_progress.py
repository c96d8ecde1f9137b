"""Progress bars only on a terminal; elsewhere one line per stage (cloudbench.progress)."""

from __future__ import annotations

import logging
import subprocess
import sys

from cloudbench import progress
from cloudbench.progress import StageLine, progress_bar


def test_off_a_terminal_a_stage_logs_one_line(caplog):
    caplog.set_level(logging.INFO, logger="cloudbench.progress")
    bar = progress_bar(3, "collocate", "job", enabled=True)  # pytest's streams are not terminals
    assert isinstance(bar, StageLine)
    for _ in range(3):
        bar.update(1)
    bar.set_postfix(loss="0.123")
    bar.close()
    bar.close()  # a second close adds nothing
    lines = [r.getMessage() for r in caplog.records if r.name == "cloudbench.progress"]
    assert len(lines) == 1
    assert lines[0].startswith("collocate: 3/3 job in ") and lines[0].endswith("(loss=0.123)")


def test_bytes_are_shown_in_binary_units(caplog):
    caplog.set_level(logging.INFO, logger="cloudbench.progress")
    with progress_bar(3 * 1024**2, "imagery", "B", enabled=False) as bar:
        bar.update(1024**2 + 512 * 1024)
    assert caplog.records[-1].getMessage().startswith("imagery: 1.5 MiB of 3.0 MiB in ")


def test_a_bar_only_when_asked_and_on_a_terminal(monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    bar = progress_bar(2, "x", enabled=True, disable=True)  # tqdm itself, kept quiet here
    assert not isinstance(bar, StageLine) and hasattr(bar, "format_dict")
    bar.close()
    assert isinstance(progress_bar(2, "x", enabled=False), StageLine)
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    assert isinstance(progress_bar(2, "x", enabled=True), StageLine)


def test_synth_to_a_pipe_prints_a_line_per_stage_and_no_bar(tmp_path):
    """A real command with its output going to pipes: no carriage returns, one line for the slot stage."""
    for extra in ([], ["--no-progress"]):
        out = tmp_path / f"archive{len(extra)}"
        proc = subprocess.run(
            [sys.executable, "-c", "from cloudbench.cli import main; main()", "synth", "--out", str(out),
             "--start", "2018-10-01T03:00", "--end", "2018-10-01T03:40", "--labels", "vfm", "--bands", "B13",
             "--reduction", "20", *extra],
            capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "\r" not in proc.stderr and "\r" not in proc.stdout
        slot_lines = [line for line in proc.stderr.splitlines() if line.startswith("imager slots: ")]
        assert len(slot_lines) == 1, proc.stderr
