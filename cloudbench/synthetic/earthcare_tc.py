"""Write format-faithful EarthCARE AC__TC__2B, ATL_TC__2A and CPR_TC__2A frames from track layers.

Structure (docs/earthcare.md): netCDF-4/HDF5 with ``/HeaderData/FixedProductHeader``,
``/HeaderData/VariableProductHeader/MainProductHeader`` (scalar strings and numbers) and
``/ScienceData`` (dims ``along_track`` and ``JSG_height`` or ``CPR_height``; float64 time/position,
float32 heights, int8 classes without ``_FillValue`` and with a ``definition`` attribute).

The writer plays both instruments, per ~100 m cell of each profile, looking down through the truth
layers:

- the lidar (ATLID) reports clear air, aerosol near the ground in some stretches, liquid (warm or
  supercooled by the cell's temperature), ice, and nothing below the depth where the optical depth
  from the top reaches ``ATTENUATION_OPTICAL_DEPTH``; it has no mixed class: mixed layers look like
  supercooled liquid to it;
- the radar (CPR) sees ice and mixed layers above ``CPR_MIN_ICE_OPTICAL_DEPTH`` and liquid only from
  ``CPR_MIN_LIQUID_OPTICAL_DEPTH`` (non-drizzling liquid is below its sensitivity), is not blinded by
  cloud, and loses everything within ``CPR_CLUTTER_KM`` of the ground to surface clutter;
- the synergy (AC__TC__2B) takes the lidar where it sees and the radar below; where the lidar is blind
  and the radar sees nothing the bin is "no rain or ice (possible liquid)".

Heights are written above the WGS84 ellipsoid: the product's mean-sea-level grid plus a smooth
synthetic geoid (``synthetic_geoid_m``, within +-70 m; tests pass their own), and ``elevation`` is the
surface above the ellipsoid, so a reader that gets the geoid sign wrong puts every height 2N off.
The medium and low resolution classifications repeat the full-resolution one (no smoothing).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cloudbench.config import FREEZING_K, ICE, MIXED, WATER
from cloudbench.products import earthcare as ec
from cloudbench.synthetic.layers import TrackLayers
from cloudbench.synthetic.orbit import EARTHCARE, SunSyncOrbit, _to_ns, sample_times
from cloudbench.synthetic.scene import temperature_k

ATTENUATION_OPTICAL_DEPTH = 3.0  # the lidar's limit, as for CALIOP
CPR_MIN_ICE_OPTICAL_DEPTH = 0.5  # thinner cirrus is below the radar's sensitivity
CPR_MIN_LIQUID_OPTICAL_DEPTH = 8.0  # non-drizzling liquid below this is below the radar's sensitivity
CPR_DRIZZLE_OPTICAL_DEPTH = 20.0  # liquid this thick drizzles
CPR_CLUTTER_KM = 0.5  # the radar's surface clutter reaches this far above the ground
DEEP_ICE_KM = 4.0  # an ice layer this thick is reported as snow
AEROSOL_TOP_KM = 1.5  # aerosol layers fill the clear cells up to this height above the ground
PROCESSING_DELAY = timedelta(hours=3, minutes=51, seconds=41)  # sensing start -> processing start in names
JSG_SPACING_KM = 1.0  # along-track spacing of the joint standard grid (inferred)

# ATL aerosol code -> the synergetic product's code for the same aerosol type
_ATL_TO_AC_AEROSOL = {10: 26, 11: 27, 12: 28, 13: 29, 14: 30, 15: 31}


# --- frames ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EarthcareFrame:
    """One frame of the synthetic orbit: [start, end), its orbit number and letter."""

    start: np.datetime64
    end: np.datetime64
    orbit: int
    frame: str


def frames(start, end, orbit: SunSyncOrbit = EARTHCARE) -> list[EarthcareFrame]:
    """Frames overlapping [start, end), in time order, cut from ``orbit`` at the frame latitudes.

    Orbit N starts with frame A, whose middle is N's ascending node; the polar frames C and G are a
    little shorter than an eighth of the orbit, the others a little longer (B: ~708 s).
    """
    start_ns, end_ns = _to_ns(start), _to_ns(end)
    first, _ = orbit.orbit_phase(np.array([start_ns]))
    last, _ = orbit.orbit_phase(np.array([end_ns]))
    out = []
    for n in range(int(first[0]) - 1, int(last[0]) + 2):
        for letter in ec.FRAMES:
            u0, u1 = ec.frame_bounds_u(letter, orbit.inclination_deg)
            t0, t1 = orbit.time_at(n, u0), orbit.time_at(n, u1)
            if t0 < end_ns and t1 > start_ns:
                out.append(EarthcareFrame(t0, t1, n, letter))
    return out


def sample_interval_s(orbit: SunSyncOrbit = EARTHCARE) -> float:
    """Seconds between two profiles of the joint standard grid (about 1 km apart)."""
    return JSG_SPACING_KM / orbit.ground_speed_km_s()


def frame_times(frame: EarthcareFrame, orbit: SunSyncOrbit = EARTHCARE) -> np.ndarray:
    """Profile times of a whole frame."""
    return sample_times(frame.start, frame.end, sample_interval_s(orbit))


# --- geometry -------------------------------------------------------------------------------------------
def synthetic_geoid_m(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """A smooth stand-in for the geoid height above the WGS84 ellipsoid (m, within +-70)."""
    la, lo = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    return 45.0 * np.sin(2 * la) * np.cos(lo - np.radians(30.0)) + 25.0 * np.cos(3 * lo) * np.cos(la)


def level_centres_msl_km(product: ec.ProductType) -> np.ndarray:
    """(L,) centre heights above mean sea level of the product's levels, top first."""
    return product.top_km - product.step_km * np.arange(product.n_levels)


