"""One job, start to finish: a granule's profiles -> filtered, parallax-shifted, time-matched track
pixels -> patches with sparse labels -> the job's files in PAIRS/.

Every rule that drops a profile counts it, so the run report can say where the profiles went.
Memory stays bounded by the job: only the imager rows and columns around the track are decoded.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from cloudbench.collocate.geometry import pixel_indices, satellite_zenith
from cloudbench.collocate.imagery import ImagerSource
from cloudbench.collocate.jobs import Job
from cloudbench.collocate.labels import class_counts
from cloudbench.collocate.pairs_store import JobArrays, write_job
from cloudbench.collocate.parallax import GeosGeometry, apparent_lonlat
from cloudbench.collocate.patches import PatchPlan, plan_patches, track_pixels
from cloudbench.collocate.report import DROP_RULES
from cloudbench.collocate.timing import choose_slots
from cloudbench.config import AUX_NAMES, DEFAULT_GRID, MAX_DT_S, MAX_SZA_DEG, PATCH_SIZE, HeightGrid, Region
from cloudbench.config import NUM_CLASSES as _NUM_CLASSES
from cloudbench.errors import CloudbenchError, DataError, is_data_error
from cloudbench.readers.unit_source import UnitOpener
from cloudbench.sensors import registry
from cloudbench.storage import file_sha256, is_remote, local_staging, name_of

log = logging.getLogger(__name__)

DAY, NIGHT = 0, 1
DAY_NIGHT_CHOICES = ("day", "night", "both")


@dataclass(frozen=True)
class CollocateConfig:
    """Everything a job needs besides its files; stored as PAIRS/config.json."""

    out: str
    region: Region
    labels: str = "cldclass-lidar"
    imager: str | None = None
    bands: tuple[str, ...] | None = None
    patch_size: int = PATCH_SIZE
    max_dt_s: float = MAX_DT_S
    max_sza: float = MAX_SZA_DEG
    day_night: str = "both"
    parallax: bool = True
    grid: HeightGrid = field(default_factory=lambda: DEFAULT_GRID)
    min_track: int | None = None
    imager_source: ImagerSource | None = None  # imagery read in place (not part of config.json:
    # where the files lie does not change the pairs)

    @property
    def min_track_pixels(self) -> int:
        return self.patch_size // 2 if self.min_track is None else self.min_track

    def to_json(self) -> dict:
        d = asdict(self)
        d["region"] = {"bbox": list(self.region.bbox), "name": self.region.name}
        d["grid"] = str(self.grid)
        d["height_edges_km"] = [round(float(v), 6) for v in self.grid.edges_km]
        d["aux_names"] = list(AUX_NAMES)
        d["min_track"] = self.min_track_pixels
        d["max_track"] = 2 * self.patch_size
        d.pop("out")
        d.pop("imager_source")
        return d

    def opener(self) -> UnitOpener | None:
        """How jobs open imager files: through the in-place source, or None for ARCHIVE/ paths and URLs."""
        return self.imager_source.opener() if self.imager_source is not None else None


def collocate_job(job: Job, cfg: CollocateConfig) -> dict:
    """Run one job and return its ledger entry; a damaged input file makes it ``skipped``, not a crash.

    Only data errors (:func:`cloudbench.errors.is_data_error`: a file that cannot be read as its
    product) are confined to the job: the others go on, and the entry names the file and the reason
    so the report can list it. Anything else is a bug and propagates, so the run stops (exit 4)
    instead of reporting good data as damaged.
    """
    try:
        return _run(job, cfg)
    except Exception as exc:
        if not is_data_error(exc):
            exc.add_note(f"while collocating job {job.job_id} (granule {job.granule})")
            raise
        log.debug("job %s skipped:\n%s", job.job_id, traceback.format_exc())
        if isinstance(exc, CloudbenchError):
            return _skipped(job, exc.path or job.granule, exc.message)
        path = getattr(exc, "filename", None) or job.granule
        return _skipped(job, path, f"{type(exc).__name__}: {exc}")


def _skipped(job: Job, path: str, reason: str) -> dict:
    return {"job_id": job.job_id, "status": "skipped", "file": str(path), "reason": reason, "granule": job.granule}


def _read_profiles(path: str, label_product: str, grid: HeightGrid):
    """The granule in the common profile schema, read by its label product's reader.

    The file must be a file of that product (by name); a mismatch is a data error naming it.
    """
    product = registry.label_product(label_product)
    if product.parse_filename(name_of(path)) is None:
        raise DataError(f"not a {product.description} file name", path=path)
    if not is_remote(path):
        return product.read_profiles(path, grid)
    from cloudbench.storage import Location

    parent, name = path.rsplit("/", 1)
    with local_staging("cloudbench-granule-") as scratch:  # HDF4 and HDF5 readers need a file
        local = Location(parent).fetch(name, scratch / name)
        prof = product.read_profiles(local, grid)
        prof.load()
    return prof


def _run(job: Job, cfg: CollocateConfig) -> dict:
    p = cfg.patch_size
    prof = _read_profiles(job.granule, cfg.labels, cfg.grid)
    n = int(prof.sizes["profile"])
    lon = np.asarray(prof["longitude"].values, dtype=np.float64)
    lat = np.asarray(prof["latitude"].values, dtype=np.float64)
    time = np.asarray(prof["time"].values).astype("datetime64[ns]")
    day_night = np.asarray(prof["day_night"].values)
    phase = np.asarray(prof["phase"].transpose("profile", "height").values, dtype=np.uint8)
    cth = np.asarray(prof["cloud_top_height"].values, dtype=np.float64)
    dropped = dict.fromkeys(DROP_RULES, 0)

    def apply(rule: str, keep: np.ndarray, mask: np.ndarray) -> np.ndarray:
        dropped[rule] += int((keep & ~mask).sum())
        return keep & mask

    keep = np.ones(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        valid_pos = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 360) & ~np.isnat(time)
    keep = apply("invalid_position", keep, valid_pos)
    lon = np.where(valid_pos, ((lon + 180.0) % 360.0) - 180.0, np.nan)
    keep = apply("region", keep, cfg.region.contains(lon, lat))
    if cfg.day_night != "both":
        wanted = DAY if cfg.day_night == "day" else NIGHT
        keep = apply("day_night", keep, day_night == wanted)

    bad_files: list[dict] = []
    readers = _open_slots(job, cfg, bad_files) if keep.any() else []
    readers = [r for r in readers if r.same_grid(readers[0])]
    entry = {
        "job_id": job.job_id, "status": "done", "granule": job.granule, "n_profiles": n,
        "slots": [r.slot_id for r in readers], "bad_files": bad_files,
    }
    meta = {
        "granule_id": str(prof.attrs.get("granule_id", Path(name_of(job.granule)).stem)),
        "product_version": str(prof.attrs.get("version", "")),
    }
    n_levels = phase.shape[1]
    band_names = readers[0].band_names if readers else list(cfg.bands or [])
    if not readers:
        dropped["time"] += int(keep.sum())  # no imager slot at all near this granule
        return _finish(job, cfg, entry, dropped, JobArrays.empty(len(band_names), len(AUX_NAMES), p, n_levels),
                       [], band_names)

    area, geometry = readers[0].area, _viewing_geometry(readers[0].geometry)
    idx = np.flatnonzero(keep)
    if cfg.parallax:
        app_lon, app_lat, shift = apparent_lonlat(geometry, lon[idx], lat[idx], cth[idx])
    else:
        app_lon, app_lat, shift = lon[idx], lat[idx], np.zeros(idx.size)
    rows, cols, on_disk = pixel_indices(area, app_lon, app_lat)
    sub_keep = apply("off_disk", np.ones(idx.size, bool), on_disk)
    with np.errstate(invalid="ignore"):
        sza = satellite_zenith(geometry, app_lon, app_lat)
    sub_keep = apply("sat_zenith", sub_keep, sza <= cfg.max_sza)

    seen = [_slot_times(r, np.where(sub_keep, rows, -1), cols, bad_files) for r in readers]
    slot, dt = choose_slots(time[idx], seen, cfg.max_dt_s)
    sub_keep = apply("time", sub_keep, slot >= 0)

    m = np.flatnonzero(sub_keep)  # matched profiles, indices into idx (track order kept)
    top_km = cth[idx[m]] / 1000.0 if cfg.parallax else None  # without the shift the imager view is not modelled
    track = track_pixels(slot[m], rows[m], cols[m], phase[idx[m]], top_km)
    plans = plan_patches(track, p, cfg.min_track_pixels, (area.height, area.width))
    used = np.zeros(track.n, dtype=bool)
    for plan in plans:
        used[plan.members] = True
    dropped["not_in_patch"] += int((~used[track.pixel_of_profile]).sum())
    entry["n_profiles_used"] = int(used[track.pixel_of_profile].sum())
    if track.voters is not None:
        entry["n_profiles_hidden"] = int((used[track.pixel_of_profile] & ~track.voters).sum())

    profile_info = {
        "time": time[idx[m]], "lon": lon[idx[m]], "lat": lat[idx[m]], "dt": dt[m], "shift": shift[m],
        "sza": sza[m], "day_night": day_night[idx[m]],
    }
    arrays, rows_meta, files, lost_slots = _cut_samples(plans, track, profile_info, readers, cfg, n_levels, bad_files)
    if lost_slots:  # a slot whose band data would not decode: its samples go, the rest of the job stays
        keep_plan = np.array([pl.slot not in lost_slots for pl in plans], dtype=bool)
        lost = np.zeros(track.n, dtype=bool)  # a track pixel belongs to one slot, so to lost plans only
        for pl, ok in zip(plans, keep_plan, strict=True):
            lost[pl.members] |= not ok
        n_lost = int(lost[track.pixel_of_profile].sum())
        dropped["imager_file"] += n_lost
        entry["n_profiles_used"] -= n_lost
        plans = [pl for pl, ok in zip(plans, keep_plan, strict=True) if ok]
        rows_meta = [m_ for m_, ok in zip(rows_meta, keep_plan, strict=True) if ok]
        arrays = JobArrays(*(getattr(arrays, f.name)[keep_plan] for f in fields(JobArrays)))
    samples = []
    for k, (plan, info) in enumerate(zip(plans, rows_meta, strict=True)):
        samples.append({
            "sample_id": f"{job.job_id}-{k:05d}", "job_id": job.job_id, "row": k, **meta,
            "label_product": cfg.labels, "imager_files": files[plan.slot], "platform": readers[plan.slot].platform,
            "patch_row0": plan.row0, "patch_col0": plan.col0, **info,
        })
    entry["inputs"] = _inputs(job, prof, [readers[s] for s in sorted({pl.slot for pl in plans})])
    return _finish(job, cfg, entry, dropped, arrays, samples, band_names)


def _viewing_geometry(g) -> GeosGeometry:
    """The satellite's position and ellipsoid, for parallax and zenith angles, from the full disk."""
    return GeosGeometry(g.sub_lon, g.h, g.a, g.b)


