"""One writer per output folder: a second ``download`` into the same ARCHIVE/, or a second ``collocate``
into the same PAIRS/, is refused while the first runs.

Two writers would fetch the same ``.part`` file or append interleaved ledgers; both stages are safe to
rerun after a stop, but not to run twice at once. The lock is an advisory ``flock`` on a file inside
the folder, so the kernel releases it when the holder exits for any reason (a kill included): there
is never a stale lock to clean up by hand. It serialises processes on one machine (or on file systems
that honour flock, as most NFS setups do); dask workers of one collocate run write their own jobs
and never take it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloudbench.errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not protected against a second writer
    fcntl = None

LOCK_NAME = ".cloudbench.lock"


@contextmanager
def exclusive(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold the folder's lock for the ``with`` block; UserError naming the holder when it is taken.

    Args:
        folder: The output folder (created if missing).
        what: The command taking it (``download``, ``collocate``), for the holder's record and the message.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    if fcntl is None:
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise UserError(
                f"{folder} is being written by {holder}",
                path=folder,
                fix=f"wait for that run to finish (a rerun resumes where it stopped), or give {what} another folder",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"cloudbench {what} (pid {os.getpid()})\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing releases the lock
