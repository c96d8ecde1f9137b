"""EarthCARE target classification reader (AC__TC__2B, ATL_TC__2A, CPR_TC__2A): native arrays, the
common profile schema, the track and a summary.

The files are netCDF-4/HDF5; everything is read with h5py by group path (``/ScienceData``,
``/HeaderData/...``), so no netCDF layer decides how fills or strings come out. Three things are
checked before a class code is trusted, each a DataError naming the file:

- every class variable's ``definition`` attribute agrees, code by code, with cloudbench's table of
  that product (``cloudbench.products.earthcare``): a new baseline that renumbers or renames classes
  stops the read instead of silently relabeling the benchmark;
- the class data hold no code that neither the table nor the definition knows;
- heights are monotonic in every profile.

Heights are metres above the WGS84 ellipsoid, pixel centres, top-down, one grid per profile. The
common grid is above mean sea level: ``height - geoid_offset`` (``geoid_offset`` is the height of the
geoid above the ellipsoid, so over the open sea ``elevation - geoid_offset`` is 0). Cell edges lie
halfway between centres; the cells go to the common grid by the rules of ``regrid`` (the same as
CALIPSO and CloudSat), with each profile's own edges.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cloudbench import config
from cloudbench.checksums import sha256_file
from cloudbench.config import UNLABELED, HeightGrid
from cloudbench.errors import DataError
from cloudbench.products import earthcare as ec
from cloudbench.readers import regrid
from cloudbench.readers.cloudsat_cldclass_lidar import _solar_night as solar_night

log = logging.getLogger(__name__)

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# --- opening and small reads -----------------------------------------------------------------------
def _open(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DataError(f"cannot be opened as netCDF-4/HDF5 ({exc}): truncated or not an EarthCARE product",
                        path=path, fix="download the file again") from None


def _text(value: Any) -> str:
    """An HDF5 string (scalar dataset or attribute, fixed or variable length, bytes or str) as str."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SU" and value.ndim > 0:  # an array of characters or of strings
            value = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in value.ravel().tolist())
        else:
            value = value[()] if value.ndim == 0 else value.ravel()[0]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _header_text(h, group: str, name: str) -> str | None:
    key = f"{group}/{name}"
    if key not in h:
        return None
    return _text(h[key][()]).strip()


def _header_int(h, group: str, name: str) -> int | None:
    key = f"{group}/{name}"
    if key not in h:
        return None
    try:
        return int(np.asarray(h[key][()]).ravel()[0])
    except (TypeError, ValueError):
        return None


def _product_type_in(h) -> str | None:
    return _header_text(h, ec.MAIN_HEADER, "productType") or _header_text(h, ec.FIXED_HEADER, "File_Type")


def _science(h, path: Path, product: ec.ProductType, name: str, *, required: bool = True):
    key = f"{ec.SCIENCE}/{name}"
    if key not in h:
        if not required:
            return None
        raise DataError(f"has no /{key}: not a complete {product.code} file", path=path,
                        fix=f"pass an EarthCARE {product.code} product (.h5)")
    return h[key]


def _floats(dataset) -> np.ndarray:
    """A float variable with its fill (>= 1e36, or the variable's own _FillValue) as NaN."""
    values = np.asarray(dataset[()], dtype=np.float64)
    fill = dataset.attrs.get("_FillValue")
    bad = ~np.isfinite(values) | (np.abs(values) >= ec.FILL_THRESHOLD)
    if fill is not None:
        bad |= values == np.float64(np.asarray(fill).ravel()[0])
    return np.where(bad, np.nan, values)


def identify(h, path: Path, expected: ec.ProductType | None = None) -> tuple[ec.ProductType, ec.EarthcareName | None]:
    """The product of an open file (name first, then header), checked against ``expected``."""
    info = ec.parse_filename(path.name)
    code = info.product_type if info is not None else _product_type_in(h)
    if code is None and expected is not None and f"{ec.SCIENCE}/{expected.class_var}" in h:
        code = expected.code
    if code not in ec.PRODUCT_TYPES:
        raise DataError(f"is not an EarthCARE target classification product (product type {code!r})", path=path,
                        fix=f"pass one of {', '.join(ec.PRODUCT_TYPES)}")
    product = ec.PRODUCT_TYPES[code]
    if expected is not None and product.code != expected.code:
        raise DataError(f"is an EarthCARE {product.code} product, not {expected.code}", path=path,
                        fix=f"read it as {product.key}")
    if f"{ec.SCIENCE}/{product.class_var}" not in h:
        raise DataError(f"has no /{ec.SCIENCE}/{product.class_var}: not a complete {product.code} file",
                        path=path, fix="download the file again")
    return product, info