# --- what the instruments report ----------------------------------------------------------------------------
@dataclass
class CellView:
    """Per (profile, level) cell: the truth layer holding its centre and what each instrument can see."""

    layer: np.ndarray  # int: slot of the truth layer holding the cell centre, -1 outside every layer
    phase: np.ndarray  # uint8: that layer's phase (0 outside)
    warm: np.ndarray  # bool: the cell is warmer than freezing
    lidar_blind: np.ndarray  # bool: optical depth above the centre >= the lidar's limit
    radar_sees: np.ndarray  # bool: the cell's layer is above the radar's sensitivity
    deep_ice: np.ndarray  # bool: the cell's layer is ice thicker than DEEP_ICE_KM
    drizzle: np.ndarray  # bool: the cell's layer is liquid thick enough to drizzle
    below_ground: np.ndarray  # bool: the whole cell is below the surface
    surface_cell: np.ndarray  # bool: the cell holds the surface
    clutter: np.ndarray  # bool: above the ground but within the radar's clutter
    aerosol: np.ndarray  # int8: ATL aerosol code of clear cells in an aerosol stretch, 0 elsewhere
    no_data: np.ndarray  # bool (P,): a profile without valid position or surface


def view_cells(layers: TrackLayers, centres_km: np.ndarray, *, seed: int = 0) -> CellView:
    """What each instrument sees in each cell, with ``centres_km`` (L,) the level centres above mean sea level."""
    n = layers.n
    centre = np.broadcast_to(np.asarray(centres_km, dtype=np.float64), (n, centres_km.size))
    half = 0.5 * abs(float(centres_km[0] - centres_km[1]))
    cell_top, cell_bottom = centre + half, centre - half
    layer = np.full(centre.shape, -1, dtype=np.int64)
    tau_above = np.zeros(centre.shape)
    radar_layer = np.zeros(layers.top_km.shape, dtype=bool)
    for slot in range(layers.top_km.shape[1]):
        top = layers.top_km[:, slot].astype(np.float64)[:, None]
        base = layers.base_km[:, slot].astype(np.float64)[:, None]
        ok = np.isfinite(top) & np.isfinite(base) & (top > base)
        if not ok.any():
            continue
        tau = np.nan_to_num(layers.optical_depth[:, slot].astype(np.float64))
        phase = layers.phase[:, slot]
        liquid = phase == WATER
        radar_layer[:, slot] = ok[:, 0] & np.where(liquid, tau >= CPR_MIN_LIQUID_OPTICAL_DEPTH,
                                                   tau >= CPR_MIN_ICE_OPTICAL_DEPTH)
        depth = np.clip((top - centre) / np.where(ok, top - base, 1.0), 0.0, 1.0)
        tau_above += np.where(ok, tau[:, None] * depth, 0.0)
        inside = ok & (centre >= base) & (centre < top) & (layer < 0)
        layer[inside] = slot
    rows = np.arange(n)[:, None]
    slot = np.clip(layer, 0, None)
    in_layer = layer >= 0
    phase = np.where(in_layer, layers.phase[rows, slot], 0).astype(np.uint8)
    thickness = (layers.top_km - layers.base_km).astype(np.float64)[rows, slot]
    tau_layer = np.nan_to_num(layers.optical_depth.astype(np.float64))[rows, slot]
    lat = layers.latitude.astype(np.float64)[:, None]
    surface = layers.surface_km.astype(np.float64)[:, None]
    rng = np.random.default_rng([seed, 4242])
    aerosol = np.zeros(centre.shape, dtype=np.int8)
    # aerosol in stretches of ~50 profiles, a type per stretch, in the clear cells near the ground
    stretch = np.arange(n) // 50
    kinds = rng.choice(np.array([0, 0, 10, 11, 12, 13, 14, 15], dtype=np.int8), size=int(stretch.max()) + 1 if n else 0)
    near_ground = (centre - surface < AEROSOL_TOP_KM) & (cell_bottom >= surface)
    aerosol[near_ground] = np.broadcast_to(kinds[stretch][:, None], centre.shape)[near_ground]
    no_data = ~(np.isfinite(layers.surface_km) & np.isfinite(layers.latitude) & np.isfinite(layers.longitude))
    return CellView(
        layer=layer,
        phase=phase,
        warm=temperature_k(centre, lat) >= FREEZING_K,
        lidar_blind=tau_above >= ATTENUATION_OPTICAL_DEPTH,
        radar_sees=in_layer & radar_layer[rows, slot],
        deep_ice=in_layer & (phase == ICE) & (thickness > DEEP_ICE_KM),
        drizzle=in_layer & (phase == WATER) & (tau_layer >= CPR_DRIZZLE_OPTICAL_DEPTH),
        below_ground=cell_top <= surface,
        surface_cell=(cell_bottom <= surface) & (surface < cell_top),
        clutter=(cell_bottom > surface) & (centre < surface + CPR_CLUTTER_KM),
        aerosol=np.where(in_layer, 0, aerosol).astype(np.int8),
        no_data=no_data,
    )


