"""ARCHIVE/ledger.jsonl: one line per file that arrived verified, append-only, fsynced.

The ledger is what makes re-runs idempotent and a killed run safe: a file counts as fetched only
when its line exists and the file on disk still has the recorded size. Lines are appended by one
writer under a lock and fsynced, so a SIGKILL leaves at most a torn last line, which readers skip.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LEDGER_NAME = "ledger.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    """A verified file: where it came from, where it is, and how it was checked."""

    path: str  # relative to ARCHIVE/
    source: str  # URL fetched from
    catalog: str
    size: int
    checksum: str | None  # the archive's own checksum that was verified, "algo:hex"
    sha256: str  # always computed on arrival (the manifest's checksum)
    time: str  # UTC ISO time of arrival

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


class Ledger:
    """Reads and appends ARCHIVE/ledger.jsonl; safe to share between fetcher threads."""

    def __init__(self, archive: str | Path):
        self.archive = Path(archive)
        self.path = self.archive / LEDGER_NAME
        self._lock = threading.Lock()
        self._entries: dict[str, LedgerEntry] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as f:
            for line in f:
                try:
                    entry = LedgerEntry(**json.loads(line))
                except (json.JSONDecodeError, TypeError):
                    continue  # a line torn by a kill mid-write
                self._entries[entry.path] = entry

    def get(self, relpath: str) -> LedgerEntry | None:
        return self._entries.get(relpath)

    def __contains__(self, relpath: str) -> bool:
        return relpath in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[LedgerEntry]:
        return list(self._entries.values())

    def record(self, *, path: str, source: str, catalog: str, size: int, checksum: str | None, sha256: str) -> LedgerEntry:
        """Append one verified file (once: a path already recorded is not written again)."""
        entry = LedgerEntry(path, source, catalog, size, checksum, sha256, datetime.now(UTC).isoformat(timespec="seconds"))
        with self._lock:
            if path in self._entries:
                return self._entries[path]
            self.archive.mkdir(parents=True, exist_ok=True)
            self._repair_tail()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (entry.to_json() + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            self._entries[path] = entry
        return entry

    def _repair_tail(self) -> None:
        """End a line torn by a kill with a newline so the next record starts clean."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
        if last != b"\n":
            with self.path.open("ab") as f:
                f.write(b"\n")
