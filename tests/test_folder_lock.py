"""One writer per output folder: a second run is refused with the holder named, a killed holder
leaves no stale lock."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from cloudbench.cli import main
from cloudbench.errors import UserError
from cloudbench.folder_lock import exclusive

HOLD = """
import sys, time
from cloudbench.folder_lock import exclusive
with exclusive(sys.argv[1], "download"):
    print("holding", flush=True)
    time.sleep(120)
"""


def test_second_writer_is_refused_until_the_first_is_done(tmp_path):
    with exclusive(tmp_path, "download"):
        with pytest.raises(UserError) as exc:
            with exclusive(tmp_path, "collocate"):
                pass
        assert "cloudbench download (pid" in exc.value.message and str(tmp_path) in str(exc.value)
        assert "another folder" in exc.value.fix
    with exclusive(tmp_path, "collocate") as path:  # released on exit
        assert "cloudbench collocate" in path.read_text()


def test_cli_refuses_a_folder_another_process_writes_and_a_kill_frees_it(tmp_path, capsys):
    out = tmp_path / "pairs"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        argv = ["collocate", "--archive", str(tmp_path / "archive"), "--region", "paper", "--out", str(out),
                "--no-progress"]
        (tmp_path / "archive").mkdir()
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 1
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and str(out) in err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    with exclusive(out, "collocate"):  # the kernel dropped the killed holder's lock
        pass
