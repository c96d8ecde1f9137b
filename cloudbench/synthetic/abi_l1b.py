"""Write format-faithful GOES-R ABI L1b RadF files (netCDF4) from physical band values.

The variable and attribute structure copies real L1b files (``tests/data/real``): ``Rad`` as
unsigned-in-int16 counts with scale/offset/fill, ``DQF``, ``x``/``y`` as scaled int16 scan angles,
``goes_imager_projection``, ``t``/``time_bounds`` (J2000 seconds), band and calibration scalars
(``esun``, ``kappa0``, ``earth_sun_distance_anomaly_in_AU``, ``planck_fk1/fk2/bc1/bc2``), the
sub-point and statistics scalars, and the global attributes satpy and people look at. Chunking
(226 x 226, zlib level 1) follows the real full-disk files. satpy's ``abi_l1b`` reader loads them.
"""

from __future__ import annotations

import math
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import netCDF4
import numpy as np

from cloudbench.products import abi_l1b as P
from cloudbench.products.geostationary import FullDiskGeometry

_MAX_REFLECTANCE = 1.2
_VIS_ZERO_COUNT = 16  # counts below give negative radiance
_BT_MAX_K = {"C07": 410.0}
_BT_MAX_DEFAULT_K = 340.0
_IR_ZERO_COUNT = 24.5
CHUNK = 226


def earth_sun_distance_au(when: datetime) -> float:
    """Earth-Sun distance (AU) on a date: 1 - 0.01672 cos(2 pi (doy - 4) / 365.256)."""
    doy = when.timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(2 * math.pi * (doy - 4) / 365.256)


def rad_scaling(band: str) -> tuple[float, float]:
    """Rad scale_factor and add_offset of a synthetic file of ``band`` (float32-exact values).

    The counts (0 .. 2**bits - 2) span a reflectance up to 120 % (VIS) or brightness temperatures up
    to 340 K (410 K for C07), a few counts below zero radiance, as in real files.
    """
    b = P.BANDS[band]
    top = 2**b.bits - 2
    if b.kind == "vis":
        rad_max = _MAX_REFLECTANCE * b.esun / math.pi
        scale = rad_max / (top - _VIS_ZERO_COUNT)
        offset = -_VIS_ZERO_COUNT * scale
    else:
        fk1, fk2, bc1, bc2 = b.planck
        t = _BT_MAX_K.get(band, _BT_MAX_DEFAULT_K)
        rad_max = fk1 / math.expm1(fk2 / (bc1 + bc2 * t))
        scale = rad_max / (top - _IR_ZERO_COUNT)
        offset = -_IR_ZERO_COUNT * scale
    return float(np.float32(scale)), float(np.float32(offset))


def physical_to_rad_counts(values: np.ndarray, band: str, when: datetime) -> np.ndarray:
    """Reflectance (%) or BT (K) -> uint16 Rad counts; NaN -> the fill value."""
    b = P.BANDS[band]
    scale, offset = rad_scaling(band)
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    if b.kind == "vis":
        d = earth_sun_distance_au(when)
        rad = np.where(finite, v, 0.0) / 100.0 * b.esun / (math.pi * d * d)
        lowest = 0
    else:
        fk1, fk2, bc1, bc2 = b.planck
        t = np.where(finite, v, 250.0)
        rad = fk1 / np.expm1(fk2 / (bc1 + bc2 * t))
        lowest = int(math.ceil(_IR_ZERO_COUNT))
    counts = np.clip(np.rint((rad - np.float32(offset)) / np.float32(scale)), lowest, 2**b.bits - 2)
    out = counts.astype(np.uint16)
    out[~finite] = b.fill
    return out


def _j2000(t: datetime) -> float:
    t = t.astimezone(UTC).replace(tzinfo=None)
    return (np.datetime64(t, "ns") - P.J2000_EPOCH).astype(np.int64) / 1e9


def _iso(t: datetime) -> str:
    t = t.astimezone(UTC)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 100000}Z"


def _create(ds, name: str, dtype: str, dims: tuple[str, ...], **kw):
    """createVariable with netCDF4's automatic packing off: we write raw counts and scaled ints."""
    v = ds.createVariable(name, dtype, dims, **kw)
    v.set_auto_maskandscale(False)
    return v


