"""What the per-sample arrays mean, written so that plain Zarr and xarray readers understand them.

The PAIRS job stores (``jobs/<job_id>.zarr``) and the DATASET split stores (``<split>.zarr``) hold the
same six arrays. Each carries Zarr v3 ``dimension_names`` and CF-style attributes (``long_name``,
``units``, ``standard_name`` where CF has one, ``flag_values``/``flag_meanings`` on the phase classes),
and each group holds coordinate arrays: band and aux channel names with their units, height bin
centres and bounds in km, and the sample ids. ``xarray.open_zarr(path)`` and ``zarr.open_group(path)``
then open a store without cloudbench, with the names this module gives.

Padding: ``track_rows``/``track_cols`` are -1 and ``profiles`` 255 beyond ``n_track``; that value is
each array's Zarr ``fill_value``. No ``_FillValue`` attribute is written on purpose: xarray would
then turn the integer arrays into floats with NaN. xarray does not mask a Zarr v3 ``fill_value``, so
``open_zarr`` returns the stored integers, the same values the loader reads; the attributes say what
the padding value means (255 in ``profiles`` is also "no label" on the track: below an opaque layer,
or a bin the instrument did not see).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cloudbench.config import CLASS_NAMES, UNLABELED
from cloudbench.sensors.registry import find_band

ARRAY_NAMES = ("x", "aux", "track_rows", "track_cols", "profiles", "n_track")
"""The per-sample arrays of a PAIRS job (and of a DATASET split), in storage order."""

SAMPLE_DIM = "sample"
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "x": (SAMPLE_DIM, "band", "row", "col"),
    "aux": (SAMPLE_DIM, "aux_channel", "row", "col"),
    "track_rows": (SAMPLE_DIM, "track"),
    "track_cols": (SAMPLE_DIM, "track"),
    "profiles": (SAMPLE_DIM, "track", "height"),
    "n_track": (SAMPLE_DIM,),
}
"""Zarr ``dimension_names`` of each array; ``row``/``col`` index the patch, ``track`` the track pixels."""

PADDING: dict[str, int] = {"track_rows": -1, "track_cols": -1, "profiles": UNLABELED}
"""Padding beyond ``n_track``, also each array's Zarr ``fill_value`` (0 for the others)."""

CONVENTIONS = "CF-1.10"

BAND_QUANTITIES: dict[str, tuple[str, str, str]] = {
    "vis": ("%", "toa_bidirectional_reflectance", "top-of-atmosphere reflectance"),
    "ir": ("K", "toa_brightness_temperature", "top-of-atmosphere brightness temperature"),
}
"""Per band kind of the imager band tables: units, CF standard name, long name."""

AUX_CHANNELS: dict[str, tuple[str, str, str]] = {
    "satellite_zenith": ("degree", "sensor_zenith_angle", "satellite zenith angle at the pixel"),
    "solar_zenith": ("degree", "solar_zenith_angle", "solar zenith angle at the pixel"),
    "latitude": ("degrees_north", "latitude", "latitude of the pixel centre"),
    "longitude": ("degrees_east", "longitude", "longitude of the pixel centre"),
}
"""Units, CF standard name and long name of every aux channel (``config.AUX_NAMES``)."""


def fill_value(name: str) -> int:
    return PADDING.get(name, 0)


def band_quantity(band: str) -> tuple[str, str, str]:
    """(units, standard_name, long_name) of an imager band; empty strings for a band no imager has."""
    spec = find_band(band)
    if spec is None or spec.kind not in BAND_QUANTITIES:
        return "", "", ""
    return BAND_QUANTITIES[spec.kind]


def _aux_quantity(name: str) -> tuple[str, str, str]:
    return AUX_CHANNELS.get(name, ("", "", name.replace("_", " ")))


def _channel_attrs(quantities: list[tuple[str, str, str]], long_name: str, per_channel: str) -> dict:
    """``units``/``standard_name`` when every channel shares them; else a pointer to the per-channel ones."""
    attrs: dict = {"long_name": long_name}
    units = {q[0] for q in quantities}
    names = {q[1] for q in quantities}
    if len(units) == 1 and "" not in units:
        attrs["units"] = units.pop()
    else:
        attrs["comment"] = f"channels differ in units: see the {per_channel} coordinate"
    if len(names) == 1 and "" not in names:
        attrs["standard_name"] = names.pop()
    return attrs