def _granule_meta(h, path: Path, product: ec.ProductType, info: ec.EarthcareName | None) -> dict:
    """Baseline, orbit and frame: from the name, else from the header."""
    if info is not None:
        return {"version": info.baseline, "orbit": info.orbit, "frame": info.frame}
    file_class = _header_text(h, ec.FIXED_HEADER, "File_Class") or ""
    return {
        "version": file_class[2:4] if len(file_class) == 4 else "unknown",
        "orbit": _header_int(h, ec.MAIN_HEADER, "orbitNumber") or -1,
        "frame": (_header_text(h, ec.MAIN_HEADER, "frameID") or "?")[:1],
    }


def _file_attrs(path: Path, product: ec.ProductType, meta: dict) -> dict:
    stem = path.name[: -len(ec.H5_SUFFIX)] if path.name.endswith(ec.H5_SUFFIX) else path.name
    return {"product": product.code, "version": meta["version"], "granule_id": stem, "orbit": int(meta["orbit"]),
            "frame": meta["frame"], "source_file": str(path)}


# --- definitions -----------------------------------------------------------------------------------------
def parse_definition(text: str) -> dict[int, str]:
    """``code -> label`` from a ``definition`` attribute.

    Two spellings occur: one ``code: label`` per line (AC__TC__2B), and ``code=label`` pairs separated
    by commas, where labels may hold commas themselves (CPR_TC__2A). A code starts the text or follows
    a line break or a comma, and is followed by ``:`` or ``=``; its label runs to the next code.
    """
    import re

    marks = list(re.finditer(r"(?:^|[\n,;])\s*(-?\d+)\s*[:=]", text))
    out: dict[int, str] = {}
    for k, m in enumerate(marks):
        stop = marks[k + 1].start() if k + 1 < len(marks) else len(text)
        out[int(m.group(1))] = text[m.end() : stop].strip().strip(",;").strip()
    return out


def check_definitions(h, path: Path, product: ec.ProductType) -> dict[str, dict[int, str]]:
    """Compare each class variable's ``definition`` with the product's table; DataError on any difference.

    Returns the parsed definitions by variable (variables the file does not have are skipped, except
    the one read into phase).
    """
    parsed: dict[str, dict[int, str]] = {}
    for var, table in product.tables.items():
        key = f"{ec.SCIENCE}/{var}"
        if key not in h:
            continue
        raw = h[key].attrs.get("definition")
        if raw is None:
            raise DataError(f"/{key} has no 'definition' attribute, so its class codes cannot be checked",
                            path=path, fix="this is not an unmodified EarthCARE product; download it again")
        definition = parse_definition(_text(raw))
        if not definition:
            raise DataError(f"the 'definition' of /{key} lists no 'code: label' entries: {_text(raw)[:80]!r}",
                            path=path, fix="download the file again")
        for code, label in sorted(definition.items()):
            entry = ec.entry_for(table, code)
            if entry is None:
                raise DataError(
                    f"/{key} defines class code {code} ({label!r}), which cloudbench's {product.code} table does "
                    "not know (a new processor baseline?)", path=path,
                    fix="check the code against the product documentation and add it to "
                        "cloudbench.products.earthcare and docs/earthcare.md")
            if not ec.label_matches_code(table, code, label):
                raise DataError(
                    f"/{key} defines class code {code} as {label!r}, but cloudbench's {product.code} table says "
                    f"{entry.label!r} (the product's class table changed?)", path=path,
                    fix="check the code against the product documentation and update cloudbench.products.earthcare "
                        "and docs/earthcare.md")
        parsed[var] = definition
    return parsed


def _check_codes(codes: np.ndarray, path: Path, var: str, product: ec.ProductType, definition: Mapping[int, str]) -> None:
    """DataError when the data hold a code that neither the table nor the definition knows."""
    present = np.flatnonzero(np.bincount(codes.view(np.uint8).ravel(), minlength=256))
    table = product.tables[var]
    for byte in present:
        code = int(np.int8(np.uint8(byte)))
        if ec.entry_for(table, code) is None:
            where = "nor in the file's definition" if code not in definition else "but only in the file's definition"
            raise DataError(f"/{ec.SCIENCE}/{var} holds class code {code}, which is not in cloudbench's "
                            f"{product.code} table {where}", path=path,
                            fix="add the code to cloudbench.products.earthcare and docs/earthcare.md")


