"""The one door to any supported file: ``open_product``, ``guess_reader`` and the readers they pick.

The readers come from the sensor registry (:mod:`cloudbench.sensors.registry`): every label product
reads into the common profile schema, every imager product into the common imager schema. A
``ProductReader`` is the registry's view of one product for this door: its name, the magic bytes
its files start with, a content probe. ``guess_reader`` tries the name first (cheap, and what users
expect), then the content; a file named like one product but holding something else is a data error
naming the file, never a traceback from deep inside a reader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudbench.config import DEFAULT_GRID, HeightGrid
from cloudbench.errors import CloudbenchError, DataError, MissingInputError, UserError

MAGIC_NAMES = {
    b"\x0e\x03\x13\x01": "HDF4",
    b"\x89HDF\r\n\x1a\n": "netCDF4/HDF5",
    b"BZh": "bzip2",
    b"\x01\x1a\x01": "HSD",
    b"FormatNa": "SEVIRI native (archive header)",
}


@dataclass(frozen=True)
class ProductReader:
    """How to recognise and read one product.

    Attributes:
        name: Registry key (``calipso-vfm``, ``cloudsat-cldclass-lidar``, ``ahi-hsd``, ``abi-l1b``).
        description: One line for messages and listings.
        kind: ``profile`` (active sensor, common profile schema) or ``imager`` (common imager schema).
        product: the sensor registry's product object.
    """

    name: str
    description: str
    kind: str
    product: Any

    @property
    def magic(self) -> tuple[bytes, ...]:
        return tuple(self.product.magic)

    def matches_name(self, path: str | Path) -> bool:
        return self.product.parse_filename(Path(path).name) is not None

    def matches_magic(self, head: bytes) -> bool:
        return any(head.startswith(m) for m in self.magic)

    def probe(self, path: Path) -> bool:
        return bool(self.product.probe(path))

    def function(self, attr: str) -> Callable[..., Any]:
        """``read``, ``track`` or ``summarise`` of this product."""
        if attr == "summarise":
            return self.product.summary
        if self.kind == "profile":
            return {"read": self.product.read_profiles, "track": self.product.read_track}[attr]
        if attr == "read":
            from cloudbench.readers.imager import read_imager

            return read_imager
        raise UserError(f"{self.description} files have no {attr} function")


def _readers() -> dict[str, ProductReader]:
    from cloudbench.sensors.registry import imager_products, label_products

    out = {p.name: ProductReader(p.name, p.description, "profile", p) for p in label_products().values()}
    out.update({p.name: ProductReader(p.name, p.description, "imager", p) for p in imager_products().values()})
    return out


class _ReaderTable(Mapping[str, ProductReader]):
    """``READERS``: a live view of the sensor registry (products registered later appear here too)."""

    def __getitem__(self, key: str) -> ProductReader:
        return _readers()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(_readers())

    def __len__(self) -> int:
        return len(_readers())


READERS: Mapping[str, ProductReader] = _ReaderTable()


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
    """A label-product granule (CALIPSO VFM, CloudSat, ...) in the common profile schema.

    Raises:
        UserError: the file is an imager file, not an active-sensor product.
    """
    path = Path(path)
    reader = guess_reader(path)
    if reader.kind != "profile":
        raise UserError(
            f"is a {reader.description} file; profiles come from a label product "
            f"({', '.join(r.name for r in READERS.values() if r.kind == 'profile')})",
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