def _inputs(job: Job, prof, readers: list) -> list[dict]:
    """The archive files the job's samples were made from, with their sha256 (the manifest lists them).

    The granule's checksum comes from its reader; imager files are hashed by their slot's reader
    (a local file costs a read of its compressed bytes, far less than decoding it; a file read in
    place was hashed as it arrived).
    """
    granule_sha = prof.attrs.get("sha256") or file_sha256(job.granule)
    items = [{"name": name_of(job.granule), "kind": "granule", "sha256": str(granule_sha)}]
    owner = {f: r for r in readers for f in r.files_used}
    for path in sorted(owner, key=name_of):
        items.append({"name": name_of(path), "kind": "imager", "sha256": owner[path].sha256(path)})
    return items


def _bad_file(exc: Exception, fallback: str) -> dict:
    """The ledger's record of an imager file a job could not read: which file, and why.

    Only data errors get here; anything else is re-raised (a bug must stop the run).
    """
    if not is_data_error(exc):
        raise exc
    if isinstance(exc, CloudbenchError):
        return {"file": str(exc.path or fallback), "reason": exc.message}
    return {"file": str(getattr(exc, "filename", None) or fallback), "reason": f"{type(exc).__name__}: {exc}"}


def _open_slots(job: Job, cfg: CollocateConfig, bad_files: list[dict]) -> list:
    """A reader per slot whose headers can be read; an unreadable slot is left out and listed.

    A damaged imager file costs its slot, not the job: the granule's profiles can still match the
    slots before and after it. Options that no slot could satisfy (unknown bands) still stop the job.
    """
    from cloudbench.readers.slot_access import SlotAccess

    readers = []
    opener = cfg.opener()
    for slot in job.slots:
        try:
            product = registry.imager_product(slot.product)
            readers.append(SlotAccess(product, slot.files, cfg.bands, platform=slot.platform, slot_id=slot.slot_id,
                                      opener=opener, sizes=slot.size_of()))
        except Exception as exc:  # a damaged file costs its slot; anything else (bad options, bugs) stops
            bad_files.append(_bad_file(exc, slot.files[0] if slot.files else job.granule))
    return readers