def atlid_codes(v: CellView) -> np.ndarray:
    """ATL_TC__2A ``classification`` per cell."""
    out = np.zeros(v.layer.shape, dtype=np.int8)  # clear
    out[v.aerosol != 0] = v.aerosol[v.aerosol != 0]
    liquid = (v.phase == WATER) | (v.phase == MIXED)  # the lidar has no mixed class
    out[liquid & v.warm] = 1
    out[liquid & ~v.warm] = 2
    out[v.phase == ICE] = 3
    out[v.lidar_blind] = -1
    out[v.surface_cell & ~v.lidar_blind] = -2
    out[v.below_ground] = -3
    out[v.no_data] = -3
    return out


def cpr_codes(v: CellView) -> np.ndarray:
    """CPR_TC__2A ``hydrometeor_classification`` per cell."""
    out = np.ones(v.layer.shape, dtype=np.int8)  # clear (no echo)
    seen = v.radar_sees
    out[seen & (v.phase == WATER)] = 2
    out[seen & (v.phase == WATER) & v.drizzle] = 3
    out[seen & (v.phase == MIXED)] = 7
    out[seen & (v.phase == ICE)] = 9
    out[seen & v.deep_ice] = 8
    out[v.clutter] = np.where(seen[v.clutter], 18, 19)
    out[v.surface_cell | v.below_ground] = 0
    out[v.below_ground & ~v.surface_cell] = -1
    out[v.no_data] = -1
    return out


