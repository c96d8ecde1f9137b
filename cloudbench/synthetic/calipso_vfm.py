"""Write format-faithful CALIPSO VFM granules (HDF4 SDS + ``metadata`` Vdata) from track layers.

The writer plays the lidar: it looks down from the top of the atmosphere through the layers of each
laser shot and reports, per native cell, what CALIOP would:

- clear air above and between clouds;
- cloud with a phase: ice -> randomly oriented ice (phase 1), occasionally horizontally oriented
  ice (phase 3); water -> phase 2. MIXED layers are reported as WATER: the lidar alone sees the
  supercooled droplets that dominate the backscatter of a mixed layer and has no mixed class;
- totally attenuated (type 7) below the depth where the optical depth accumulated from the top
  reaches ``ATTENUATION_OPTICAL_DEPTH`` (~3, the lidar's limit), down to the surface;
- surface (5) in the cell that holds the surface, subsurface (6) below it;
- invalid (0) for a shot without valid data (non-finite surface, latitude or longitude).

Cells are classified at their centre altitude. The 60 m and 180 m regions, whose cells span 3 and
5 shots, take the majority over the shots they span (first value on ties), as the 5515 layout
requires. The file structure copies a real V3-30 file (SDS names, dtypes, (N, 1) shapes, string
attributes, fakeDim dimensions, the ``metadata`` Vdata); V4 versions add ``Profile_ID``,
``Minimum_Laser_Energy_532`` and the per-shot ss* SDS.
"""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import numpy as np

from cloudbench.config import ICE, MIXED, WATER
from cloudbench.products import calipso_vfm as vfm
from cloudbench.synthetic.layers import TrackLayers

ATTENUATION_OPTICAL_DEPTH = 3.0
ORIENTED_ICE_PROBABILITY = 0.05
EARTH_RADIUS_KM = 6371.0
ORBIT_ALTITUDE_KM = 705.0


def _cloud_flags(phase_code: np.ndarray, optical_depth: np.ndarray, top_km: np.ndarray) -> np.ndarray:
    opaque = optical_depth >= ATTENUATION_OPTICAL_DEPTH
    ice_like = phase_code == vfm.PHASE_RANDOM_ICE
    ice_like |= phase_code == vfm.PHASE_ORIENTED_ICE
    # V4 cloud sub-types: 6 cirrus, 7 deep convective, 1/0 low opaque/transparent, 5/4 altostratus/altocumulus
    subtype = np.where(ice_like, np.where(opaque, 7, 6), np.where(top_km < 2.0, np.where(opaque, 1, 0), np.where(opaque, 5, 4)))
    averaging = np.where(optical_depth >= 1.0, 1, 3)
    return vfm.encode_flags(vfm.CLOUD, type_qa=3, phase=phase_code, phase_qa=3, subtype=subtype, averaging=averaging)


_CLEAR_FLAG = int(vfm.encode_flags(vfm.CLEAR_AIR))
_ATTENUATED_FLAG = int(vfm.encode_flags(vfm.TOTALLY_ATTENUATED))
_SURFACE_FLAG = int(vfm.encode_flags(vfm.SURFACE, type_qa=3, averaging=1))
_SUBSURFACE_FLAG = int(vfm.encode_flags(vfm.SUBSURFACE))
_INVALID_FLAG = int(vfm.encode_flags(vfm.INVALID))


def _lidar_phase(layers: TrackLayers, rng: np.random.Generator) -> np.ndarray:
    """VFM phase code per (shot, layer): what the lidar reports for each truth phase."""
    phase = np.zeros(layers.phase.shape, dtype=np.uint8)
    ice = layers.phase == ICE
    oriented = rng.random(layers.phase.shape) < ORIENTED_ICE_PROBABILITY
    phase[ice] = vfm.PHASE_RANDOM_ICE
    phase[ice & oriented] = vfm.PHASE_ORIENTED_ICE
    phase[(layers.phase == WATER) | (layers.phase == MIXED)] = vfm.PHASE_WATER
    return phase


