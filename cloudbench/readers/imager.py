"""The common imager schema: one slot of any imager product on its sample grid, with global row/column numbers.

``read_imager`` takes the files of one slot (AHI segments, ABI band files, or any registered
product's files, any mix of bands), reads only the rows asked for (only the units that hold them),
block-averages finer bands onto the sample grid, and returns an ``xarray.Dataset`` whose ``y``/``x``
coordinates are full-disk row/column numbers, so a patch cut from a subset still knows where it is.
``imager_area`` rebuilds the full-disk ``AreaDefinition`` those numbers index (pixel lookup with
``area.get_array_indices_from_lonlat`` gives the same global row/column).

It reads through :class:`~cloudbench.readers.slot_access.SlotAccess`, the same path collocation
uses, so the two can never disagree on a value or a line time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from pyresample.geometry import AreaDefinition

from cloudbench.errors import MissingInputError, UserError
from cloudbench.products.geostationary import FullDiskGeometry
from cloudbench.readers.slot_access import block_mean, iso_utc, open_slot

RowSpec = slice | tuple[int, int] | None


def block_average(a: np.ndarray, f: int) -> np.ndarray:
    """Mean of f x f blocks (NaN if any pixel of the block is NaN), float32."""
    return block_mean(np.asarray(a, dtype=np.float32), f)


def _row_range(rows: RowSpec, n: int) -> tuple[int, int]:
    if rows is None:
        return 0, n
    if isinstance(rows, slice):
        if rows.step not in (None, 1):
            raise UserError(f"rows must be a contiguous range, got step {rows.step}")
        r0, r1, _ = rows.indices(n)
    else:
        r0, r1 = (max(0, min(n, int(v))) for v in rows)
    if r1 <= r0:
        raise UserError(f"rows {rows!r} select nothing of a {n}-line full disk")
    return r0, r1


def _bands_present(paths: list[Path]) -> list[str]:
    """Every band the files hold, in the product's band order."""
    from cloudbench.sensors.registry import parse_imager_file

    found = parse_imager_file(paths[0].name)
    if found is None:
        return []  # open_slot names the file and the products it tried
    product = found[0]
    held: set[str] = set()
    for p in paths:
        info = product.parse_filename(p.name)
        if info is not None:
            held |= {info.band} if info.band is not None else set(product.band_names)
    return [b for b in product.band_names if b in held]


def read_imager(
    paths: list[str | Path] | tuple[str | Path, ...], bands: list[str] | tuple[str, ...] | None = None,
    rows: RowSpec = None,
) -> xr.Dataset:
    """Read one imager slot into the common imager schema (docs/architecture.md).

    Args:
        paths: the slot's files, of one product, platform and slot (any bands, any units).
        bands: band names in the order wanted; default every band present (product order).
        rows: full-disk grid rows to read, a ``slice`` or ``(start, stop)``; default all. Only the
            units holding them are read; missing units give NaN values and NaT line times.

    Returns:
        Dataset with dims (y, x); coords ``y``/``x`` = global full-disk row/column (int64); one
        float32 variable per band (reflectance % or BT K, finer bands averaged over their native
        pixels); ``line_time`` (y) datetime64[ns]; ``pixel_time`` (y, x) datetime64[ns] for products
        with per-pixel times (FCI; ``line_time`` is then each row's mean); attrs ``platform``, ``sensor``, ``sub_lon``,
        ``slot_start`` (ISO), ``source_files``, ``product`` and the projection parameters
        ``imager_area`` needs.

    Raises:
        MissingInputError / UserError: missing files, names that are not imager files, mixed slots.
        DataError: a damaged file or a requested band without files.
    """
    ps = [Path(p) for p in paths]
    if not ps:
        raise UserError("read_imager needs at least one file")
    for p in ps:
        if not p.exists():
            raise MissingInputError("imager file does not exist", path=p, fix="check the path")
    if bands is None:
        bands = _bands_present(ps)
    access = open_slot(ps, list(bands), full_disk_only=False)
    r0, r1 = _row_range(rows, access.geometry.shape[0])
    got = access.read_rows(r0, r1)
    product = access.product
    data_vars: dict[str, tuple] = {}
    for name in access.band_names:
        b = product.bands[name]
        data_vars[name] = (("y", "x"), got["values"][name], {
            "units": "%" if b.kind == "vis" else "K",
            "wavelength_um": b.wavelength_um,
            "native_resolution_km": b.resolution_km,
        })
    (gr0, gr1), (gc0, gc1) = got["rows"], got["cols"]
    attrs = access.geometry.to_attrs()
    areas = sorted({i.area for i in access.infos if i.area})
    attrs.update({
        "product": product.product_dir if all(i.full_disk for i in access.infos) else "/".join(areas),
        "imager_product": product.name,
        "slot_start": iso_utc(access.slot_start),
        "source_files": [str(p) for p in access.files_used],
    })
    if "pixel_time" in got:  # products whose pixels of one line are seen at different times (FCI)
        data_vars["pixel_time"] = (("y", "x"), got["pixel_time"])
    return xr.Dataset(
        data_vars={**data_vars, "line_time": (("y",), got["line_time"])},
        coords={"y": np.arange(gr0, gr1, dtype=np.int64), "x": np.arange(gc0, gc1, dtype=np.int64)},
        attrs=attrs,
    )


def imager_area(obj: xr.Dataset | FullDiskGeometry | dict) -> AreaDefinition:
    """The full-disk sample-grid ``AreaDefinition`` whose rows/columns are the dataset's ``y``/``x`` numbers."""
    if isinstance(obj, FullDiskGeometry):
        return obj.area()
    attrs = obj.attrs if isinstance(obj, xr.Dataset) else obj
    return FullDiskGeometry.from_attrs(attrs).area()


def imager_geometry(ds: xr.Dataset) -> FullDiskGeometry:
    """The ``FullDiskGeometry`` recorded in a ``read_imager`` dataset's attributes."""
    return FullDiskGeometry.from_attrs(ds.attrs)


def imager_summary(path: str | Path) -> dict[str, Any]:
    """JSON-ready summary of one imager file for ``cloudbench inspect``.

    Keys: ``product``, ``platform``, ``band``, ``time_start``, ``time_end`` (ISO UTC), ``shape``
    (native lines, columns of the file), ``units``, ``min``/``max``/``mean`` of the calibrated band
    over valid pixels (None if no valid pixel), ``valid_pixels``, and what the product adds
    (AHI: ``area``, ``segment``/``total_segments``; ABI: ``scene``).
    """
    from cloudbench.sensors.registry import imager_products, parse_imager_file

    path = Path(path)
    if not path.exists():
        raise MissingInputError("file does not exist", path=path, fix="check the path")
    found = parse_imager_file(path.name)
    if found is not None:
        return found[0].summary(path)
    for product in imager_products().values():
        if product.probe(path):
            return product.summary(path)
    names = "; ".join(p.description for p in imager_products().values())
    raise UserError(f"not a file of any imager product ({names})", path=path)


__all__ = ["read_imager", "imager_area", "imager_geometry", "imager_summary", "block_average"]