def synergetic_codes(v: CellView, atlid: np.ndarray) -> np.ndarray:
    """AC__TC__2B ``synergetic_target_classification`` per cell: the lidar where it sees, the radar below."""
    out = np.full(v.layer.shape, 7, dtype=np.int8)  # blind lidar, no echo: possible liquid
    sees = ~v.lidar_blind
    out[sees] = 1
    for atl, ac in _ATL_TO_AC_AEROSOL.items():
        out[sees & (atlid == atl)] = ac
    out[sees & (v.phase == WATER) & v.warm] = 8
    out[sees & (v.phase == WATER) & ~v.warm] = 18
    out[sees & (v.phase == ICE)] = 21
    out[sees & (v.phase == MIXED)] = 20
    radar_only = v.lidar_blind & v.radar_sees
    out[radar_only & (v.phase == ICE)] = 19
    out[radar_only & v.deep_ice] = 13
    out[radar_only & (v.phase == MIXED)] = 15
    out[radar_only & (v.phase == WATER)] = 9
    out[v.clutter & v.lidar_blind] = np.where(v.radar_sees[v.clutter & v.lidar_blind], 4, 7)
    out[v.surface_cell | v.below_ground] = 0
    out[v.no_data] = -1
    return out


def reported_codes(product: ec.ProductType, view: CellView) -> np.ndarray:
    """The codes of ``product.class_var`` per cell: what the product's instruments report for ``view``."""
    atlid = atlid_codes(view)
    if product.code == ec.AC_TC.code:
        return synergetic_codes(view, atlid)
    if product.code == ec.ATL_TC.code:
        return atlid
    return cpr_codes(view)


# --- definitions ---------------------------------------------------------------------------------------------
def definition_text(table, style: str) -> str:
    """A ``definition`` attribute for a class table: ``code: label`` lines or ``code=label`` pairs."""
    if style == "pairs":
        return ", ".join(f"{code}={entry.label}" for code, entry in sorted(table.items()))
    return "\n".join(f"{code}: {entry.label}" for code, entry in sorted(table.items()))


_ATL_SIMPLE = {-3: "missing", -2: "surface", -1: "attenuated", 0: "clear", 1: "liquid cloud", 2: "ice cloud",
               3: "aerosol", 4: "stratospheric cloud", 5: "stratospheric aerosol"}
_QUALITY = {0: "good", 16: "no data"}
_PROCESSORS = {ec.AC_TC.code: "AC-TC", ec.ATL_TC.code: "A-TC", ec.CPR_TC.code: "C-TC"}
_CPR_QUALITY = {0: "good", 1: "bad"}
_DOPPLER = {-1: "no data", 0: "clear", 1: "cloud", 2: "precipitation"}
_CONVECTIVE = {-1: "no data", 0: "clear", 1: "stratiform", 2: "convective"}


def _plain_definition(codes: dict[int, str], style: str) -> str:
    if style == "pairs":
        return ", ".join(f"{c}={t}" for c, t in sorted(codes.items()))
    return "\n".join(f"{c}: {t}" for c, t in sorted(codes.items()))


def _atl_simple(atlid: np.ndarray) -> np.ndarray:
    out = np.where(atlid < 0, atlid, 0).astype(np.int8)
    out[atlid == 1] = 1
    out[atlid == 2] = 1
    out[atlid == 3] = 2
    out[(atlid >= 10) & (atlid <= 15)] = 3
    return out


# --- writing ----------------------------------------------------------------------------------------------------
def _utc_text(t: np.datetime64) -> str:
    return "UTC=" + str(np.datetime_as_string(np.datetime64(t, "us"), unit="us"))


