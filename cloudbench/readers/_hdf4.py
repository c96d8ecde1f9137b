"""Shared pyhdf helpers: open HDF4 files and read SDS and Vdata with errors that name the file.

The HDF4 C library reports a truncated or foreign file as a bare ``HDF4Error`` ("SD (15): File
open failure") or, worse, reads past the end silently. These helpers check the file first (magic
number, every data descriptor inside the file's size) and turn every failure into a
``DataError`` that says which file and what is missing, so a bad download is never a traceback.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cloudbench.errors import DataError, MissingInputError

HDF4_MAGIC = b"\x0e\x03\x13\x01"
_DFTAG_NULL = 1
_DD_HEADER = struct.Struct(">HI")
_DD_ENTRY = struct.Struct(">HHII")


def sds_names(path: str | Path) -> set[str]:
    """Names of the SDS in an HDF4 file (pyhdf's HDF4Error when it is not one)."""
    from pyhdf.SD import SD, SDC

    sd = SD(str(path), SDC.READ)
    try:
        return set(sd.datasets())
    finally:
        sd.end()


def check_hdf4_file(path: str | Path, *, product: str = "HDF4") -> None:
    """Raise ``DataError`` unless ``path`` is a complete HDF4 file.

    Walks the data-descriptor blocks and checks that each data element lies inside the file, which
    catches a download cut short even when the HDF4 library would open it.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError("file not found", path=path, fix="check the path")
    size = path.stat().st_size
    with path.open("rb") as fh:
        if fh.read(4) != HDF4_MAGIC:
            raise DataError(
                f"not an HDF4 file (no HDF4 magic number); expected a {product} file",
                path=path,
                fix="check that the file is the product you meant, and download it again if it is",
            )
        offset = 4
        end_needed = 0
        seen = set()
        while offset:
            if offset in seen or offset + _DD_HEADER.size > size:
                raise DataError(
                    f"truncated HDF4 file: its descriptor block at byte {offset} lies past the end ({size} bytes)",
                    path=path,
                    fix="download the file again",
                )
            seen.add(offset)
            fh.seek(offset)
            ndd, next_offset = _DD_HEADER.unpack(fh.read(_DD_HEADER.size))
            raw = fh.read(ndd * _DD_ENTRY.size)
            if len(raw) < ndd * _DD_ENTRY.size:
                raise DataError(
                    f"truncated HDF4 file: descriptor block at byte {offset} is cut off ({size} bytes)",
                    path=path,
                    fix="download the file again",
                )
            entries = np.frombuffer(raw, dtype=">u2,>u2,>u4,>u4")
            valid = (entries["f0"] != _DFTAG_NULL) & (entries["f3"] != 0xFFFFFFFF) & (entries["f2"] != 0xFFFFFFFF)
            if valid.any():
                ends = entries["f2"][valid].astype(np.int64) + entries["f3"][valid].astype(np.int64)
                end_needed = max(end_needed, int(ends.max()))
            offset = next_offset
    if end_needed > size:
        raise DataError(
            f"truncated HDF4 file: data runs to byte {end_needed} but the file has only {size} bytes",
            path=path,
            fix="download the file again",
        )


class Hdf4File:
    """An open HDF4 file: SD for arrays, VS for tables, V for groups; everything named on error."""

    def __init__(self, path: str | Path, *, product: str = "HDF4"):
        from pyhdf.error import HDF4Error
        from pyhdf.SD import SD, SDC

        self.path = Path(path)
        self.product = product
        check_hdf4_file(self.path, product=product)
        try:
            self.sd = SD(str(self.path), SDC.READ)
        except HDF4Error as exc:
            raise DataError(f"cannot open as HDF4 ({exc}); expected a {product} file", path=self.path) from exc
        self._hdf = None
        self._vs = None

    # -- SD ---------------------------------------------------------------------------------------
    def sds_names(self) -> list[str]:
        return list(self.sd.datasets())

    def has_sds(self, name: str) -> bool:
        return name in self.sd.datasets()

    def read_sds(self, name: str) -> np.ndarray:
        """The whole SDS ``name`` as a numpy array; ``DataError`` if absent or unreadable."""
        from pyhdf.error import HDF4Error

        if not self.has_sds(name):
            raise DataError(
                f"missing SDS {name!r}: not a complete {self.product} file",
                path=self.path,
                fix=f"check that the file is a {self.product} file; download it again if it is",
            )
        try:
            sds = self.sd.select(name)
            try:
                return np.asarray(sds.get())
            finally:
                sds.endaccess()
        except HDF4Error as exc:
            raise DataError(f"SDS {name!r} is unreadable ({exc}); the file may be corrupt", path=self.path) from exc

    def sds_attributes(self, name: str) -> dict:
        sds = self.sd.select(name)
        try:
            return dict(sds.attributes())
        finally:
            sds.endaccess()

    def global_attributes(self) -> dict:
        return dict(self.sd.attributes())

    # -- VS ---------------------------------------------------------------------------------------
    @property
    def vs(self):
        if self._vs is None:
            import pyhdf.VS  # noqa: F401  (registers HDF.vstart)
            from pyhdf.HDF import HC, HDF

            self._hdf = HDF(str(self.path), HC.READ)
            self._vs = self._hdf.vstart()
        return self._vs

    def has_vdata(self, name: str) -> bool:
        from pyhdf.error import HDF4Error

        try:
            ref = self.vs.find(name)
        except HDF4Error:
            return False
        return bool(ref)

    def read_vdata(self, name: str) -> dict[str, np.ndarray | list]:
        """All records of Vdata ``name`` as {field: array}; char fields come back as ``str``.

        Attaches by name, so it also finds the attribute Vdata that ``vdatainfo()`` hides.
        """
        from pyhdf.error import HDF4Error
        from pyhdf.HDF import HC

        if not self.has_vdata(name):
            raise DataError(
                f"missing Vdata {name!r}: not a complete {self.product} file",
                path=self.path,
                fix=f"check that the file is a {self.product} file; download it again if it is",
            )
        try:
            vd = self.vs.attach(name)
            try:
                nrec = vd.inquire()[0]
                fields = vd.fieldinfo()
                records = vd.read(nrec) if nrec else []
            finally:
                vd.detach()
        except HDF4Error as exc:
            raise DataError(f"Vdata {name!r} is unreadable ({exc}); the file may be corrupt", path=self.path) from exc
        out: dict[str, np.ndarray | list] = {}
        for column, (field, ftype, order, *_rest) in enumerate(fields):
            values = [rec[column] for rec in records]
            if ftype == HC.CHAR8 or (ftype == HC.UCHAR8 and order > 1):
                out[field] = [_to_text(v) for v in values]
            else:
                arr = np.asarray(values)
                if order == 1 and arr.ndim == 2 and arr.shape[1] == 1:
                    arr = arr[:, 0]
                out[field] = arr
        return out

    def read_vdata_field(self, name: str) -> np.ndarray:
        """The single field of a one-field Vdata (HDF-EOS rank-1 fields), as a 1-D array."""
        data = self.read_vdata(name)
        values = next(iter(data.values()))
        return np.asarray(values)

    def close(self) -> None:
        if self._vs is not None:
            self._vs.end()
            self._vs = None
        if self._hdf is not None:
            self._hdf.close()
            self._hdf = None
        if self.sd is not None:
            self.sd.end()
            self.sd = None


def _to_text(value) -> str:
    if isinstance(value, str):
        return value.rstrip("\x00 ")
    if isinstance(value, (list, tuple, np.ndarray)):
        return "".join(_to_text(v) if isinstance(v, str) else chr(int(v) & 0xFF) for v in value).rstrip("\x00 ")
    if isinstance(value, (int, np.integer)):
        return chr(int(value) & 0xFF).rstrip("\x00 ")
    return str(value)


@contextmanager
def open_hdf4(path: str | Path, *, product: str = "HDF4") -> Iterator[Hdf4File]:
    """Open an HDF4 file for reading; every failure inside becomes a ``DataError`` naming the file."""
    handle = Hdf4File(path, product=product)
    try:
        yield handle
    except DataError:
        raise
    except Exception as exc:
        exc.add_note(f"while reading {path}")
        raise
    finally:
        handle.close()
