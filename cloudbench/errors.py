"""Typed errors that carry the file at fault and the fix, mapped to the CLI's exit codes.

Library code raises these and never exits; ``cloudbench.cli`` turns them into exit codes
(0 ok, 1 user error, 2 data error, 3 partial, 4 internal error) and one readable message without a
traceback. Only a data error may skip an input: :func:`is_data_error` is the one test of that, so a
bug in the code (a TypeError, a KeyError) is never reported as a damaged file.
"""

from __future__ import annotations

from pathlib import Path


class CloudbenchError(Exception):
    """Base class: every error the CLI knows how to report."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None, fix: str | None = None):
        self.path = None if path is None else str(path)
        self.fix = fix
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(f"{self.path}: {self.message}")
        else:
            parts.append(self.message)
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return "\n".join(parts)


class UserError(CloudbenchError, ValueError):
    """A bad option, a missing file or missing credentials: the user can fix it (exit 1)."""

    exit_code = 1


class MissingInputError(UserError, FileNotFoundError):
    """A path the user named does not exist (exit 1)."""


class CredentialsError(UserError, PermissionError):
    """Credentials are missing or were refused by the archive (exit 1)."""


class DataError(CloudbenchError, OSError):
    """A file exists but is corrupt, truncated or of another product (exit 2)."""

    exit_code = 2


class ChecksumError(DataError):
    """A downloaded or stored file does not match its recorded checksum (exit 2 alone, 3 in a batch)."""


class PartialError(CloudbenchError):
    """Some inputs were skipped; the run finished the rest and listed them in its report (exit 3)."""

    exit_code = 3

    def __init__(self, message: str, *, skipped: list[dict] | None = None, report: str | Path | None = None):
        self.skipped = list(skipped or [])
        self.report = None if report is None else str(report)
        fix = f"see the run report {self.report}" if self.report else None
        super().__init__(message, fix=fix)


class InternalError(CloudbenchError):
    """A bug in cloudbench, not in the input (exit 4): the traceback goes to the run's log."""

    exit_code = 4


def _library_data_errors() -> tuple[type[BaseException], ...]:
    """Exception types the file libraries raise on a damaged or foreign file."""
    import zlib

    types: list[type[BaseException]] = [OSError, EOFError, zlib.error]
    try:
        from pyhdf.error import HDF4Error

        types.append(HDF4Error)
    except ImportError:  # pragma: no cover - pyhdf is a base dependency
        pass
    return tuple(types)


def is_data_error(exc: BaseException) -> bool:
    """Whether an exception raised while reading one input means that input is bad (skip it).

    True for :class:`DataError` and for the I/O and format errors of the file libraries (OSError,
    which covers h5py, netCDF4 and truncated bz2 streams; EOFError; zlib.error; pyhdf's HDF4Error).
    False for everything else, including cloudbench's own user errors and any programming error:
    those must stop the run, never cost an input quietly.
    """
    if isinstance(exc, DataError):
        return True
    if isinstance(exc, CloudbenchError):
        return False
    return isinstance(exc, _library_data_errors())