def _scalar(ds, name: str, dtype: str, value, fill=None, **attrs) -> None:
    kw = {} if fill is None else {"fill_value": fill}
    v = _create(ds, name, dtype, (), **kw)
    for k, a in attrs.items():
        v.setncattr(k, a)
    v.assignValue(value)


def write_abi_file(
    path: Path,
    *,
    platform: str,
    band: str,
    values_native: np.ndarray,
    geometry: FullDiskGeometry,
    start: datetime,
    end: datetime,
    mode: int,
) -> None:
    """Write one RadF file of ``band`` (values at the band's native resolution) to ``path``."""
    b = P.BANDS[band]
    res = b.resolution_km
    lines, cols = values_native.shape
    counts = physical_to_rad_counts(values_native, band, start)
    scale, offset = rad_scaling(band)
    angles = P.scan_angles(geometry.native_shape(res)[1], res, geometry.reduction)
    valid = counts != b.fill
    created = end + timedelta(seconds=6.5)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        ds.set_auto_maskandscale(False)
        ds.createDimension("y", lines)
        ds.createDimension("x", cols)
        ds.createDimension("number_of_time_bounds", 2)
        ds.createDimension("band", 1)
        ds.createDimension("number_of_image_bounds", 2)
        _global_attrs(ds, platform, b, path.name, start, end, created, mode)
        chunk = min(CHUNK, lines, cols)
        coords = "band_id band_wavelength t y x"

        rad = _create(ds, "Rad", "i2", ("y", "x"), zlib=True, complevel=1, chunksizes=(chunk, chunk),
                                fill_value=np.int16(b.fill))
        rad.setncattr("long_name", "ABI L1b Radiances")
        rad.setncattr("standard_name", "toa_outgoing_radiance_per_unit_wavelength" if b.kind == "vis"
                      else "toa_outgoing_radiance_per_unit_wavenumber")
        rad.setncattr("_Unsigned", "true")
        rad.setncattr("sensor_band_bit_depth", np.int8(b.bits))
        rad.setncattr("valid_range", np.array([0, 2**b.bits - 2], dtype=np.int16))
        rad.setncattr("scale_factor", np.float32(scale))
        rad.setncattr("add_offset", np.float32(offset))
        rad.setncattr("units", "W m-2 sr-1 um-1" if b.kind == "vis" else "mW m-2 sr-1 (cm-1)-1")
        step = abs(angles["x_scale"])
        rad.setncattr("resolution", f"y: {step:.6f} rad x: {step:.6f} rad")
        rad.setncattr("coordinates", coords)
        rad.setncattr("grid_mapping", "goes_imager_projection")
        rad.setncattr("cell_methods", "t: point area: point")
        rad.setncattr("ancillary_variables", "DQF")
        rad[:] = counts.view(np.int16)

        dqf = _create(ds, "DQF", "i1", ("y", "x"), zlib=True, complevel=1, chunksizes=(chunk, chunk),
                                fill_value=np.int8(-1))
        dqf.setncattr("long_name", "ABI L1b Radiances data quality flags")
        dqf.setncattr("standard_name", "status_flag")
        dqf.setncattr("_Unsigned", "true")
        dqf.setncattr("valid_range", np.array([0, 4], dtype=np.int8))
        dqf.setncattr("units", "1")
        dqf.setncattr("coordinates", coords)
        dqf.setncattr("grid_mapping", "goes_imager_projection")
        dqf.setncattr("cell_methods", "t: point area: point")
        dqf.setncattr("flag_values", np.array([0, 1, 2, 3, 4], dtype=np.int8))
        dqf.setncattr("flag_meanings", "good_pixel_qf conditionally_usable_pixel_qf out_of_range_pixel_qf "
                      "no_value_pixel_qf focal_plane_temperature_threshold_exceeded_qf")
        dqf.setncattr("number_of_qf_values", np.int8(5))
        n_valid = int(valid.sum())
        dqf.setncattr("percent_good_pixel_qf", np.float32(1.0 if n_valid else 0.0))
        for flag in ("conditionally_usable", "out_of_range", "no_value"):
            dqf.setncattr(f"percent_{flag}_pixel_qf", np.float32(0.0))
        dqf.setncattr("percent_focal_plane_temperature_threshold_exceeded_qf", np.float32(0.0))
        dqf[:] = np.where(valid, 0, -1).astype(np.int8)

        t_var = _create(ds, "t", "f8", ())
        t_var.setncattr("long_name", "J2000 epoch mid-point between the start and end image scan in seconds")
        t_var.setncattr("standard_name", "time")
        t_var.setncattr("units", "seconds since 2000-01-01 12:00:00")
        t_var.setncattr("axis", "T")
        t_var.setncattr("bounds", "time_bounds")
        t_var.assignValue((_j2000(start) + _j2000(end)) / 2)

        for axis, n in (("y", lines), ("x", cols)):
            v = _create(ds, axis, "i2", (axis,))
            v.setncattr("scale_factor", np.float32(angles[f"{axis}_scale"]))
            v.setncattr("add_offset", np.float32(angles[f"{axis}_offset"]))
            v.setncattr("units", "rad")
            v.setncattr("axis", axis.upper())
            v.setncattr("long_name", f"GOES fixed grid projection {axis}-coordinate")
            v.setncattr("standard_name", f"projection_{axis}_coordinate")
            v[:] = np.arange(n, dtype=np.int16)

        tb = _create(ds, "time_bounds", "f8", ("number_of_time_bounds",))
        tb.setncattr("long_name", "Scan start and end times in seconds since epoch (2000-01-01 12:00:00)")
        tb[:] = np.array([_j2000(start), _j2000(end)])

        proj = _create(ds, "goes_imager_projection", "i4", ())
        for k, a in {
            "long_name": "GOES-R ABI fixed grid projection",
            "grid_mapping_name": "geostationary",
            "perspective_point_height": P.PERSPECTIVE_POINT_HEIGHT,
            "semi_major_axis": P.SEMI_MAJOR_AXIS,
            "semi_minor_axis": P.SEMI_MINOR_AXIS,
            "inverse_flattening": P.INVERSE_FLATTENING,
            "latitude_of_projection_origin": 0.0,
            "longitude_of_projection_origin": float(geometry.proj_lon),
            "sweep_angle_axis": P.SWEEP_ANGLE_AXIS,
        }.items():
            proj.setncattr(k, a)
        proj.assignValue(-2147483647)

        x0, x1 = angles["x_offset"], angles["x_offset"] + (cols - 1) * angles["x_scale"]
        y0, y1 = angles["y_offset"], angles["y_offset"] + (lines - 1) * angles["y_scale"]
        _scalar(ds, "y_image", "f4", np.float32((y0 + y1) / 2), units="rad", axis="Y",
                long_name="GOES-R fixed grid projection y-coordinate center of image")
        yb = _create(ds, "y_image_bounds", "f4", ("number_of_image_bounds",))
        yb.setncattr("units", "rad")
        yb[:] = np.array([y0 - angles["y_scale"] / 2, y1 + angles["y_scale"] / 2], dtype=np.float32)
        _scalar(ds, "x_image", "f4", np.float32((x0 + x1) / 2), units="rad", axis="X",
                long_name="GOES-R fixed grid projection x-coordinate center of image")
        xb = _create(ds, "x_image_bounds", "f4", ("number_of_image_bounds",))
        xb.setncattr("units", "rad")
        xb[:] = np.array([x0 - angles["x_scale"] / 2, x1 + angles["x_scale"] / 2], dtype=np.float32)

        f4fill = np.float32(-999.0)
        _scalar(ds, "nominal_satellite_subpoint_lat", "f4", 0.0, f4fill, units="degrees_north",
                long_name="nominal satellite subpoint latitude (platform latitude)")
        _scalar(ds, "nominal_satellite_subpoint_lon", "f4", float(geometry.sub_lon), f4fill, units="degrees_east",
                long_name="nominal satellite subpoint longitude (platform longitude)")
        _scalar(ds, "nominal_satellite_height", "f4", P.PERSPECTIVE_POINT_HEIGHT / 1000.0, f4fill, units="km",
                long_name="nominal satellite height above GRS 80 ellipsoid (platform altitude)")
        ext = _create(ds, "geospatial_lat_lon_extent", "f4", (), fill_value=np.float32(np.nan))
        for k, a in {
            "geospatial_westbound_longitude": np.float32(geometry.sub_lon - 81.3282),
            "geospatial_northbound_latitude": np.float32(81.3282),
            "geospatial_eastbound_longitude": np.float32(geometry.sub_lon + 81.3282),
            "geospatial_southbound_latitude": np.float32(-81.3282),
            "geospatial_lat_center": np.float32(0.0),
            "geospatial_lon_center": np.float32(geometry.sub_lon),
            "geospatial_lat_nadir": np.float32(0.0),
            "geospatial_lon_nadir": np.float32(geometry.proj_lon),
            "geospatial_lat_units": "degrees_north",
            "geospatial_lon_units": "degrees_east",
        }.items():
            ext.setncattr(k, a)
        ext.assignValue(np.float32(9.96921e36))
        yaw = _create(ds, "yaw_flip_flag", "i1", (), fill_value=np.int8(-1))
        yaw.setncattr("_Unsigned", "true")
        yaw.assignValue(0)

        bid = _create(ds, "band_id", "i1", ("band",))
        bid.setncattr("long_name", "ABI band number")
        bid.setncattr("units", "1")
        bid[:] = np.array([b.number], dtype=np.int8)
        bw = _create(ds, "band_wavelength", "f4", ("band",))
        bw.setncattr("long_name", "ABI band central wavelength")
        bw.setncattr("units", "um")
        bw[:] = np.array([b.wavelength_um], dtype=np.float32)

        d = earth_sun_distance_au(start)
        vis = b.kind == "vis"
        _scalar(ds, "esun", "f4", b.esun if vis else -999.0, f4fill, units="W m-2 um-1",
                long_name="bandpass-weighted solar irradiance at the mean Earth-Sun distance")
        _scalar(ds, "kappa0", "f4", math.pi * d * d / b.esun if vis else -999.0, f4fill, units="(W m-2 um-1)-1",
                long_name="Inverse of the incoming top of atmosphere radiance at current earth-sun distance")
        fk1, fk2, bc1, bc2 = b.planck if not vis else (-999.0,) * 4
        _scalar(ds, "planck_fk1", "f4", fk1, f4fill, units="W m-1")
        _scalar(ds, "planck_fk2", "f4", fk2, f4fill, units="K")
        _scalar(ds, "planck_bc1", "f4", bc1, f4fill, units="K")
        _scalar(ds, "planck_bc2", "f4", bc2, f4fill, units="1")
        _scalar(ds, "valid_pixel_count", "i4", n_valid, np.int32(-1), units="count")
        _scalar(ds, "missing_pixel_count", "i4", int(counts.size - n_valid), np.int32(-1), units="count")
        _scalar(ds, "earth_sun_distance_anomaly_in_AU", "f4", d, f4fill, units="ua",
                long_name="earth sun distance anomaly in astronomical units")
        for name, attrs in (
            ("algorithm_dynamic_input_data_container", {"input_ABI_L0_data": f"OR_ABI-L0-F-M{mode}_{P.PLATFORM_CODES[platform]}"}),
            ("processing_parm_version_container", {"L1b_processing_parm_version": "OR-PARM-RAD_v01r00.zip"}),
            ("algorithm_product_version_container", {"algorithm_version": "OR_ABI-L1b-ALG-RAD_v01r00.zip",
                                                     "product_version": "v01r00"}),
        ):
            _scalar(ds, name, "i4", -2147483647, **attrs)
    os.replace(tmp, path)