# --- geolocation and heights ---------------------------------------------------------------------------------
def _geolocation(h, path: Path, product: ec.ProductType) -> dict:
    seconds = np.asarray(_science(h, path, product, ec.TIME)[()], dtype=np.float64)
    n = seconds.shape[0]
    lat = _floats(_science(h, path, product, ec.LATITUDE))
    lon = _floats(_science(h, path, product, ec.LONGITUDE))
    for name, values in (("latitude", lat), ("longitude", lon)):
        if values.shape != (n,):
            raise DataError(f"/{ec.SCIENCE}/{name} has shape {values.shape}, expected ({n},) like time", path=path)
    times = ec.seconds_to_datetime64(seconds)
    ok = ~np.isnat(times) & np.isfinite(lat) & np.isfinite(lon)
    return {"n": n, "ok": ok, "time": times, "latitude": lat, "longitude": lon}


def _fill_along(values: np.ndarray) -> np.ndarray | None:
    """NaNs of a 1-D series filled by linear interpolation along it; None when nothing is valid."""
    good = np.isfinite(values)
    if not good.any():
        return None
    if good.all():
        return values
    index = np.arange(values.size)
    return np.interp(index, index[good], values[good])


def _geoid(h, path: Path, product: ec.ProductType, n: int) -> tuple[np.ndarray, str]:
    """The geoid height above the ellipsoid per profile (m) and how the heights are referenced."""
    var = _science(h, path, product, ec.GEOID_OFFSET, required=False)
    offset = None if var is None else _fill_along(_floats(var))
    if offset is None or offset.shape != (n,):
        log.warning("%s: no usable geoid_offset; heights stay above the WGS84 ellipsoid (within about 100 m "
                    "of mean sea level)", path)
        return np.zeros(n), "WGS84 ellipsoid (the file has no usable geoid_offset)"
    return offset, "mean sea level (height above the WGS84 ellipsoid minus geoid_offset)"


def cell_edges_from_centres(centres: np.ndarray) -> np.ndarray:
    """(P, L) pixel-centre heights -> (P, L+1) cell edges: halfway between centres, half a spacing past the ends."""
    c = np.asarray(centres, dtype=np.float64)
    mid = 0.5 * (c[:, 1:] + c[:, :-1])
    first = c[:, :1] + 0.5 * (c[:, :1] - c[:, 1:2])
    last = c[:, -1:] + 0.5 * (c[:, -1:] - c[:, -2:-1])
    return np.concatenate([first, mid, last], axis=1)


