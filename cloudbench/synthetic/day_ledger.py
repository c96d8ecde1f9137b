"""ARCHIVE/synth-ledger.jsonl: one line per synthetic day whose files are all written.

``cloudbench synth`` writes a span one UTC day at a time and appends a day's line only after every
file of that day is in place (each file itself is written under a temporary name and renamed). The
line lists the day's files with size and sha256 and the settings that decided their bytes, so a
rerun with the same settings skips a day only when all its files are still there, unchanged; a day
cut short by a kill has no line and is written again from the start. Lines are appended and fsynced
by one writer (the folder lock keeps a second ``synth`` out), so a kill leaves at most a torn last
line, which the reader skips.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from cloudbench.checksums import sha256_file

LEDGER_NAME = "synth-ledger.jsonl"


@dataclass(frozen=True)
class DayFile:
    """One written file of a day: product (``vfm``, ``cldclass-lidar``, ``imager``), ARCHIVE-relative path."""

    product: str
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DayEntry:
    """A complete day: its files and how many granules and slots it holds."""

    day: str  # YYYY-MM-DD (UTC)
    settings: dict
    files: tuple[DayFile, ...]
    slots: int
    seconds: float

    def to_json(self) -> str:
        doc = {"day": self.day, "settings": self.settings, "slots": self.slots, "seconds": round(self.seconds, 2),
               "files": [f.__dict__ for f in self.files], "time": datetime.now(UTC).isoformat(timespec="seconds")}
        return json.dumps(doc, sort_keys=True)


class DayLedger:
    """Reads and appends ARCHIVE/synth-ledger.jsonl (one writer at a time: hold the folder lock)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.path = self.root / LEDGER_NAME
        self._entries: dict[tuple[str, str], DayEntry] = {}
        self._load()

    @staticmethod
    def _settings_id(settings: dict) -> str:
        return json.dumps(settings, sort_keys=True)

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as f:
            for line in f:
                try:
                    doc = json.loads(line)
                    entry = DayEntry(doc["day"], doc["settings"], tuple(DayFile(**x) for x in doc["files"]),
                                     int(doc["slots"]), float(doc["seconds"]))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # a line torn by a kill mid-write
                self._entries[(entry.day, self._settings_id(entry.settings))] = entry

    def get(self, day: date, settings: dict) -> DayEntry | None:
        """The day's entry written with exactly these settings, if any."""
        return self._entries.get((day.isoformat(), self._settings_id(settings)))

    def complete(self, day: date, settings: dict) -> DayEntry | None:
        """The day's entry if every file it lists is on disk with the recorded size and sha256, else None."""
        entry = self.get(day, settings)
        if entry is None:
            return None
        for f in entry.files:
            p = self.root / f.path
            if not p.is_file() or p.stat().st_size != f.size or sha256_file(p) != f.sha256:
                return None
        return entry

    def record(self, day: date, settings: dict, files: list[tuple[str, Path]], slots: int, seconds: float) -> DayEntry:
        """Hash the day's files and append its line; call only once every file is in place."""
        listed = tuple(
            DayFile(product, Path(p).relative_to(self.root).as_posix(), Path(p).stat().st_size, sha256_file(p))
            for product, p in files
        )
        entry = DayEntry(day.isoformat(), settings, listed, slots, seconds)
        self.root.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (entry.to_json() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._entries[(entry.day, self._settings_id(settings))] = entry
        return entry

    def _repair_tail(self) -> None:
        """End a line torn by a kill with a newline so the next line starts clean."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
        if last != b"\n":
            with self.path.open("ab") as f:
                f.write(b"\n")