def shot_cell_flags(layers: TrackLayers, region: vfm.AltitudeRegion, lidar_phase: np.ndarray) -> np.ndarray:
    """Flags per (shot, cell of ``region``) as if every shot had its own cells: (N, bins) uint16."""
    edges = region.cell_edges_km()
    centre = 0.5 * (edges[:-1] + edges[1:])[None, :]
    cell_top, cell_bottom = edges[:-1][None, :], edges[1:][None, :]
    n = layers.n
    flags = np.full((n, region.bins), _CLEAR_FLAG, dtype=np.uint16)
    tau_above = np.zeros((n, region.bins), dtype=np.float64)
    for slot in range(layers.top_km.shape[1]):
        top = layers.top_km[:, slot].astype(np.float64)[:, None]
        base = layers.base_km[:, slot].astype(np.float64)[:, None]
        ok = np.isfinite(top) & np.isfinite(base) & (top > base)
        if not ok.any():
            continue
        tau = np.nan_to_num(layers.optical_depth[:, slot].astype(np.float64))[:, None]
        depth = np.clip((top - centre) / np.where(ok, top - base, 1.0), 0.0, 1.0)
        tau_above += np.where(ok, tau * depth, 0.0)
        inside = ok & (centre >= base) & (centre < top)
        cloud = _cloud_flags(lidar_phase[:, slot][:, None], tau, top)
        flags = np.where(inside, np.broadcast_to(cloud, flags.shape), flags)
    # the beam is gone once the optical depth above the cell centre reaches the limit
    flags[tau_above >= ATTENUATION_OPTICAL_DEPTH] = _ATTENUATED_FLAG
    surface = layers.surface_km.astype(np.float64)[:, None]
    surface_cell = (cell_bottom <= surface) & (surface < cell_top)
    blind = flags == _ATTENUATED_FLAG
    flags[surface_cell & ~blind] = _SURFACE_FLAG
    flags[cell_top <= surface] = _SUBSURFACE_FLAG
    no_data = ~(np.isfinite(layers.surface_km) & np.isfinite(layers.latitude) & np.isfinite(layers.longitude))
    flags[no_data] = _INVALID_FLAG
    return flags


def _majority(groups: np.ndarray) -> np.ndarray:
    """Most frequent value along axis -2 (the shots a cell spans); the first one on ties."""
    counts = (groups[..., :, None, :] == groups[..., None, :, :]).sum(axis=-2)
    best = np.argmax(counts, axis=-2)
    return np.take_along_axis(groups, best[..., None, :], axis=-2)[..., 0, :]


def encode_records(layers: TrackLayers, *, seed: int = 0) -> np.ndarray:
    """(N shots) layers -> (N // 15, 5515) Feature_Classification_Flags in the VFM record layout."""
    n_records = layers.n // vfm.SHOTS_PER_RECORD
    layers = layers.subset(slice(0, n_records * vfm.SHOTS_PER_RECORD))
    lidar_phase = _lidar_phase(layers, np.random.default_rng(seed))
    out = np.empty((n_records, vfm.N_CELLS), dtype=np.uint16)
    for region in vfm.REGIONS:
        per_shot = shot_cell_flags(layers, region, lidar_phase)
        grouped = per_shot.reshape(n_records, region.n_subprofiles, region.shots_per_subprofile, region.bins)
        per_sub = _majority(grouped) if region.shots_per_subprofile > 1 else grouped[:, :, 0, :]
        out[:, region.offset : region.offset + region.size] = per_sub.reshape(n_records, region.size)
    return out