def _global_attrs(ds, platform: str, b: P.AbiBand, name: str, start: datetime, end: datetime, created: datetime,
                  mode: int) -> None:
    vis = b.kind == "vis"
    attrs = {
        "naming_authority": "gov.nesdis.noaa",
        "Conventions": "CF-1.7",
        "standard_name_vocabulary": "CF Standard Name Table (v35, 20 July 2016)",
        "institution": "DOC/NOAA/NESDIS > U.S. Department of Commerce, National Oceanic and Atmospheric "
                       "Administration, National Environmental Satellite, Data, and Information Services",
        "project": "GOES",
        "production_site": "RBU",
        "production_environment": "OE",
        "spatial_resolution": f"{b.resolution_km:g}km at nadir",
        "Metadata_Conventions": "Unidata Dataset Discovery v1.0",
        "orbital_slot": P.ORBITAL_SLOTS[platform],
        "platform_ID": P.PLATFORM_CODES[platform],
        "instrument_type": "GOES R Series Advanced Baseline Imager",
        "scene_id": "Full Disk",
        "instrument_ID": P.INSTRUMENT_IDS[platform],
        "title": "ABI L1b Radiances",
        "summary": "Single " + ("reflective band ABI L1b Radiance Products are digital maps of outgoing radiance "
                                "values at the top of the atmosphere for visible and near-IR bands." if vis else
                                "emissive band ABI L1b Radiance Products are digital maps of outgoing radiance "
                                "values at the top of the atmosphere for IR bands."),
        "keywords": "SPECTRAL/ENGINEERING > " + ("VISIBLE WAVELENGTHS > VISIBLE RADIANCE" if vis
                                                 else "INFRARED WAVELENGTHS > INFRARED RADIANCE"),
        "keywords_vocabulary": "NASA Global Change Master Directory (GCMD) Earth Science Keywords, Version 7.0.0.0.0",
        "iso_series_metadata_id": "a70be540-c38b-11e0-962b-0800200c9a66",
        "license": "Unclassified data.  Access is restricted to approved users only.",
        "processing_level": "National Aeronautics and Space Administration (NASA) L1b",
        "cdm_data_type": "Image",
        "dataset_name": name,
        "production_data_source": "Realtime",
        "timeline_id": f"ABI Mode {mode}",
        "date_created": _iso(created),
        "time_coverage_start": _iso(start),
        "time_coverage_end": _iso(end),
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
    }
    for k, v in attrs.items():
        ds.setncattr(k, v)


