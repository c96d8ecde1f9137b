"""One registry of the products cloudbench reads, and the one door to them: ``open_product``.

Each entry names the product, the file-name pattern of ``cloudbench.products``, the magic bytes its
files start with, a content probe, and the reader functions. ``guess_reader`` tries the name first
(cheap, and what users expect), then the content; a file named like one product but holding
something else is a data error naming the file, never a traceback from deep inside a reader.
"""

from __future__ import annotations

import bz2
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudbench.config import DEFAULT_GRID, HeightGrid
from cloudbench.errors import CloudbenchError, DataError, MissingInputError, UserError
from cloudbench.products import abi_l1b, ahi_hsd, calipso_vfm, cloudsat_cldclass_lidar

HDF4_MAGIC = b"\x0e\x03\x13\x01"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # netCDF4 files are HDF5 files
BZ2_MAGIC = b"BZh"
HSD_MAGIC = b"\x01\x1a\x01"  # block 1, length 282 (little endian): an uncompressed HSD segment
MAGIC_NAMES = {HDF4_MAGIC: "HDF4", HDF5_MAGIC: "netCDF4/HDF5", BZ2_MAGIC: "bzip2", HSD_MAGIC: "HSD"}


@dataclass(frozen=True)
class ProductReader:
    """How to recognise and read one product.

    Attributes:
        name: Registry key (``calipso-vfm``, ``cloudsat-cldclass-lidar``, ``ahi-hsd``, ``abi-l1b``).
        description: One line for messages and listings.
        kind: ``profile`` (active sensor, common profile schema) or ``imager`` (common imager schema).
        filename_re: The product's file-name pattern (from ``cloudbench.products``).
        magic: Accepted leading bytes of a file.
        module: Reader module under ``cloudbench.readers``.
        read: Function reading the file (profiles: ``f(path, grid)``; imager: ``f([paths], ...)``).
        track: Function returning time/lat/lon only (profiles), or None.
        summarise: Function returning the ``inspect`` summary dict.
        probe: Content check for files whose name says nothing (True: this product).
    """

    name: str
    description: str
    kind: str
    filename_re: re.Pattern
    magic: tuple[bytes, ...]
    module: str
    read: str
    track: str | None
    summarise: str
    probe: Callable[[Path], bool]

    def matches_name(self, path: str | Path) -> bool:
        return self.filename_re.match(Path(path).name) is not None

    def matches_magic(self, head: bytes) -> bool:
        return any(head.startswith(m) for m in self.magic)

    def function(self, attr: str) -> Callable[..., Any]:
        name = getattr(self, attr)
        if name is None:
            raise UserError(f"{self.description} files have no {attr} function")
        return getattr(importlib.import_module(f"cloudbench.readers.{self.module}"), name)


# --- content probes ---------------------------------------------------------------------------------
def _hdf4_sds_names(path: Path) -> set[str]:
    from pyhdf.SD import SD, SDC

    sd = SD(str(path), SDC.READ)
    try:
        return set(sd.datasets())
    finally:
        sd.end()


def _probe_vfm(path: Path) -> bool:
    try:
        return calipso_vfm.SDS_FLAGS in _hdf4_sds_names(path)
    except Exception:
        return False


def _probe_cldclass(path: Path) -> bool:
    try:
        names = _hdf4_sds_names(path)
    except Exception:
        return False
    return cloudsat_cldclass_lidar.CLOUD_LAYER_BASE in names and cloudsat_cldclass_lidar.CLOUD_PHASE in names


def _probe_abi(path: Path) -> bool:
    try:
        import netCDF4

        with netCDF4.Dataset(str(path)) as ds:
            return "Rad" in ds.variables and "band_id" in ds.variables
    except Exception:
        return False


