"""The common imager schema: one slot of AHI or ABI bands on the 2 km grid with global row/column numbers.

``read_imager`` is what collocation calls: it takes the files of one slot (AHI segments or ABI band
files, any mix of bands), reads only the 2 km rows asked for (AHI: only the segments that hold them),
block-averages finer bands to 2 km, and returns an ``xarray.Dataset`` whose ``y``/``x`` coordinates
are full-disk row/column numbers, so a patch cut from a subset still knows where it is. ``imager_area``
rebuilds the full-disk 2 km ``AreaDefinition`` that those numbers index (pixel lookup with
``area.get_array_indices_from_lonlat`` gives the same global row/column).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from pyresample.geometry import AreaDefinition

from cloudbench.errors import DataError, MissingInputError, UserError
from cloudbench.products import abi_l1b as abi_p
from cloudbench.products import ahi_hsd as ahi_p
from cloudbench.products.geostationary import FullDiskGeometry, geometry_for
from cloudbench.readers import abi_l1b as abi_r
from cloudbench.readers import ahi_hsd as ahi_r

RowSpec = slice | tuple[int, int] | None


# --- helpers --------------------------------------------------------------------------------------
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


def block_average(a: np.ndarray, f: int) -> np.ndarray:
    """Mean of f x f blocks (NaN if any pixel of the block is NaN), float32."""
    if f == 1:
        return a.astype(np.float32, copy=False)
    n, m = a.shape[0] // f, a.shape[1] // f
    return a[: n * f, : m * f].reshape(n, f, m, f).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def _mean_times(t: np.ndarray, f: int) -> np.ndarray:
    """Mean of each run of f line times (NaT stays NaT)."""
    if f == 1:
        return t
    tt = t[: (len(t) // f) * f].reshape(-1, f)
    nat = np.isnat(tt).any(axis=1)
    ns = tt.astype(np.int64)
    mean = ns[:, 0] + np.round((ns - ns[:, :1]).mean(axis=1)).astype(np.int64)
    out = mean.astype("datetime64[ns]")
    out[nat] = np.datetime64("NaT")
    return out


def _iso(t: Any) -> str:
    if isinstance(t, datetime):
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(np.datetime_as_string(np.datetime64(t, "us"), unit="us")) + "Z"


def _classify(paths: list[Path]) -> tuple[str, list[tuple[Path, Any]]]:
    out: list[tuple[Path, Any]] = []
    kinds = set()
    for p in paths:
        if not p.exists():
            raise MissingInputError("imager file does not exist", path=p, fix="check the path")
        info = ahi_p.parse_filename(p.name)
        if info is not None:
            kinds.add("ahi")
        else:
            info = abi_p.parse_filename(p.name)
            if info is None:
                raise UserError(
                    "not an imager file name (expected HS_H0?_..._Bnn_FLDK_Rrr_Sssnn.DAT[.bz2] or "
                    "OR_ABI-L1b-Rad?-M?C??_G??_s..._e..._c....nc)",
                    path=p,
                )
            kinds.add("abi")
        out.append((p, info))
    if not out:
        raise UserError("read_imager needs at least one file")
    if len(kinds) > 1:
        raise UserError("read_imager got both AHI and ABI files; read one slot of one imager at a time")
    return kinds.pop(), out


def _attrs(geometry: FullDiskGeometry, slot_start: datetime, product: str, files: list[Path]) -> dict[str, Any]:
    attrs = geometry.to_attrs()
    attrs.update({
        "product": product,
        "slot_start": _iso(slot_start),
        "source_files": [str(p) for p in files],
    })
    return attrs


# --- AHI ------------------------------------------------------------------------------------------
def _ahi_geometry(platform: str, header: dict[str, Any], band: str, path: Path) -> FullDiskGeometry:
    b = ahi_p.BANDS[band]
    n2 = header["n_columns"] // b.factor
    full = ahi_p.FULL_DISK_SIZE[2.0]
    if n2 <= 0 or full % n2:
        raise DataError(f"{header['n_columns']} columns do not make a full disk of {band}", path=path)
    geometry = geometry_for(platform, full // n2)
    expected = geometry.hsd_projection(b.resolution_km)
    got = header["projection"]
    if abs(int(got["cfac"]) - expected["cfac"]) > 1 or abs(float(got["coff"]) - expected["coff"]) > 0.01:
        raise DataError(
            f"projection CFAC={got['cfac']} COFF={got['coff']} does not describe a full disk of "
            f"{header['n_columns']} columns (expected CFAC={expected['cfac']} COFF={expected['coff']})",
            path=path,
        )
    return geometry


def _read_ahi(files: list[tuple[Path, ahi_p.HsdName]], bands: list[str] | None, rows: RowSpec) -> xr.Dataset:
    platforms = {i.platform for _, i in files}
    slots = {i.slot_start for _, i in files}
    if len(platforms) > 1 or len(slots) > 1:
        raise UserError(f"read_imager needs files of one platform and slot, got {sorted(platforms)} / "
                        f"{sorted(s.isoformat() for s in slots)}")
    platform, slot = platforms.pop(), slots.pop()
    by_band: dict[str, dict[int, Path]] = {}
    for p, info in files:
        by_band.setdefault(info.band, {})[info.segment] = p
    wanted = sorted(by_band, key=lambda n: ahi_p.BANDS[n].number) if bands is None else list(bands)
    for name in wanted:
        if name not in by_band:
            raise DataError(f"no {name} segments among the {len(files)} files of {platform} {slot:%Y-%m-%d %H:%M}",
                            path=files[0][0].parent)
    geometry: FullDiskGeometry | None = None
    data_vars: dict[str, tuple] = {}
    line_time = None
    line_time_factor = None
    used: list[Path] = []
    r0 = r1 = 0
    for name in wanted:
        b = ahi_p.BANDS[name]
        f = b.factor
        segs = by_band[name]
        probe_path = next(iter(segs.values()))
        probe = ahi_r.read_hsd_header(probe_path)
        if probe["band"] != name:
            raise DataError(f"file name says {name} but block 5 says {probe['band']}", path=probe_path)
        g = _ahi_geometry(platform, probe, name, probe_path)
        if geometry is None:
            geometry = g
            r0, r1 = _row_range(rows, geometry.shape[0])
        elif g != geometry:
            raise DataError(f"{name} has a {g.shape} full disk, other bands {geometry.shape}", path=probe_path)
        n_seg_lines = probe["n_lines"]
        n_total = probe["total_segments"]
        native = np.full(((r1 - r0) * f, geometry.shape[1] * f), np.nan, dtype=np.float32)
        times = np.full((r1 - r0) * f, np.datetime64("NaT"), dtype="datetime64[ns]")
        lo, hi = r0 * f, r1 * f
        for s in range(1, n_total + 1):
            s0, s1 = (s - 1) * n_seg_lines, s * n_seg_lines
            if s1 <= lo or s0 >= hi or s not in segs:
                continue
            first, values, t = ahi_r.read_hsd_segment(segs[s])
            if first != s0 or values.shape != (n_seg_lines, native.shape[1]):
                raise DataError(f"segment {s} holds lines {first}..{first + values.shape[0]} x {values.shape[1]}, "
                                f"expected {s0}..{s1} x {native.shape[1]}", path=segs[s])
            a, z = max(lo, s0), min(hi, s1)
            native[a - lo : z - lo] = values[a - s0 : z - s0]
            times[a - lo : z - lo] = t[a - s0 : z - s0]
            used.append(segs[s])
        data_vars[name] = (("y", "x"), block_average(native, f), {
            "units": "%" if b.kind == "vis" else "K",
            "wavelength_um": b.wavelength_um,
            "native_resolution_km": b.resolution_km,
        })
        if line_time is None or f < line_time_factor:
            line_time, line_time_factor = _mean_times(times, f), f
    assert geometry is not None
    return xr.Dataset(
        data_vars={**data_vars, "line_time": (("y",), line_time)},
        coords={"y": np.arange(r0, r1, dtype=np.int64), "x": np.arange(geometry.shape[1], dtype=np.int64)},
        attrs=_attrs(geometry, slot, ahi_p.PRODUCT_DIR, used),
    )


# --- ABI ------------------------------------------------------------------------------------------
def _abi_slot(start: datetime, mode: int) -> datetime:
    minutes = abi_p.slot_minutes(mode)
    s = start.astimezone(UTC)
    day = s.replace(hour=0, minute=0, second=0, microsecond=0)
    k = int((s - day).total_seconds() // (minutes * 60))
    return day + timedelta(minutes=minutes * k)


def _abi_geometry(platform: str, image: abi_r.AbiImage) -> FullDiskGeometry:
    if image.scene != "F":
        return geometry_for(platform, 1)
    b = abi_p.BANDS[image.band]
    n2 = image.n_columns // b.factor
    k = max(1, int(round(abi_p.FULL_DISK_SIZE[2.0] / n2)))
    geometry = geometry_for(platform, k)
    if geometry.native_shape(b.resolution_km) != (image.n_lines, image.n_columns):
        raise DataError(f"a {image.n_lines} x {image.n_columns} full disk is not a whole reduction of the fixed grid",
                        path=image.path)
    return geometry


def _read_abi(files: list[tuple[Path, abi_p.AbiName]], bands: list[str] | None, rows: RowSpec) -> xr.Dataset:
    platforms = {i.platform for _, i in files}
    slots = {_abi_slot(i.start, i.mode) for _, i in files}
    scenes = {i.scene for _, i in files}
    if len(platforms) > 1 or len(slots) > 1 or len(scenes) > 1:
        raise UserError("read_imager needs ABI files of one platform, scene and slot")
    platform, slot = platforms.pop(), slots.pop()
    by_band = {i.band: p for p, i in files}
    wanted = sorted(by_band) if bands is None else list(bands)
    for name in wanted:
        if name not in by_band:
            raise DataError(f"no {name} file among the {len(files)} ABI files of {platform} {slot:%Y-%m-%d %H:%M}",
                            path=files[0][0].parent)
    geometry: FullDiskGeometry | None = None
    data_vars: dict[str, tuple] = {}
    line_time = None
    line_time_factor = None
    origin: tuple[int, int] | None = None
    shape2: tuple[int, int] | None = None
    r0 = r1 = 0
    for name in wanted:
        b = abi_p.BANDS[name]
        f = b.factor
        path = by_band[name]
        if geometry is None:
            probe = abi_r.read_abi(path, rows=slice(0, 1))
            geometry = _abi_geometry(platform, probe)
            origin = (probe.first_row // f, probe.first_col // f)
            shape2 = (probe.n_lines // f, probe.n_columns // f)
            g_r0, g_r1 = _row_range(rows, geometry.shape[0])
            r0, r1 = max(g_r0, origin[0]), min(g_r1, origin[0] + shape2[0])
            if r1 <= r0:
                raise UserError(f"rows {rows!r} miss this file's lines {origin[0]}..{origin[0] + shape2[0]}", path=path)
        image = abi_r.read_abi(path, rows=slice((r0 - origin[0]) * f, (r1 - origin[0]) * f))
        if (image.first_row // f, image.first_col // f) != (r0, origin[1]) or image.n_columns // f != shape2[1]:
            raise DataError(f"{name} does not cover the same pixels as the other bands", path=path)
        data_vars[name] = (("y", "x"), block_average(image.values, f), {
            "units": "%" if b.kind == "vis" else "K",
            "wavelength_um": b.wavelength_um,
            "native_resolution_km": b.resolution_km,
        })
        if line_time is None or f < line_time_factor:
            line_time, line_time_factor = _mean_times(image.line_times, f), f
    assert geometry is not None and origin is not None and shape2 is not None
    scene = next(iter(scenes))
    return xr.Dataset(
        data_vars={**data_vars, "line_time": (("y",), line_time)},
        coords={"y": np.arange(r0, r1, dtype=np.int64),
                "x": np.arange(origin[1], origin[1] + shape2[1], dtype=np.int64)},
        attrs=_attrs(geometry, slot, f"ABI-L1b-Rad{scene}", [by_band[n] for n in wanted]),
    )


# --- public API -----------------------------------------------------------------------------------
def read_imager(
    paths: list[str | Path] | tuple[str | Path, ...], bands: list[str] | tuple[str, ...] | None = None,
    rows: RowSpec = None,
) -> xr.Dataset:
    """Read one imager slot into the common imager schema (docs/architecture.md).

    Args:
        paths: the slot's files: AHI HSD segments (any bands, any segments) or ABI L1b files (one per
            band) of one platform and slot.
        bands: band names in the order wanted (``B01``.. / ``C01``..); default every band present.
        rows: full-disk 2 km rows to read, a ``slice`` or ``(start, stop)``; default all. AHI reads
            only the segments that hold them; missing segments give NaN values and NaT line times.

    Returns:
        Dataset with dims (y, x); coords ``y``/``x`` = global full-disk row/column (int64); one
        float32 variable per band (reflectance % or BT K, finer bands averaged over their 2x2/4x4
        native pixels); ``line_time`` (y) datetime64[ns] from the finest-line-spaced 2 km band (or
        the mean of the native lines of a finer band); attrs ``platform``, ``sensor``, ``sub_lon``,
        ``slot_start`` (ISO), ``source_files``, ``product`` and the projection parameters
        ``imager_area`` needs.

    Raises:
        MissingInputError / UserError: missing files, names that are not imager files, mixed slots.
        DataError: a damaged file or a requested band without files.
    """
    ps = [Path(p) for p in paths]
    sensor, files = _classify(ps)
    if bands is not None:
        table = ahi_p.BANDS if sensor == "ahi" else abi_p.BANDS
        unknown = [b for b in bands if b not in table]
        if unknown:
            raise UserError(f"unknown {sensor.upper()} band(s) {unknown}; choose from {', '.join(table)}")
    return _read_ahi(files, bands, rows) if sensor == "ahi" else _read_abi(files, bands, rows)


def imager_area(obj: xr.Dataset | FullDiskGeometry | dict) -> AreaDefinition:
    """The full-disk 2 km ``AreaDefinition`` whose rows/columns are the dataset's ``y``/``x`` numbers."""
    if isinstance(obj, FullDiskGeometry):
        return obj.area(2.0)
    attrs = obj.attrs if isinstance(obj, xr.Dataset) else obj
    return FullDiskGeometry.from_attrs(attrs).area(2.0)


