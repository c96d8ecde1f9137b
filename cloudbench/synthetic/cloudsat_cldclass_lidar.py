"""Write format-faithful CloudSat 2B-CLDCLASS-LIDAR granules (HDF-EOS2-like swath in HDF4).

The structure follows docs/formats.md: a Vgroup of class "SWATH" named ``2B-CLDCLASS-LIDAR`` holding
"Geolocation Fields", "Data Fields" and "Swath Attributes" Vgroups (class "SWATH Vgroup"); rank-1
fields are one-field Vdata, rank-2 fields are SDS; each field attribute is a Vdata
``<Field>.<attr>`` of class "Attr0.0" with one field "AttrValues". pyhdf cannot write HDF-EOS
``StructMetadata`` through the HDF-EOS library, so a hand-written one is added as an SD global
attribute (pyhdf-based readers, ours included, do not use it).

The radar reports the truth layers as a layer table: up to 10 layers per ray with base and top in
km and a phase (1 ice, 2 mixed, 3 water); unused slots hold 0 as in real files.

Times: ``UTC_start`` is float32 in the product, which at ~80,000 s of day keeps only ~8 ms. So
that a reader following the product's own rule (file date + UTC_start + Profile_time) gets each
ray's time back within a millisecond, the writer stores the float32-rounded ``UTC_start`` and
puts the remainder into ``Profile_time`` (so ``Profile_time[0]`` is a few ms, not exactly 0).
"""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import numpy as np

from cloudbench.config import ICE, MIXED, WATER
from cloudbench.products import calipso_vfm as vfm
from cloudbench.products import cloudsat_cldclass_lidar as cs
from cloudbench.synthetic.layers import TrackLayers

ORBIT_ALTITUDE_KM = 705.0


def default_filename(layers: TrackLayers, granule_number: int) -> str:
    """Archive name from the first ray's time (to the second) and the granule number."""
    start = np.datetime64(layers.time[0], "s").astype(object).replace(tzinfo=UTC)
    return cs.build_filename(start, granule_number)


def layer_table(layers: TrackLayers) -> dict[str, np.ndarray]:
    """The radar's layer table: valid layers packed into the first slots, unused slots 0."""
    valid = np.isfinite(layers.top_km) & np.isfinite(layers.base_km) & (layers.top_km > layers.base_km)
    valid &= np.isin(layers.phase, (ICE, MIXED, WATER))
    order = np.argsort(~valid, axis=1, kind="stable")  # valid slots first, keeping their order
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    packed_valid = take(valid)[:, : cs.N_LAYER_SLOTS]
    count = packed_valid.sum(axis=1).astype(np.int8)
    base = np.where(packed_valid, take(layers.base_km)[:, : cs.N_LAYER_SLOTS], 0.0).astype(np.float32)
    top = np.where(packed_valid, take(layers.top_km)[:, : cs.N_LAYER_SLOTS], 0.0).astype(np.float32)
    phase_code = {ICE: cs.PHASE_ICE, MIXED: cs.PHASE_MIXED, WATER: cs.PHASE_WATER}
    truth_phase = take(layers.phase)[:, : cs.N_LAYER_SLOTS]
    phase = np.zeros(truth_phase.shape, dtype=np.int8)
    for truth, code in phase_code.items():
        phase[packed_valid & (truth_phase == truth)] = code
    # cloud types: 1 Ci, 2 As, 3 Ac, 5 Sc, 8 deep convection
    ctype = np.select(
        [phase == cs.PHASE_ICE, phase == cs.PHASE_MIXED, (phase == cs.PHASE_WATER) & (top < 2.0), phase == cs.PHASE_WATER],
        [np.where((base < 3.0) & (top > 8.0), 8, 1), 2, 5, 3],
        0,
    ).astype(np.int8)
    pad = cs.N_LAYER_SLOTS - base.shape[1]
    out = {"count": count, "base": base, "top": top, "phase": phase, "type": ctype, "valid": packed_valid}
    if pad > 0:
        for key in ("base", "top", "phase", "type", "valid"):
            out[key] = np.pad(out[key], ((0, 0), (0, pad)))
    return out