def _probe_hsd(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(3)
        if head.startswith(BZ2_MAGIC):
            with bz2.open(path, "rb") as f:
                head = f.read(3)
        return head.startswith(HSD_MAGIC)
    except Exception:
        return False


READERS: dict[str, ProductReader] = {
    r.name: r
    for r in (
        ProductReader(
            "calipso-vfm", "CALIPSO CALIOP L2 Vertical Feature Mask (HDF4)", "profile",
            calipso_vfm.FILENAME_RE, (HDF4_MAGIC,), "calipso_vfm", "read_vfm", "read_vfm_track", "vfm_summary",
            _probe_vfm,
        ),
        ProductReader(
            "cloudsat-cldclass-lidar", "CloudSat 2B-CLDCLASS-LIDAR (HDF-EOS2 swath in HDF4)", "profile",
            cloudsat_cldclass_lidar.FILENAME_RE, (HDF4_MAGIC,), "cloudsat_cldclass_lidar", "read_cldclass_lidar",
            "read_cldclass_track", "cldclass_summary", _probe_cldclass,
        ),
        ProductReader(
            "ahi-hsd", "Himawari AHI Standard Data segment (.DAT or .DAT.bz2)", "imager",
            ahi_hsd.FILENAME_RE, (BZ2_MAGIC, HSD_MAGIC), "imager", "read_imager", None, "imager_summary",
            _probe_hsd,
        ),
        ProductReader(
            "abi-l1b", "GOES-R ABI L1b radiances (netCDF4)", "imager",
            abi_l1b.FILENAME_RE, (HDF5_MAGIC,), "imager", "read_imager", None, "imager_summary", _probe_abi,
        ),
    )
}


def _head(path: Path, n: int = 8) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except IsADirectoryError as exc:
        raise UserError("is a folder, not a product file", path=path, fix="name one file") from exc
    except OSError as exc:
        raise DataError(f"cannot be opened: {exc.strerror or exc}", path=path) from exc


def _describe(head: bytes) -> str:
    for magic, name in MAGIC_NAMES.items():
        if head.startswith(magic):
            return f"a {name} file"
    if not head:
        return "an empty file"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "text"
    return f"unknown content (first bytes {head[:8]!r})"


def guess_reader(path: str | Path) -> ProductReader:
    """The registry entry for a file: by its name, then by its content.

    Raises:
        MissingInputError: the path does not exist (exit 1).
        DataError: the name says one product but the content is another format, or neither name nor
            content matches any product (the message lists every product tried).
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError("file does not exist", path=path, fix="check the path")
    head = _head(path)
    by_name = [r for r in READERS.values() if r.matches_name(path)]
    if by_name:
        for reader in by_name:
            if reader.matches_magic(head):
                return reader
        names = ", ".join(r.description for r in by_name)
        expected = " or ".join(sorted({MAGIC_NAMES[m] for r in by_name for m in r.magic}))
        raise DataError(
            f"named like a {names} file but it holds {_describe(head)}, not {expected} data "
            "(truncated download, or another product renamed?)",
            path=path,
            fix="download the file again",
        )
    for reader in READERS.values():
        if reader.matches_magic(head) and reader.probe(path):
            return reader
    tried = "; ".join(f"{r.name} ({r.description})" for r in READERS.values())
    raise DataError(
        f"not a file of any supported product: neither its name nor its content ({_describe(head)}) "
        f"matches. Tried: {tried}",
        path=path,
    )


def _call(reader: ProductReader, attr: str, path: Path, *args: Any, **kwargs: Any) -> Any:
    """Run one reader function on one file; any failure comes back as a DataError naming the file."""
    fn = reader.function(attr)
    try:
        return fn(*args, **kwargs)
    except CloudbenchError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise DataError(
            f"cannot be read as {reader.description}: {type(exc).__name__}: {exc}", path=path
        ) from exc


def open_product(path: str | Path, **kwargs: Any):
    """Read any supported file into its common schema (profiles or imager), whatever the product.

    Keyword arguments go to the product's reader: ``grid`` for profiles; ``bands``/``rows`` for
    imager files.
    """
    path = Path(path)
    reader = guess_reader(path)
    if reader.kind == "profile":
        grid = kwargs.pop("grid", DEFAULT_GRID)
        return _call(reader, "read", path, path, grid, **kwargs)
    return _call(reader, "read", path, [path], **kwargs)


def read_profiles(path: str | Path, grid: HeightGrid = DEFAULT_GRID):
    """A CALIPSO VFM or CloudSat 2B-CLDCLASS-LIDAR granule in the common profile schema.

    Raises:
        UserError: the file is an imager file, not an active-sensor product.
    """
    path = Path(path)
    reader = guess_reader(path)
    if reader.kind != "profile":
        raise UserError(
            f"is a {reader.description} file; profiles come from CALIPSO VFM or CloudSat 2B-CLDCLASS-LIDAR",
            path=path,
        )
    return _call(reader, "read", path, path, grid)


def read_track(path: str | Path):
    """Time, latitude and longitude of an active-sensor granule (cheap: no profiles decoded)."""
    path = Path(path)
    reader = guess_reader(path)
    if reader.kind != "profile":
        raise UserError(f"is a {reader.description} file, which has no ground track", path=path)
    return _call(reader, "track", path, path)


def summary(path: str | Path) -> dict[str, Any]:
    """The ``cloudbench inspect`` summary of any supported file (JSON-serialisable dict)."""
    path = Path(path)
    reader = guess_reader(path)
    out = _call(reader, "summarise", path, path)
    out = dict(out)
    out.setdefault("file", str(path))
    out.setdefault("reader", reader.name)
    return out