def _slot_times(reader, rows: np.ndarray, cols: np.ndarray, bad_files: list[dict]) -> np.ndarray:
    """When the slot observed each profile's pixel; all NaT (nothing matches) when a header is unreadable."""
    try:
        return reader.times_at(rows, cols)
    except Exception as exc:
        bad_files.append(_bad_file(exc, reader.files[0]))
        return np.full(np.shape(rows), np.datetime64("NaT"), dtype="datetime64[ns]")


def _cut_samples(plans: list[PatchPlan], track, info: dict, readers, cfg: CollocateConfig,
                 n_levels: int, bad_files: list[dict]) -> tuple[JobArrays, list[dict], dict[int, str], set[int]]:
    """Fill every plan's arrays and metadata, slot by slot; returns the slots whose band data failed."""
    from pyorbital.astronomy import sun_zenith_angle

    p = cfg.patch_size
    L = 2 * p
    n = len(plans)
    n_bands = len(readers[0].band_names)
    arrays = JobArrays(
        np.full((n, n_bands, p, p), np.nan, np.float32), np.full((n, len(AUX_NAMES), p, p), np.nan, np.float32),
        np.full((n, L), -1, np.int16), np.full((n, L), -1, np.int16),
        np.full((n, L, n_levels), 255, np.uint8), np.zeros((n,), np.int16),
    )
    metas: list[dict] = [{} for _ in plans]
    files: dict[int, str] = {}
    lost: set[int] = set()
    area, geometry = readers[0].area, _viewing_geometry(readers[0].geometry)
    pop = track.pixel_of_profile
    for s in sorted({pl.slot for pl in plans}):
        reader = readers[s]
        slot_plans = [(k, pl) for k, pl in enumerate(plans) if pl.slot == s]
        try:
            reader.fill_patches([(pl.row0, pl.col0) for _, pl in slot_plans], p, xs := np.full(
                (len(slot_plans), n_bands, p, p), np.nan, np.float32))
        except Exception as exc:  # a damaged segment or band file of this slot
            bad_files.append(_bad_file(exc, reader.files[0]))
            lost.add(s)
            continue
        for j, (k, _) in enumerate(slot_plans):
            arrays.x[k] = xs[j]
        files[s] = ";".join(name_of(f) for f in reader.files_used)
        for k, pl in slot_plans:
            lons, lats = area.get_lonlats(data_slice=(slice(pl.row0, pl.row0 + p), slice(pl.col0, pl.col0 + p)))
            lons = np.where(np.isfinite(lons), lons, np.nan)
            lats = np.where(np.isfinite(lats), lats, np.nan)
            grid_rows, grid_cols = np.mgrid[pl.row0:pl.row0 + p, pl.col0:pl.col0 + p]
            pixel_times = reader.times_at(grid_rows, grid_cols)
            with np.errstate(invalid="ignore"):
                sat_z = satellite_zenith(geometry, lons, lats)
                fill = pixel_times[~np.isnat(pixel_times)]
                when = np.where(np.isnat(pixel_times), fill[0] if fill.size else np.datetime64("NaT"), pixel_times)
                sun_z = sun_zenith_angle(when, lons, lats)
            arrays.aux[k] = np.stack([sat_z, sun_z, lats, lons]).astype(np.float32)
            members = pl.members
            nt = members.size
            arrays.track_rows[k, :nt] = track.rows[members] - pl.row0
            arrays.track_cols[k, :nt] = track.cols[members] - pl.col0
            labels = track.labels[members]
            arrays.profiles[k, :nt] = labels
            arrays.n_track[k] = nt
            centre_profiles = np.flatnonzero(pop == pl.centre)
            member_profiles = np.flatnonzero(np.isin(pop, members))
            t_c = info["time"][centre_profiles]
            t_mean = t_c[0] + (t_c - t_c[0]).astype(np.int64).mean().astype("timedelta64[ns]")
            centre_row, centre_col = int(track.rows[pl.centre]), int(track.cols[pl.centre])
            dn = info["day_night"][centre_profiles]
            metas[k] = {
                "time": t_mean,
                "line_time": reader.times_at(np.array([centre_row]), np.array([centre_col]))[0],
                "dt_s": float(np.mean(info["dt"][centre_profiles])),
                "lat": float(np.mean(info["lat"][centre_profiles])),
                "lon": float(np.mean(info["lon"][centre_profiles])),
                "parallax_km": float(np.mean(info["shift"][member_profiles])),
                "sat_zenith": float(np.mean(info["sza"][centre_profiles])),
                "day_night": int(np.bincount(dn.astype(np.int64)).argmax()),
                "frac_labeled": float(np.mean((labels < _NUM_CLASSES).any(axis=1))),
                "n_track": int(nt),
                **class_counts(labels),
                "date": str(t_mean.astype("datetime64[D]")),
            }
    return arrays, metas, files, lost