def _aware(t: np.datetime64) -> datetime:
    return np.datetime64(t, "us").astype(datetime).replace(tzinfo=UTC)


def default_filename(product: ec.ProductType, layers: TrackLayers, frame: EarthcareFrame, *,
                     baseline: str | None = None) -> str:
    """The product name of a frame written from ``layers`` (sensing start: the first profile, to the second)."""
    start = _aware(np.datetime64(layers.time[0], "s"))
    return ec.build_filename(product.code, start, frame.orbit, frame.frame, baseline=baseline or product.baseline,
                             processing_start=start + PROCESSING_DELAY)


def _scalar(group, name: str, value) -> None:
    if isinstance(value, str):
        var = group.createVariable(name, str, ())
        var[...] = value
        return
    arr = np.asarray(value)
    var = group.createVariable(name, arr.dtype, ())
    var.assignValue(arr)


def _write_headers(root, product: ec.ProductType, name: str, layers: TrackLayers, frame: EarthcareFrame,
                   orbit: SunSyncOrbit) -> None:
    stem = name[: -len(ec.H5_SUFFIX)]
    info = ec.parse_filename(name)
    fixed = root.createGroup(ec.FIXED_HEADER)
    for key, value in (("File_Name", stem), ("File_Description", product.description), ("Notes", "synthetic"),
                       ("Mission", "EarthCARE"), ("File_Class", f"{info.agency}{info.latency}{info.baseline}"),
                       ("File_Type", product.code), ("File_Version", "0001")):
        _scalar(fixed, key, value)
    source = fixed.createGroup("Source")
    for key, value in (("System", "cloudbench"), ("Creator", "cloudbench.synthetic"), ("Creator_Version", "1"),
                       ("Creation_Date", _utc_text(np.datetime64(info.processing_start.replace(tzinfo=None))))):
        _scalar(source, key, value)
    validity = fixed.createGroup("Validity_Period")
    _scalar(validity, "Validity_Start", _utc_text(layers.time[0]))
    _scalar(validity, "Validity_Stop", _utc_text(layers.time[-1]))
    main = root.createGroup(ec.MAIN_HEADER)
    anx = orbit.time_at(frame.orbit, 0.0)
    anx_lat, anx_lon = orbit.subpoint(np.array([anx]))
    for key, value in (("productName", stem), ("productType", product.code), ("productLevel", product.code[-2:]),
                       ("fileClass", f"{info.agency}{info.latency}{info.baseline}"), ("missionID", "ECA"),
                       ("frameID", frame.frame), ("processingCentre", "synthetic"),
                       ("processorName", _PROCESSORS[product.code]),
                       ("sensingStartTime", _utc_text(layers.time[0])), ("sensingStopTime", _utc_text(layers.time[-1])),
                       ("frameStartTime", _utc_text(frame.start)), ("frameStopTime", _utc_text(frame.end)),
                       ("processingStartTime", _utc_text(np.datetime64(info.processing_start.replace(tzinfo=None)))),
                       ("ANXTime", _utc_text(anx))):
        _scalar(main, key, value)
    _scalar(main, "orbitNumber", np.uint32(frame.orbit))
    _scalar(main, "ANXLongitude", np.float64(anx_lon[0]))
    _scalar(main, "orbitInclination", np.float64(orbit.inclination_deg))
    _scalar(main, "subsettedProduct", np.int8(0))
    for key, lat, lon in (("frameStartCoordinates", layers.latitude[0], layers.longitude[0]),
                          ("frameStopCoordinates", layers.latitude[-1], layers.longitude[-1])):
        coords = main.createGroup(key)
        _scalar(coords, "geographicLatitude", np.float32(lat))
        _scalar(coords, "geographicLongitude", np.float32(lon))
    specific = root.createGroup(ec.SPECIFIC_HEADER)
    _scalar(specific, "InputFileList", "")
    _scalar(specific, "ConfigurationParameters", "")
    specific.createGroup("QualityStatistics")