# field -> (units, long_name)
_FIELD_ATTRS: dict[str, tuple[str, str]] = {
    cs.PROFILE_TIME: ("seconds", "Seconds since the start of the granule."),
    cs.UTC_START: ("seconds", "UTC seconds since 00:00 Z of the first profile"),
    cs.TAI_START: ("seconds", "TAI time for the first profile."),
    cs.LATITUDE: ("degrees", "Spacecraft Geodetic Latitude"),
    cs.LONGITUDE: ("degrees", "Spacecraft geodetic longitude"),
    cs.HEIGHT: ("m", "Height of range bin in Reflectivity/Cloud Mask above reference surface (~ mean sea level)."),
    cs.RANGE_TO_INTERCEPT: ("km", "Range to the CPR footprint intercept"),
    cs.DEM_ELEVATION: ("meters", "Digital Elevation Map"),
    cs.VERTICAL_BINSIZE: ("m", "effective vertical height of the radar range bin"),
    cs.PITCH_OFFSET: ("degrees", "Nominal satellite pitch angle offset from nadir"),
    cs.ROLL_OFFSET: ("degrees", "Nominal satellite roll angle offset from nadir"),
    cs.DATA_QUALITY: ("--", "Data Quality"),
    cs.DATA_STATUS: ("--", "Data status flags"),
    cs.DATA_TARGET_ID: ("--", "CPR bus orientation (target ID)"),
    cs.NAVIGATION_LAND_SEA_FLAG: ("--", "Land Sea Flag"),
    cs.CLOUDLAYER: ("--", "Number of hydrometeor layers"),
    cs.CLOUD_LAYER_BASE: ("km", "Height of Layer Base"),
    cs.CLOUD_LAYER_TOP: ("km", "Height of layer top"),
    cs.CLOUD_FRACTION: ("--", "Cloud Fraction"),
    cs.CLOUD_PHASE: ("--", "Cloud phase identified by using CALIPSO feature, temperature, and radar reflectivity"),
    cs.CLOUD_PHASE_CONFIDENCE: ("--", "Cloud phase confidence level"),
    cs.CLOUD_LAYER_TYPE: ("--", "Cloud type for each layer"),
    cs.CLOUD_TYPE_QUALITY: ("--", "Cloud type quality"),
    cs.LAYER_BASE_FLAG: ("--", "Flag for layer base (1 radar, 2 lidar, 3 both)"),
    cs.LAYER_TOP_FLAG: ("--", "Flag for layer top (1 radar, 2 lidar, 3 both)"),
}


def _fill_for(field: str, dtype: np.dtype):
    if field in (cs.CLOUD_LAYER_BASE, cs.CLOUD_LAYER_TOP, cs.CLOUD_FRACTION, cs.CLOUD_TYPE_QUALITY):
        return cs.LAYER_HEIGHT_FILL
    if field == cs.CLOUDLAYER or field == cs.CLOUD_PHASE:
        return cs.CLOUDLAYER_FILL
    if field in (cs.HEIGHT, cs.DEM_ELEVATION):
        return cs.HEIGHT_FILL
    return -9999 if np.issubdtype(dtype, np.integer) and np.dtype(dtype).itemsize >= 2 else -9


def _hc_type(dtype: np.dtype):
    from pyhdf.HDF import HC

    return {
        np.dtype(np.float32): HC.FLOAT32,
        np.dtype(np.float64): HC.FLOAT64,
        np.dtype(np.int8): HC.INT8,
        np.dtype(np.int16): HC.INT16,
        np.dtype(np.int32): HC.INT32,
        np.dtype(np.uint8): HC.UINT8,
    }[np.dtype(dtype)]


def _sdc_type(dtype: np.dtype):
    from pyhdf.SD import SDC

    return {
        np.dtype(np.float32): SDC.FLOAT32,
        np.dtype(np.int8): SDC.INT8,
        np.dtype(np.int16): SDC.INT16,
    }[np.dtype(dtype)]


def _struct_metadata(nray: int, geo_vdata, geo_sds, data_vdata, data_sds) -> str:
    """A compact ODL StructMetadata.0 as the HDF-EOS library writes it (for tools that look)."""
    lines = ["GROUP=SwathStructure", "\tGROUP=SWATH_1", f'\t\tSwathName="{cs.SWATH_NAME}"', "\t\tGROUP=Dimension"]
    dims = [("nray", nray), ("nbin", cs.N_HEIGHT_BINS), ("ncloud", cs.N_LAYER_SLOTS)]
    for i, (name, size) in enumerate(dims, start=1):
        lines += [f"\t\t\tOBJECT=Dimension_{i}", f'\t\t\t\tDimensionName="{name}"', f"\t\t\t\tSize={size}", f"\t\t\tEND_OBJECT=Dimension_{i}"]
    lines.append("\t\tEND_GROUP=Dimension")
    for group, rank1, rank2 in (("GeoField", geo_vdata, geo_sds), ("DataField", data_vdata, data_sds)):
        lines.append(f"\t\tGROUP={group}")
        for i, name in enumerate(list(rank1) + list(rank2), start=1):
            dimlist = '("nray")' if name in rank1 else ('("nray","nbin")' if name == cs.HEIGHT else '("nray","ncloud")')
            lines += [f"\t\t\tOBJECT={group}_{i}", f'\t\t\t\t{group}Name="{name}"', f"\t\t\t\tDimList={dimlist}", f"\t\t\tEND_OBJECT={group}_{i}"]
        lines.append(f"\t\tEND_GROUP={group}")
    lines += ["\tEND_GROUP=SWATH_1", "END_GROUP=SwathStructure", "GROUP=GridStructure", "END_GROUP=GridStructure", "END", ""]
    return "\n".join(lines)