def _heights_msl_km(h, path: Path, product: ec.ProductType, n: int, geoid_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, L) centre heights above mean sea level in km with gaps filled, and (P, L) where they were valid."""
    height = _floats(_science(h, path, product, ec.HEIGHT))
    if height.ndim == 1:  # a single grid for all profiles: the same thing, broadcast
        height = np.broadcast_to(height, (n, height.size)).copy()
    if height.ndim != 2 or height.shape[0] != n or height.shape[1] < 2:
        raise DataError(f"/{ec.SCIENCE}/height has shape {height.shape}, expected ({n}, levels)", path=path)
    valid = np.isfinite(height)
    for row in np.flatnonzero(~valid.all(axis=1)):  # rare: a few profiles with fill heights
        filled = _fill_along(height[row])
        height[row] = np.nan if filled is None or valid[row].sum() < 2 else filled
    known = np.isfinite(height).all(axis=1)
    height[~known] = np.linspace(1000.0, 0.0, height.shape[1])[None, :]  # a dummy grid: these rows stay unlabeled
    valid &= known[:, None]
    steps = np.diff(height, axis=1)
    bad = known & ~((steps < 0).all(axis=1) | (steps > 0).all(axis=1))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"/{ec.SCIENCE}/height is not monotonic in profile {row} (of {int(bad.sum())} such profiles)",
                        path=path, fix="download the file again")
    return (height - geoid_m[:, None]) / 1000.0, valid


# --- public API -----------------------------------------------------------------------------------------------
def read_earthcare_native(path: str | Path, product: ec.ProductType | None = None) -> xr.Dataset:
    """The granule as stored, with heights converted: one row per profile, one column per level (top first).

    Variables: ``time``, ``latitude``, ``longitude``, ``height_msl`` (km, centres), ``valid_height``,
    ``geoid_offset`` (m), ``elevation`` (m above the ellipsoid, as stored), ``surface_elevation`` (m
    above mean sea level), the class variable as stored (int8) and ``quality`` when present. Profiles
    whose time or position is fill are kept here (``usable`` False) and dropped by the readers below.
    The definitions are checked first.
    """
    path = Path(path)
    with _open(path) as h:
        product, info = identify(h, path, product)
        definitions = check_definitions(h, path, product)
        meta = _granule_meta(h, path, product, info)
        geo = _geolocation(h, path, product)
        n = geo["n"]
        geoid_m, reference = _geoid(h, path, product, n)
        height_km, valid = _heights_msl_km(h, path, product, n, geoid_m)
        classes = np.asarray(_science(h, path, product, product.class_var)[()])
        if classes.shape != height_km.shape:
            raise DataError(f"/{ec.SCIENCE}/{product.class_var} has shape {classes.shape}, height {height_km.shape}",
                            path=path)
        classes = classes.astype(np.int8, copy=False)
        _check_codes(classes, path, product.class_var, product, definitions.get(product.class_var, {}))
        elevation = _science(h, path, product, product.elevation_var, required=False)
        elevation_m = np.full(n, np.nan) if elevation is None else _floats(elevation)
        quality = _science(h, path, product, product.quality_var, required=False)
        data = {
            "time": ("profile", geo["time"]),
            "latitude": ("profile", geo["latitude"]),
            "longitude": ("profile", geo["longitude"]),
            "usable": ("profile", geo["ok"]),
            "height_msl": (("profile", "level"), height_km),
            "valid_height": (("profile", "level"), valid),
            "geoid_offset": ("profile", geoid_m),
            "elevation": ("profile", elevation_m),
            "surface_elevation": ("profile", elevation_m - geoid_m),
            product.class_var: (("profile", "level"), classes),
        }
        if quality is not None and quality.shape == classes.shape:
            data["quality"] = (("profile", "level"), np.asarray(quality[()]).astype(np.int8))
    attrs = {**_file_attrs(path, product, meta), "height_reference": reference}
    ds = xr.Dataset(data, attrs=attrs)
    ds["height_msl"].attrs["units"] = "km"
    return ds


def cell_classes(codes: np.ndarray, product: ec.ProductType, centres_km: np.ndarray, surface_km: np.ndarray, *,
                 quality: np.ndarray | None = None, valid: np.ndarray | None = None) -> np.ndarray:
    """(P, L) cloudbench classes per native cell from the product's class codes: the table, then the
    quality flag, cells without a valid height and cells under the ground (all unlabeled).

    Args:
        codes: (P, L) int8 class codes of ``product.class_var``.
        centres_km: (P, L) cell centres above mean sea level (km), top first.
        surface_km: (P,) surface above mean sea level (km); NaN where unknown (nothing is cut).
        quality: (P, L) the product's quality flags, when it has them.
        valid: (P, L) False where the file's height was fill.
    """
    codes = np.asarray(codes, dtype=np.int8)
    classes = ec.class_lookup(product.table)[codes.view(np.uint8)]
    if quality is not None and product.bad_quality:
        classes[np.isin(quality, product.bad_quality)] = UNLABELED
    if valid is not None:
        classes[~np.asarray(valid, dtype=bool)] = UNLABELED
    edges = cell_edges_from_centres(centres_km)
    cell_top = np.maximum(edges[:, :-1], edges[:, 1:])
    surface_km = np.asarray(surface_km, dtype=np.float64)
    below = cell_top <= np.where(np.isfinite(surface_km), surface_km, -np.inf)[:, None]
    classes[below] = UNLABELED  # whatever a product says under the ground is not sky
    return classes


def native_classes(native: xr.Dataset, product: ec.ProductType) -> np.ndarray:
    """(P, L) cloudbench classes per native cell of a granule read by :func:`read_earthcare_native`."""
    return cell_classes(native[product.class_var].values, product, native["height_msl"].values,
                        native["surface_elevation"].values / 1000.0,
                        quality=native["quality"].values if "quality" in native else None,
                        valid=native["valid_height"].values)


def regrid_cells_to_grid(classes: np.ndarray, centres_km: np.ndarray, grid: HeightGrid) -> np.ndarray:
    """(P, L) classes on native cells with centres ``centres_km`` -> (P, Z) classes on ``grid``: cell
    edges halfway between centres, then the common regridding rule with each profile's own edges."""
    return regrid.regrid_profile_cells(classes, cell_edges_from_centres(centres_km), grid)