def array_attributes(name: str, bands: list[str], aux_names: list[str], patch_size: int) -> dict:
    """CF-style attributes of one per-sample array."""
    sample = "sample_id"
    if name == "x":
        attrs = _channel_attrs([band_quantity(b) for b in bands],
                               "imager bands on the patch grid: reflectance (%) or brightness temperature (K)",
                               "band_units")
        attrs["coordinates"] = f"band_units band_wavelength {sample}"
        return attrs
    if name == "aux":
        attrs = _channel_attrs([_aux_quantity(a) for a in aux_names], "viewing geometry and position of each pixel",
                               "aux_units")
        attrs["coordinates"] = f"aux_units {sample}"
        return attrs
    if name in ("track_rows", "track_cols"):
        what = "row" if name == "track_rows" else "column"
        return {
            "long_name": f"patch {what} of each track pixel, in track order",
            "units": "1", "valid_min": 0, "valid_max": int(patch_size) - 1,
            "comment": f"{PADDING[name]} (the Zarr fill_value) pads the track beyond n_track",
            "coordinates": sample,
        }  # fmt: skip
    if name == "profiles":
        codes = sorted(CLASS_NAMES)
        return {
            "long_name": "cloud phase class of each track pixel's profile per height bin",
            "flag_values": [*codes, UNLABELED],
            "flag_meanings": " ".join([CLASS_NAMES[c] for c in codes] + ["unlabeled"]),
            "comment": (f"{UNLABELED} (the Zarr fill_value) is a bin without a label: below an opaque layer, "
                        "not seen by the instrument, or track padding beyond n_track"),
            "coordinates": f"height_bounds {sample}",  # so xarray shows the bin edges as a coordinate
        }  # fmt: skip
    if name == "n_track":
        return {"long_name": "number of valid track pixels (the first n_track entries of track_rows, track_cols "
                             "and profiles)", "units": "1", "coordinates": sample}
    raise KeyError(f"no array named {name!r}; the arrays are {', '.join(ARRAY_NAMES)}")


@dataclass(frozen=True)
class Coordinate:
    """One coordinate array of a store: its dimensions, values and attributes."""

    dims: tuple[str, ...]
    values: np.ndarray
    attrs: dict


def coordinates(*, bands: list[str] | None = None, aux_names: list[str] | None = None,
                height_edges_km: list[float] | None = None, sample_ids: list[str] | None = None) -> dict[str, Coordinate]:
    """The coordinate arrays of a store (band and aux names, height bins, sample ids) for what is given."""
    out: dict[str, Coordinate] = {}
    if bands is not None:
        band_q = [band_quantity(b) for b in bands]
        wavelengths = [getattr(find_band(b), "wavelength_um", np.nan) for b in bands]
        out["band"] = Coordinate(("band",), np.array(bands, dtype=str), {"long_name": "imager band name"})
        out["band_units"] = Coordinate(("band",), np.array([q[0] for q in band_q], dtype=str),
                                       {"long_name": "units of each band: % (reflectance) or K (brightness temperature)"})
        out["band_wavelength"] = Coordinate(("band",), np.array(wavelengths, dtype=np.float64),
                                            {"long_name": "central wavelength of each band", "units": "um",
                                             "standard_name": "sensor_band_central_radiation_wavelength"})
    if aux_names is not None:
        out["aux_channel"] = Coordinate(("aux_channel",), np.array(aux_names, dtype=str),
                                        {"long_name": "aux channel name"})
        out["aux_units"] = Coordinate(("aux_channel",), np.array([_aux_quantity(a)[0] for a in aux_names], dtype=str),
                                      {"long_name": "units of each aux channel"})
    if height_edges_km is not None:
        edges = np.asarray(height_edges_km, dtype=np.float64)
        out["height"] = Coordinate(("height",), 0.5 * (edges[:-1] + edges[1:]),
                                   {"long_name": "height bin centre above mean sea level", "units": "km",
                                    "standard_name": "altitude", "positive": "up", "axis": "Z",
                                    "bounds": "height_bounds"})
        out["height_bounds"] = Coordinate(("height", "bounds"), np.stack([edges[:-1], edges[1:]], axis=1),
                                          {"long_name": "height bin edges (bottom, top) above mean sea level",
                                           "units": "km"})
    if sample_ids is not None:
        out["sample_id"] = Coordinate((SAMPLE_DIM,), np.array(list(sample_ids), dtype=str).reshape(-1),
                                      {"long_name": "sample identifier <job_id>-<k>, the key of the sample tables"})
    return out


def group_attributes() -> dict:
    """Attributes every store group carries besides its own (bands, height edges, ...)."""
    return {"Conventions": CONVENTIONS,
            "title": "cloudbench samples: imager patches paired with cloud phase profiles along a track"}


def write_arrays_metadata(group, names: tuple[str, ...], bands: list[str], aux_names: list[str],
                          patch_size: int) -> None:
    """Set the CF attributes of already created per-sample arrays of ``group``."""
    for name in names:
        group[name].attrs.update(array_attributes(name, bands, aux_names, patch_size))


def write_coordinates(group, coords: dict[str, Coordinate], sample_chunk: int) -> None:
    """Create the coordinate arrays in a Zarr v3 group; ``sample_id`` is chunked by ``sample_chunk``."""
    for name, coord in coords.items():
        values = coord.values
        text = values.dtype.kind == "U"
        if coord.dims == (SAMPLE_DIM,):
            chunks = (max(1, min(len(values), sample_chunk)),)
        else:
            chunks = tuple(max(1, n) for n in values.shape)
        array = group.create_array(name, shape=values.shape, dtype=str if text else values.dtype, chunks=chunks,
                                   dimension_names=coord.dims, fill_value="" if text else None)
        if values.size:
            array[...] = values
        array.attrs.update(coord.attrs)