def _variable(group, name: str, dtype, dims, values, *, fill: float | bool = False, **attrs):
    kwargs = {"zlib": True, "complevel": 4}
    if isinstance(fill, bool):
        var = group.createVariable(name, dtype, dims, fill_value=False if not fill else None, **kwargs)
    else:
        var = group.createVariable(name, dtype, dims, fill_value=fill, **kwargs)
    for key, value in attrs.items():
        var.setncattr(key, value)
    var[...] = values
    return var


def write_earthcare_frame(path: str | Path, product: ec.ProductType, layers: TrackLayers, frame: EarthcareFrame, *,
                          baseline: str | None = None, seed: int = 0, orbit: SunSyncOrbit = EARTHCARE,
                          geoid: Callable[[np.ndarray, np.ndarray], np.ndarray] = synthetic_geoid_m,
                          write_geoid: bool = True) -> Path:
    """Write one frame of ``product`` for ``layers`` (one row per JSG column) and return its path.

    Args:
        path: the file to write, or an existing folder to write the archive-named file into.
        product: ``cloudbench.products.earthcare.AC_TC``, ``ATL_TC`` or ``CPR_TC``.
        layers: truth per profile.
        frame: the frame's orbit, letter and span (for the name and headers).
        baseline: processor baseline in the name and headers (default: the product's).
        seed: seeds the aerosol stretches.
        geoid: the geoid height above the ellipsoid (m) at (lat, lon).
        write_geoid: leave out ``geoid_offset`` (to test readers on files without it).
    """
    import netCDF4

    path = Path(path)
    if layers.n < 2:
        raise ValueError("need at least two profiles")
    if path.is_dir():
        path = path / default_filename(product, layers, frame, baseline=baseline)
    name = path.name
    if ec.parse_filename(name) is None:
        name = default_filename(product, layers, frame, baseline=baseline)
    n = layers.n
    centres_msl = level_centres_msl_km(product)
    geoid_m = np.asarray(geoid(layers.latitude, layers.longitude), dtype=np.float64)
    height_m = (centres_msl[None, :] * 1000.0 + geoid_m[:, None]).astype(np.float32)
    elevation_m = (layers.surface_km.astype(np.float64) * 1000.0 + geoid_m).astype(np.float32)
    view = view_cells(layers, centres_msl, seed=seed)
    atlid = atlid_codes(view)
    cpr = cpr_codes(view)
    vdim = product.vertical_dim
    dims2 = (ec.ALONG_TRACK, vdim)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as root:
        root.setncattr("Conventions", "CF-1.6")
        _write_headers(root, product, name if name.endswith(ec.H5_SUFFIX) else name + ec.H5_SUFFIX,
                       layers, frame, orbit)
        sci = root.createGroup(ec.SCIENCE)
        sci.createDimension(ec.ALONG_TRACK, n)
        sci.createDimension(vdim, product.n_levels)
        _variable(sci, ec.TIME, "f8", (ec.ALONG_TRACK,), ec.datetime64_to_seconds(layers.time), fill=ec.FLOAT_FILL,
                  units=ec.TIME_UNITS, long_name="time", standard_name="time", calendar="standard")
        _variable(sci, ec.LATITUDE, "f8", (ec.ALONG_TRACK,), layers.latitude, fill=ec.FLOAT_FILL,
                  units="degrees_north", long_name="latitude", standard_name="latitude")
        _variable(sci, ec.LONGITUDE, "f8", (ec.ALONG_TRACK,), layers.longitude, fill=ec.FLOAT_FILL,
                  units="degrees_east", long_name="longitude", standard_name="longitude")
        _variable(sci, ec.HEIGHT, "f4", dims2, height_m, fill=ec.FLOAT_FILL, units="m",
                  long_name="height of the bin centre above the WGS84 ellipsoid")
        _variable(sci, product.elevation_var, "f4", (ec.ALONG_TRACK,), elevation_m, fill=ec.FLOAT_FILL, units="m",
                  long_name="surface elevation above the WGS84 ellipsoid")
        if write_geoid:
            _variable(sci, ec.GEOID_OFFSET, "f8", (ec.ALONG_TRACK,), geoid_m, fill=ec.FLOAT_FILL, units="m",
                      long_name="geoid offset", comment="height of the geoid (EGM96) above the WGS84 ellipsoid")
        if product.code != ec.CPR_TC.code:
            tropopause = (16.0 - 7.0 * np.sin(np.radians(layers.latitude)) ** 2) * 1000.0 + geoid_m
            _variable(sci, "tropopause_height", "f4", (ec.ALONG_TRACK,), tropopause, fill=ec.FLOAT_FILL, units="m",
                      long_name="tropopause height above the WGS84 ellipsoid")
        zeros = np.zeros((n, product.n_levels), dtype=np.int8)
        style = product.definition_style
        if product.code == ec.AC_TC.code:
            synergetic = reported_codes(product, view)
            classes = {"synergetic_target_classification": synergetic,
                       "synergetic_target_classification_medium_resolution": synergetic,
                       "synergetic_target_classification_low_resolution": synergetic,
                       "ATLID_target_classification": atlid, "CPR_target_classification": cpr}
            for var, values in classes.items():
                table = product.tables[var]
                _variable(sci, var, "i1", dims2, values, long_name=var.replace("_", " "), units="",
                          definition=definition_text(table, "pairs" if table is ec.CPR_TC_CLASSES else style))
            for var in ("ATLID_detection_status", "CPR_detection_status", "CPR_ATLID_status"):
                _variable(sci, var, "i1", dims2, zeros, long_name=var.replace("_", " "), units="")
            no_data = np.where(view.no_data[:, None], 16, 0).astype(np.int8) + zeros
            _variable(sci, product.quality_var, "i1", dims2, no_data, long_name="quality status", units="",
                      definition=_plain_definition(_QUALITY, style))
        elif product.code == ec.ATL_TC.code:
            for var in product.tables:
                _variable(sci, var, "i1", dims2, atlid, long_name=var.replace("_", " "), units="",
                          definition=definition_text(ec.ATL_TC_CLASSES, style))
            _variable(sci, "simple_classification", "i1", dims2, _atl_simple(atlid), long_name="simple classification",
                      units="", definition=_plain_definition(_ATL_SIMPLE, style))
            _variable(sci, product.quality_var, "i1", dims2, zeros, long_name="quality status", units="",
                      definition=_plain_definition(_QUALITY, style))
            _variable(sci, "extended_data_quality_status", "i1", dims2, zeros, long_name="extended quality", units="")
            land = (layers.surface_km > 0).astype(np.int8)
            _variable(sci, "land_flag", "i1", (ec.ALONG_TRACK,), land, long_name="land flag", units="",
                      definition=_plain_definition({0: "water", 1: "land"}, style))
        else:
            _variable(sci, product.class_var, "i1", dims2, cpr, long_name="hydrometeor classification", units="",
                      definition=definition_text(ec.CPR_TC_CLASSES, style))
            _variable(sci, "doppler_velocity_classification", "i1", dims2, np.where(cpr > 1, 1, np.minimum(cpr, 0)),
                      long_name="doppler velocity classification", units="",
                      definition=_plain_definition(_DOPPLER, style))
            _variable(sci, "simplified_convective_classification", "i1", dims2, np.where(cpr > 1, 1, np.minimum(cpr, 0)),
                      long_name="simplified convective classification", units="",
                      definition=_plain_definition(_CONVECTIVE, style))
            for var in ("detection_status", "multiple_scattering_status"):
                _variable(sci, var, "i1", dims2, zeros, long_name=var.replace("_", " "), units="")
            bad = np.where(view.no_data[:, None], 1, 0).astype(np.int8) + zeros
            _variable(sci, product.quality_var, "i1", dims2, bad, long_name="quality status", units="",
                      definition=_plain_definition(_CPR_QUALITY, style))
    os.replace(tmp, path)
    return path