def read_earthcare_tc(path: str | Path, grid: HeightGrid = config.DEFAULT_GRID,
                      product: ec.ProductType | None = None) -> xr.Dataset:
    """Read an AC__TC__2B, ATL_TC__2A or CPR_TC__2A frame into the common profile schema (profile = JSG column)."""
    path = Path(path)
    native = read_earthcare_native(path, product)
    product = ec.PRODUCT_TYPES[native.attrs["product"]]
    native = native.isel(profile=np.flatnonzero(native["usable"].values))
    phase = regrid_cells_to_grid(native_classes(native, product), native["height_msl"].values, grid)
    times = native["time"].values
    lat, lon = native["latitude"].values, native["longitude"].values
    ds = xr.Dataset(
        {
            "time": ("profile", times),
            "latitude": ("profile", lat),
            "longitude": ("profile", lon),
            "day_night": ("profile", solar_night(times, lat, lon)),
            "surface_elevation": ("profile", native["surface_elevation"].values.astype(np.float32)),
            "phase": (("profile", "height"), phase),
            "cloud_top_height": ("profile", regrid.cloud_top_height(phase, grid)),
        },
        coords={"height": ("height", grid.centres_km)},
        attrs={**native.attrs, "sha256": sha256_file(path), "height_edges_km": [float(e) for e in grid.edges_km]},
    )
    ds["height"].attrs["units"] = "km"
    ds["cloud_top_height"].attrs["units"] = "m"
    ds["surface_elevation"].attrs["units"] = "m"
    ds["surface_elevation"].attrs["comment"] = "above mean sea level: elevation minus geoid_offset"
    return ds


def read_earthcare_track(path: str | Path, product: ec.ProductType | None = None) -> xr.Dataset:
    """Time, latitude, longitude per profile, reading only those three variables (for planning)."""
    path = Path(path)
    with _open(path) as h:
        product, info = identify(h, path, product)
        meta = _granule_meta(h, path, product, info)
        geo = _geolocation(h, path, product)
    ok = geo["ok"]
    return xr.Dataset(
        {"time": ("profile", geo["time"][ok]), "latitude": ("profile", geo["latitude"][ok]),
         "longitude": ("profile", geo["longitude"][ok])},
        attrs={**_file_attrs(path, product, meta), "sampling": "profile"},
    )


def _iso(t: np.datetime64) -> str:
    return str(np.datetime_as_string(t, unit="ms")) + "Z"


def earthcare_summary(path: str | Path, product: ec.ProductType | None = None) -> dict:
    """The ``inspect --json`` summary: product, baseline, orbit, frame, profiles, spans and class counts.

    ``class_counts`` counts the cells of the class variable by native code, as stored (every code of
    the table, zeros included); ``phase_counts`` the same cells by cloudbench class after the table.
    """
    path = Path(path)
    native = read_earthcare_native(path, product)
    product = ec.PRODUCT_TYPES[native.attrs["product"]]
    usable = native["usable"].values
    codes = native[product.class_var].values
    counts = np.bincount(codes.view(np.uint8).ravel(), minlength=256)
    class_counts = {str(code): int(counts[code & 0xFF]) for code in sorted(product.table)}
    phases = ec.class_lookup(product.table)[codes.view(np.uint8)]
    phase_names = {**config.CLASS_NAMES, UNLABELED: "unlabeled"}
    phase_counts = {name: int((phases == code).sum()) for code, name in phase_names.items()}
    times = native["time"].values[usable]
    lat, lon = native["latitude"].values[usable], native["longitude"].values[usable]
    has = times.size > 0
    return {
        "product": product.code,
        "version": native.attrs["version"],
        "baseline": native.attrs["version"],
        "orbit": native.attrs["orbit"],
        "frame": native.attrs["frame"],
        "n_profiles": int(native.sizes["profile"]),
        "n_levels": int(native.sizes["level"]),
        "time_start": _iso(times.min()) if has else None,
        "time_end": _iso(times.max()) if has else None,
        "lat_range": [float(lat.min()), float(lat.max())] if has else None,
        "lon_range": [float(lon.min()), float(lon.max())] if has else None,
        "class_variable": product.class_var,
        "class_counts": class_counts,
        "phase_counts": phase_counts,
        "height_reference": native.attrs["height_reference"],
    }


def probe(path: str | Path, product: ec.ProductType) -> bool:
    """Whether a file whose name says nothing holds ``product`` (header product type, else its class variable)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(8) != HDF5_MAGIC:
                return False
        import h5py

        with h5py.File(path, "r") as h:
            code = _product_type_in(h)
            if code is not None:
                return code == product.code
            return f"{ec.SCIENCE}/{product.class_var}" in h
    except Exception:
        return False
