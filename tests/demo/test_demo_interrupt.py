"""Ctrl-C during the demo: the process ends and the loopback servers' ports are closed.

The synthetic archive (fixture ``small_source``) is copied into the demo folder first: the demo
reuses a complete one with the same settings, so the servers come up within seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudbench.demo import MARKER, SOURCE, run_demo

SMALL = ["--days", "3", "--bands", "B05,B13,B14", "--epochs", "1"]  # the settings of fixture small_source


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def seeded_demo_folder(small_source: Path, out: Path) -> Path:
    """A demo folder holding a copy of the complete synthetic archive, as an earlier run leaves it."""
    out.mkdir()
    (out / MARKER).touch()
    shutil.copytree(small_source, out / SOURCE)
    return out


def test_sigint_stops_servers_and_process(small_source, tmp_path):
    out = seeded_demo_folder(small_source, tmp_path / "demo")
    exe = Path(sys.executable).parent / "cloudbench"
    proc = subprocess.Popen([str(exe), "demo", "--out", str(out), "--no-progress", *SMALL],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen, ports = [], []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "S3 (NOAA buckets)" in line:
                ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", line)]
                break
        assert "reusing the complete synthetic archive" in "".join(seen)
        assert len(ports) == 5, "".join(seen)
        assert all(port_open(p) for p in ports[:2])  # S3 and HTTP (a bare probe of SFTP makes paramiko log)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(seen) + rest
    assert "Aborted." in rest or "Interrupted." in rest
    assert not any(line.startswith("Traceback") for line in rest.splitlines()), rest
    assert not any(port_open(p) for p in ports)


def test_interrupt_in_process_closes_ports(small_source, tmp_path):
    """The library call: an interrupt while the servers run leaves no port open in this process."""
    out = seeded_demo_folder(small_source, tmp_path / "demo")
    seen = {}

    def interrupt(endpoints):
        seen["ports"] = endpoints.ports
        assert all(port_open(p) for p in endpoints.ports[:2])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_demo(out, days=3, bands=("B05", "B13", "B14"), epochs=1, progress=False, on_servers=interrupt)
    assert len(seen["ports"]) == 5
    assert not any(port_open(p) for p in seen["ports"])


def test_refuses_a_folder_that_is_not_a_demo(tmp_path):
    from cloudbench.cli import main

    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(tmp_path), *SMALL])
    assert exc.value.code == 1
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_too_few_days_is_a_user_error(tmp_path, capsys):
    from cloudbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(tmp_path / "d"), "--days", "2"])
    assert exc.value.code == 1
    assert not (tmp_path / "d").exists()