def write_cldclass_granule(path: str | Path, layers: TrackLayers, *, granule_number: int) -> Path:
    """Write a 2B-CLDCLASS-LIDAR granule for ``layers`` (one row per radar ray) and return its path.

    Args:
        path: the file to write, or an existing folder to write the archive-named file into
            (name from the first ray's time and ``granule_number``).
        layers: truth per radar ray.
        granule_number: the orbit number written into the name and the swath attributes.
    """
    from pyhdf.SD import SD, SDC

    path = Path(path)
    if path.is_dir():
        path = path / default_filename(layers, granule_number)
    nray = layers.n
    if nray == 0:
        raise ValueError("need at least one ray")
    times = layers.time.astype("datetime64[ns]")
    day0 = times[0].astype("datetime64[D]").astype("datetime64[ns]")
    utc_start = np.float32((times[0] - day0).astype(np.int64) / 1e9)
    profile_time = ((times - day0).astype(np.int64) / 1e9 - np.float64(utc_start)).astype(np.float32)
    surface_m = np.asarray(layers.surface_km, dtype=np.float64) * 1000.0
    land = surface_m > 0.0
    dem = np.where(land, np.rint(surface_m), cs.DEM_OCEAN).astype(np.int16)
    table = layer_table(layers)
    ramp = np.arange(cs.N_HEIGHT_BINS) * cs.VERTICAL_BINSIZE_M
    wobble = 20.0 * np.sin(np.arange(nray) / 500.0)  # the real Height grid drifts a little from ray to ray
    height = np.rint(cs.HEIGHT_TOP_M + wobble[:, None] - ramp[None, :]).astype(np.int16)
    used = table["valid"]

    geo_vdata = {
        cs.PROFILE_TIME: profile_time,
        cs.UTC_START: np.array([utc_start], dtype=np.float32),
        cs.TAI_START: np.array([vfm.utc_to_tai_seconds(times[:1])[0]], dtype=np.float64),
        cs.LATITUDE: layers.latitude.astype(np.float32),
        cs.LONGITUDE: layers.longitude.astype(np.float32),
        cs.RANGE_TO_INTERCEPT: np.full(nray, ORBIT_ALTITUDE_KM + 12.0, dtype=np.float32),
        cs.DEM_ELEVATION: dem,
        cs.VERTICAL_BINSIZE: np.array([cs.VERTICAL_BINSIZE_M], dtype=np.float32),
        cs.PITCH_OFFSET: np.array([0.0], dtype=np.float32),
        cs.ROLL_OFFSET: np.array([0.0], dtype=np.float32),
    }
    geo_sds = {cs.HEIGHT: height}
    data_vdata = {
        cs.DATA_QUALITY: np.zeros(nray, dtype=np.uint8),
        cs.DATA_STATUS: np.zeros(nray, dtype=np.uint8),
        cs.DATA_TARGET_ID: np.zeros(nray, dtype=np.uint8),
        cs.NAVIGATION_LAND_SEA_FLAG: np.where(land, cs.LAND, cs.SEA).astype(np.uint8),
        cs.CLOUDLAYER: table["count"],
    }
    data_sds = {
        cs.CLOUD_LAYER_BASE: table["base"],
        cs.CLOUD_LAYER_TOP: table["top"],
        cs.LAYER_BASE_FLAG: np.where(used, 3, 0).astype(np.int8),
        cs.LAYER_TOP_FLAG: np.where(used, 3, 0).astype(np.int8),
        cs.CLOUD_FRACTION: np.where(used, 1.0, 0.0).astype(np.float32),
        cs.CLOUD_PHASE: table["phase"],
        cs.CLOUD_PHASE_CONFIDENCE: np.where(used, 8, 0).astype(np.int8),
        cs.CLOUD_LAYER_TYPE: table["type"],
        cs.CLOUD_TYPE_QUALITY: np.where(used, 0.9, 0.0).astype(np.float32),
    }

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if tmp.exists():
        tmp.unlink()
    sds_refs: dict[str, int] = {}
    sd = SD(str(tmp), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
    try:
        sd.HDFEOSVersion = "HDFEOS_V2.17"
        setattr(sd, "StructMetadata.0", _struct_metadata(nray, geo_vdata, geo_sds, data_vdata, data_sds))
        for name, data in {**geo_sds, **data_sds}.items():
            sds = sd.create(name, _sdc_type(data.dtype), data.shape)
            second = "nbin" if name == cs.HEIGHT else "ncloud"
            sds.dim(0).setname(f"nray:{cs.SWATH_NAME}")
            sds.dim(1).setname(f"{second}:{cs.SWATH_NAME}")
            sds[:] = data
            sds_refs[name] = sds.ref()
            sds.endaccess()
    finally:
        sd.end()

    first = times[0].astype("datetime64[s]").astype(object)
    last = times[-1].astype("datetime64[s]").astype(object)
    swath_attrs: dict[str, str | int] = {
        "start_time": first.strftime("%Y%m%d%H%M%S"),
        "end_time": last.strftime("%Y%m%d%H%M%S"),
        "granule_number": int(granule_number),
        "algorithm_version": "P1_R05.0",
        "product_version": "P1_R05",
    }
    _write_vgroups(tmp, geo_vdata, data_vdata, sds_refs, geo_sds, data_sds, swath_attrs)
    os.replace(tmp, path)
    return path


def _write_vgroups(tmp: Path, geo_vdata, data_vdata, sds_refs, geo_sds, data_sds, swath_attrs) -> None:
    import pyhdf.V  # noqa: F401  (registers HDF.vgstart)
    import pyhdf.VS  # noqa: F401  (registers HDF.vstart)
    from pyhdf.HDF import HC, HDF

    hdf = HDF(str(tmp), HC.WRITE)
    try:
        vs = hdf.vstart()
        v = hdf.vgstart()
        swath = v.create(cs.SWATH_NAME)
        swath._class = cs.SWATH_CLASS
        groups = {}
        for name in (cs.GEOLOCATION_GROUP, cs.DATA_GROUP, cs.ATTRIBUTES_GROUP):
            group = v.create(name)
            group._class = cs.SWATH_VGROUP_CLASS
            swath.insert(group)
            groups[name] = group

        def add_vdata(group, name: str, values: np.ndarray, field: str | None = None, vclass: str | None = None):
            values = np.asarray(values)
            if values.dtype.kind in "US":
                text = str(values.item())
                vd = vs.create(name, ((field or name, HC.CHAR8, max(len(text), 1)),))
                records = [[text if len(text) > 1 else ord(text or " ")]]  # pyhdf wants a byte for order 1
            else:
                vd = vs.create(name, ((field or name, _hc_type(values.dtype), 1),))
                records = [[x] for x in values.ravel().tolist()]
            if vclass:
                vd._class = vclass
            vd.write(records)
            group.insert(vd)
            vd.detach()

        for fields, group in ((geo_vdata, groups[cs.GEOLOCATION_GROUP]), (data_vdata, groups[cs.DATA_GROUP])):
            for name, values in fields.items():
                add_vdata(group, name, values)
        for names, group in ((geo_sds, groups[cs.GEOLOCATION_GROUP]), (data_sds, groups[cs.DATA_GROUP])):
            for name in names:
                group.add(HC.DFTAG_NDG, sds_refs[name])

        attrs_group = groups[cs.ATTRIBUTES_GROUP]
        attr_class = cs.ATTRIBUTE_VDATA_CLASS
        field = cs.ATTRIBUTE_FIELD
        for name, value in swath_attrs.items():
            arr = np.array([value], dtype=np.int32) if isinstance(value, int) else np.array(value)
            add_vdata(attrs_group, name, arr, field, attr_class)
        for fields in (geo_vdata, geo_sds, data_vdata, data_sds):
            for name, values in fields.items():
                units, long_name = _FIELD_ATTRS[name]
                dtype = np.asarray(values).dtype
                fill = np.array([_fill_for(name, dtype)]).astype(dtype)
                add_vdata(attrs_group, f"{name}.long_name", np.array(long_name), field, attr_class)
                add_vdata(attrs_group, f"{name}.units", np.array(units), field, attr_class)
                add_vdata(attrs_group, f"{name}.factor", np.array([1.0], dtype=np.float32), field, attr_class)
                add_vdata(attrs_group, f"{name}.offset", np.array([0.0], dtype=np.float32), field, attr_class)
                add_vdata(attrs_group, f"{name}.missing", fill, field, attr_class)
                add_vdata(attrs_group, f"{name}.missop", np.array("=="), field, attr_class)
                add_vdata(attrs_group, f"_FV_{name}", fill, field, attr_class)
        for group in groups.values():
            group.detach()
        swath.detach()
        v.end()
        vs.end()
    finally:
        hdf.close()