def _spacecraft_position(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    r = EARTH_RADIUS_KM + ORBIT_ALTITUDE_KM
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([r * np.cos(la) * np.cos(lo), r * np.cos(la) * np.sin(lo), r * np.sin(la)], axis=1)


def _iso27(t: np.datetime64) -> str:
    return str(np.datetime_as_string(np.datetime64(t, "us"), unit="us")) + "Z"


def default_filename(layers: TrackLayers, *, version: str = vfm.DEFAULT_VERSION) -> str:
    """The archive name for a granule starting at the first shot (day or night by majority)."""
    start = np.datetime64(layers.time[0], "s").astype(object).replace(tzinfo=UTC)
    day_night = "N" if np.mean(layers.day_night) > 0.5 else "D"
    return vfm.build_filename(start, day_night, version=version)


# SDS: name -> (units, format, valid_range) as the real file spells them
_SDS_ATTRS = {
    vfm.SDS_PROFILE_ID: ("NoUnits", "Int_32", "1...4200000"),
    vfm.SDS_LATITUDE: ("deg", "Float_32", "-90.0...90.0"),
    vfm.SDS_LONGITUDE: ("deg", "Float_32", "-180.0...180.0"),
    vfm.SDS_PROFILE_TIME: ("sec", "Float_64", "4.204E8...1.072E9"),
    vfm.SDS_PROFILE_UTC_TIME: ("NoUnits", "Float_64", "60426...261231"),
    vfm.SDS_DAY_NIGHT: ("NoUnits", "Uint_16", "0...1"),
    vfm.SDS_LAND_WATER: ("NoUnits", "Int_8", "0...7"),
    vfm.SDS_FLAGS: ("NoUnits", "Uint_16", "1...49146"),
    vfm.SDS_SPACECRAFT_POSITION: ("km", "Float_64", "-8000.0 ... 8000.0"),
    vfm.SDS_MIN_LASER_ENERGY: ("J", "Float_32", "0.0...0.2"),
    vfm.SS_PROFILE_ID: ("NoUnits", "Int_32", "1...4200000"),
    vfm.SS_LATITUDE: ("deg", "Float_32", "-90.0...90.0"),
    vfm.SS_LONGITUDE: ("deg", "Float_32", "-180.0...180.0"),
    vfm.SS_PROFILE_TIME: ("sec", "Float_64", "4.204E8...1.072E9"),
    vfm.SS_PROFILE_UTC_TIME: ("NoUnits", "Float_64", "60426...261231"),
    vfm.SS_LAND_WATER: ("NoUnits", "Int_8", "0...7"),
    vfm.SS_LASER_ENERGY: ("J", "Float_32", "0.0...0.2"),
}


def _write_sds(sd, name: str, data: np.ndarray) -> None:
    from pyhdf.SD import SDC

    sdc_type = {
        np.dtype(np.float32): SDC.FLOAT32,
        np.dtype(np.float64): SDC.FLOAT64,
        np.dtype(np.uint16): SDC.UINT16,
        np.dtype(np.int8): SDC.INT8,
        np.dtype(np.int32): SDC.INT32,
    }[data.dtype]
    sds = sd.create(name, sdc_type, data.shape)
    sds[:] = data
    units, fmt, valid_range = _SDS_ATTRS[name]
    sds.units = units
    sds.format = fmt
    sds.valid_range = valid_range
    if name == vfm.SDS_SPACECRAFT_POSITION:
        sds.attr("fillvalue").set(SDC.FLOAT64, -9999.0)
    if name in (vfm.SDS_LAND_WATER, vfm.SS_LAND_WATER):
        sds.attr("fillvalue").set(SDC.INT8, vfm.LAND_WATER_MASK_FILL)
    sds.endaccess()


def _write_metadata(path: Path, values: dict) -> None:
    import pyhdf.VS  # noqa: F401  (registers HDF.vstart)
    from pyhdf.HDF import HC, HDF

    hdf = HDF(str(path), HC.WRITE)
    try:
        vs = hdf.vstart()
        fields = []
        for name in vfm.METADATA_FIELD_ORDER:
            if name in vfm.METADATA_STRING_FIELDS:
                fields.append((name, HC.UCHAR8, vfm.METADATA_STRING_FIELDS[name]))
            elif name == "Lidar_Data_Altitudes":
                fields.append((name, HC.FLOAT32, vfm.N_LIDAR_DATA_ALTITUDES))
            else:
                fields.append((name, HC.FLOAT32, 1))
        vd = vs.create(vfm.METADATA_VDATA, tuple(fields))
        vd._class = vfm.METADATA_VDATA
        record = []
        for name in vfm.METADATA_FIELD_ORDER:
            value = values[name]
            if name in vfm.METADATA_STRING_FIELDS:
                width = vfm.METADATA_STRING_FIELDS[name]
                record.append(list(value.ljust(width)[:width].encode("ascii")))
            elif name == "Lidar_Data_Altitudes":
                record.append([float(v) for v in value])
            else:
                record.append(float(value))
        vd.write([record])
        vd.detach()
        vs.end()
    finally:
        hdf.close()


def write_vfm_granule(
    path: str | Path, layers: TrackLayers, *, version: str = vfm.DEFAULT_VERSION, seed: int = 0
) -> Path:
    """Write a VFM granule for ``layers`` (one row per laser shot) and return its path.

    Args:
        path: the file to write, or an existing folder to write the archive-named file into.
        layers: truth per laser shot; only whole records (15 shots) are written, extra shots dropped.
        version: product version, e.g. ``V4-51`` (V4 adds the per-shot ss* SDS) or ``V3-30``.
        seed: seeds the occasional horizontally oriented ice, so equal inputs give equal files.

    The file is written under a temporary name and renamed when complete.
    """
    from pyhdf.SD import SD, SDC

    path = Path(path)
    if path.is_dir():
        path = path / default_filename(layers, version=version)
    n_records = layers.n // vfm.SHOTS_PER_RECORD
    if n_records == 0:
        raise ValueError(f"need at least {vfm.SHOTS_PER_RECORD} shots for one VFM record, got {layers.n}")
    shots = layers.subset(slice(0, n_records * vfm.SHOTS_PER_RECORD))
    flags = encode_records(shots, seed=seed)
    centre = np.arange(n_records) * vfm.SHOTS_PER_RECORD + vfm.RECORD_CENTRE_SHOT
    shot_time = shots.time.astype("datetime64[ns]")
    lat = shots.latitude.astype(np.float64)
    lon = shots.longitude.astype(np.float64)
    land = np.where(shots.surface_km > 0.0, vfm.LAND, vfm.DEEP_OCEAN).astype(np.int8)
    shot_id = np.arange(1, shots.n + 1, dtype=np.int32)

    def column(values: np.ndarray, dtype) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(values).astype(dtype).reshape(-1, 1))

    sds = {}
    is_v4 = not version.upper().startswith(("V1", "V2", "V3"))
    if is_v4:
        sds[vfm.SDS_PROFILE_ID] = column(shot_id[centre], np.int32)
    sds[vfm.SDS_LATITUDE] = column(lat[centre], np.float32)
    sds[vfm.SDS_LONGITUDE] = column(lon[centre], np.float32)
    sds[vfm.SDS_PROFILE_TIME] = column(vfm.utc_to_tai_seconds(shot_time[centre]), np.float64)
    sds[vfm.SDS_PROFILE_UTC_TIME] = column(vfm.utc_to_profile_utc_time(shot_time[centre]), np.float64)
    sds[vfm.SDS_DAY_NIGHT] = column(shots.day_night[centre], np.uint16)
    sds[vfm.SDS_LAND_WATER] = column(land[centre], np.int8)
    sds[vfm.SDS_FLAGS] = flags
    sds[vfm.SDS_SPACECRAFT_POSITION] = _spacecraft_position(lat[centre], lon[centre])
    if is_v4:
        sds[vfm.SDS_MIN_LASER_ENERGY] = column(np.full(n_records, 0.105), np.float32)
        sds[vfm.SS_PROFILE_ID] = column(shot_id, np.int32)
        sds[vfm.SS_LATITUDE] = column(lat, np.float32)
        sds[vfm.SS_LONGITUDE] = column(lon, np.float32)
        sds[vfm.SS_PROFILE_TIME] = column(vfm.utc_to_tai_seconds(shot_time), np.float64)
        sds[vfm.SS_PROFILE_UTC_TIME] = column(vfm.utc_to_profile_utc_time(shot_time), np.float64)
        sds[vfm.SS_LAND_WATER] = column(land, np.int8)
        sds[vfm.SS_LASER_ENERGY] = column(np.full(shots.n, 0.11), np.float32)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if tmp.exists():
        tmp.unlink()
    sd = SD(str(tmp), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
    try:
        for name, data in sds.items():
            _write_sds(sd, name, data)
    finally:
        sd.end()
    _write_metadata(
        tmp,
        {
            "Product_ID": "L2_LIDAR",
            "Date_Time_at_Granule_Start": _iso27(shot_time[centre[0]]),
            "Date_Time_at_Granule_End": _iso27(shot_time[centre[-1]]),
            "Initial_Subsatellite_Latitude": lat[centre[0]],
            "Initial_Subsatellite_Longitude": lon[centre[0]],
            "Final_Subsatellite_Latitude": lat[centre[-1]],
            "Final_Subsatellite_Longitude": lon[centre[-1]],
            "Lidar_L1_Production_Date_Time": _iso27(shot_time[centre[-1]])[:19] + "Z",
            "Lidar_Data_Altitudes": vfm.lidar_data_altitudes_km(),
        },
    )
    os.replace(tmp, path)
    return path
