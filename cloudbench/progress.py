"""Progress: bars where a person watches, one log line per stage where the output goes to a file.

A tqdm bar redraws itself with carriage returns several times a second; in a log file (``make demo >
log.txt``, a CI job, a batch scheduler) every redraw becomes a line, thousands per run. So a bar is
drawn only when it was asked for and both stdout and stderr are terminals. Otherwise the same call
returns a :class:`StageLine`, which counts silently and, when the stage ends, logs one line on the
``cloudbench.progress`` logger: what was done, how much, how long. Library code only logs; the CLI
decides that these lines go to stderr (:func:`show_stage_lines`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

log = logging.getLogger("cloudbench.progress")

_HANDLER_NAME = "cloudbench-stage-lines"


def _is_terminal(stream: Any) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def on_terminal() -> bool:
    """True when both the process's stdout and stderr are terminals.

    ``sys.__stdout__`` rather than ``sys.stdout``: the demo runs each command in-process with its stdout
    captured (to echo it), and the bars of those commands still belong on the user's terminal.
    """
    return _is_terminal(sys.__stdout__) and _is_terminal(sys.stderr)


def _amount(n: float, unit: str) -> str:
    if unit == "B":
        for name, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if n >= size:
                return f"{n / size:.1f} {name}"
        return f"{int(n)} B"
    return f"{int(n)} {unit}"


class StageLine:
    """Stands in for a tqdm bar (``update``, ``set_postfix``, ``set_postfix_str``, ``close``, context manager) and logs one
    line when closed, e.g. ``collocate: 12/12 job in 41.3 s``."""

    def __init__(self, total: float | None, desc: str, unit: str = "it"):
        self.total, self.desc, self.unit = total, desc, unit
        self.n = 0
        self.postfix = ""
        self._start = time.perf_counter()
        self._closed = False
        self._lock = threading.Lock()  # download workers tick from several threads

    def update(self, n: float = 1) -> None:
        with self._lock:
            self.n += n

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        done = _amount(self.n, self.unit)
        if self.total is not None and self.unit != "B":
            done = f"{int(self.n)}/{int(self.total)} {self.unit}"
        elif self.total is not None:
            done = f"{done} of {_amount(self.total, 'B')}"
        tail = f" ({self.postfix})" if self.postfix else ""
        log.info("%s: %s in %.1f s%s", self.desc, done, time.perf_counter() - self._start, tail)

    def __enter__(self) -> StageLine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(total: float | None, desc: str, unit: str = "it", *, enabled: bool = True, **tqdm_kwargs: Any):
    """A tqdm bar when ``enabled`` and on a terminal, else a :class:`StageLine` (same methods)."""
    if enabled and on_terminal():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, **tqdm_kwargs)
    return StageLine(total, desc, unit)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each line (tests and the demo swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def show_stage_lines() -> None:
    """Print the stage lines (INFO on ``cloudbench.progress``) on stderr; calling it again changes nothing."""
    if any(h.get_name() == _HANDLER_NAME for h in log.handlers):
        return
    handler = _CurrentStderr()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