def imager_geometry(ds: xr.Dataset) -> FullDiskGeometry:
    """The ``FullDiskGeometry`` recorded in a ``read_imager`` dataset's attributes."""
    return FullDiskGeometry.from_attrs(ds.attrs)


def _stats(values: np.ndarray) -> dict[str, Any]:
    finite = np.isfinite(values)
    n = int(finite.sum())
    if n == 0:
        return {"min": None, "max": None, "mean": None, "valid_pixels": 0}
    v = values[finite]
    return {"min": float(v.min()), "max": float(v.max()), "mean": float(v.mean(dtype=np.float64)), "valid_pixels": n}


def imager_summary(path: str | Path) -> dict[str, Any]:
    """JSON-ready summary of one imager file for ``cloudbench inspect``.

    Keys: ``product``, ``platform``, ``band``, ``time_start``, ``time_end`` (ISO UTC), ``shape``
    (native lines, columns of the file), ``units``, ``min``/``max``/``mean`` of the calibrated band
    over valid pixels (as satpy calibrates it; None if no valid pixel), ``valid_pixels``; AHI adds
    ``segment``/``total_segments``, ABI adds ``scene``.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError("file does not exist", path=path, fix="check the path")
    ahi = ahi_p.parse_filename(path.name)
    if ahi is not None:
        header = ahi_r.read_hsd_header(path)
        _, values, _ = ahi_r.read_hsd_segment(path)
        b = ahi_p.BANDS[header["band"]]
        out = {
            "product": ahi_p.PRODUCT_DIR,
            "platform": ahi.platform,
            "band": header["band"],
            "time_start": _iso(header["observation_start"]),
            "time_end": _iso(header["observation_end"]),
            "shape": [int(values.shape[0]), int(values.shape[1])],
            "units": "%" if b.kind == "vis" else "K",
            "segment": header["segment"],
            "total_segments": header["total_segments"],
        }
        out.update(_stats(values))
        return out
    abi = abi_p.parse_filename(path.name)
    if abi is None and path.suffix != ".nc":
        raise UserError("not an AHI HSD or ABI L1b file name", path=path)
    image = abi_r.read_abi(path)
    b = abi_p.BANDS[image.band]
    out = {
        "product": f"ABI-L1b-Rad{image.scene}",
        "platform": image.platform,
        "band": image.band,
        "time_start": _iso(image.time_start),
        "time_end": _iso(image.time_end),
        "shape": [int(image.n_lines), int(image.n_columns)],
        "units": "%" if b.kind == "vis" else "K",
        "scene": image.scene,
    }
    out.update(_stats(image.values))
    return out


__all__ = ["read_imager", "imager_area", "imager_geometry", "imager_summary", "block_average"]