def write_abi_slot(
    root: str | Path,
    *,
    platform: str,
    slot_start: datetime,
    bands: dict[str, np.ndarray],
    geometry: FullDiskGeometry,
    mode: int | None = None,
) -> list[Path]:
    """Write one full-disk slot as one RadF netCDF per band under ``root`` in the archive layout.

    Args:
        root: ARCHIVE folder; files go to ``<platform>/ABI-L1b-RadF/YYYY/DDD/HH/``.
        platform: ``goes16`` .. ``goes19``.
        slot_start: nominal slot start (UTC; naive datetimes are taken as UTC). The scan runs from
            ``slot_start + 21.6 s`` for 570.8 s (``abi_l1b.nominal_scan_bounds``); readers derive
            line times from those bounds with ``abi_l1b.line_times``.
        bands: band name -> reflectance (%) for C01-C06 or BT (K) for C07-C16 on the 2 km grid
            (shape ``geometry.shape``), NaN off disk; finer bands are written at native resolution
            by pixel replication.
        geometry: ``geometry_for(platform, reduction)``; its x/y scale factors go into the files.
        mode: scan mode in the file name; default from the date (3 before April 2019, else 6).

    Returns:
        The written paths, one per band.
    """
    if geometry.sensor != "abi" or platform not in P.PLATFORM_CODES:
        raise ValueError(f"write_abi_slot needs an ABI platform and geometry, got {platform!r} / {geometry.sensor!r}")
    if slot_start.tzinfo is None:
        slot_start = slot_start.replace(tzinfo=UTC)
    slot_start = slot_start.astimezone(UTC)
    mode = P.scan_mode_for(slot_start) if mode is None else mode
    start, end = P.nominal_scan_bounds(slot_start)
    written = []
    for band, values in bands.items():
        if band not in P.BANDS:
            raise ValueError(f"{band!r} is not an ABI band")
        values = np.asarray(values)
        if values.shape != geometry.shape:
            raise ValueError(f"{band}: values have shape {values.shape}, the 2 km grid is {geometry.shape}")
        f = P.BANDS[band].factor
        native = np.repeat(np.repeat(values, f, axis=0), f, axis=1) if f > 1 else values
        native = np.where(geometry.disk_mask(P.BANDS[band].resolution_km), native, np.nan)  # space is fill
        name = P.build_filename(platform, band, start, end, end + timedelta(seconds=6.5), mode=mode)
        path = Path(root) / P.archive_path(platform, start, name)
        write_abi_file(path, platform=platform, band=band, values_native=native, geometry=geometry,
                       start=start, end=end, mode=mode)
        written.append(path)
    return written