def _finish(job: Job, cfg: CollocateConfig, entry: dict, dropped: dict, arrays: JobArrays, samples: list[dict],
            band_names: list[str]) -> dict:
    from cloudbench.collocate.pairs_store import SAMPLE_COLUMNS

    table = pd.DataFrame(samples, columns=list(SAMPLE_COLUMNS))
    if table.empty:
        table = _typed_empty_table()
    else:
        table["time"] = pd.to_datetime(table["time"]).astype("datetime64[ns]")
        table["line_time"] = pd.to_datetime(table["line_time"]).astype("datetime64[ns]")
    attrs = {
        "bands": list(band_names), "aux_names": list(AUX_NAMES), "patch_size": cfg.patch_size,
        "height_edges_km": [round(float(v), 6) for v in cfg.grid.edges_km], "label_product": cfg.labels,
        "platform": samples[0]["platform"] if samples else "",
    }
    write_job(cfg.out, job.job_id, arrays, table, attrs)
    entry.setdefault("n_profiles_used", 0)
    entry.update({"n_samples": len(samples), "dropped": dropped, "bands": list(band_names)})
    return entry


def _typed_empty_table() -> pd.DataFrame:
    from cloudbench.collocate.pairs_store import SAMPLE_COLUMNS

    dtypes = {
        "row": "int64", "time": "datetime64[ns]", "line_time": "datetime64[ns]", "dt_s": "float64",
        "lat": "float64", "lon": "float64", "parallax_km": "float64", "sat_zenith": "float64", "day_night": "int64",
        "frac_labeled": "float64", "n_track": "int64", "count_clear": "int64", "count_ice": "int64",
        "count_mixed": "int64", "count_water": "int64", "patch_row0": "int64", "patch_col0": "int64",
    }
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, "object")) for c in SAMPLE_COLUMNS})
