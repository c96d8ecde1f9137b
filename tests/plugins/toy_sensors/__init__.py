"""A toy imager and a toy lidar that live outside cloudbench and plug in through entry points.

Nothing in cloudbench names them: the CLI, the download planner, collocation and the synthetic
archive find them through the ``cloudbench.imagers`` / ``cloudbench.labels`` entry points of this
folder's ``toy_sensors-0.1.dist-info`` (put the folder on ``sys.path``). Their files are plain
``.npz`` archives, so everything here is the plug-in contract and nothing else:

- ``ToyImager``: a geostationary imager at 100 E with a 4 km sample grid (not cloudbench's usual
  2 km), one infrared band at 4 km and one visible band at 2 km, one file per band per 15-minute
  scan that sweeps north to south in 600 s;
- ``ToyLidar``: cloud layers per profile on the A-Train orbit, regridded by cloudbench's rule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import xarray as xr

from cloudbench.errors import DataError, UserError
from cloudbench.products.geostationary import FullDiskGeometry
from cloudbench.sensors.base import (
    ClassMapping,
    ImagerFile,
    ImagerProduct,
    LabelFile,
    LabelProduct,
    PlatformPeriod,
    SyntheticGranule,
    UnitData,
    UnitHeader,
)
from cloudbench.sources.layouts import Layout, NameInfo, days_between

H = 35_786_000.0
A, B = 6_378_137.0, 6_356_752.314
FULL_LINES = 2750  # 4 km pixels over the disk
STEP_RAD = 4000.0 / H
SCAN_S = 600.0
SLOT_MINUTES = 15


@dataclass(frozen=True)
class ToyBand:
    name: str
    number: int
    wavelength_um: float
    resolution_km: float
    kind: str


BANDS = {"T11": ToyBand("T11", 1, 11.2, 4.0, "ir"), "V06": ToyBand("V06", 2, 0.64, 2.0, "vis")}


def _name(platform: str, slot: datetime, band: str) -> str:
    return f"TOY_{platform}_{slot:%Y%m%d%H%M}_{band}.npz"


class ToyLayout(Layout):
    def slot_dir(self, slot: datetime) -> str:
        return f"{self.root}/{slot:%Y/%m/%d/%H%M}"

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        out, t = [], start.replace(minute=start.minute - start.minute % SLOT_MINUTES, second=0, microsecond=0)
        while t < end:
            out.append(self.slot_dir(t))
            t += timedelta(minutes=SLOT_MINUTES)
        return out

    def parse(self, name: str) -> NameInfo | None:
        info = ToyImager().parse_filename(name)
        return None if info is None else NameInfo(info.slot_start, band=info.band, platform=info.platform)


class ToyImager(ImagerProduct):
    name = "toy-imager"
    sensor = "toy"
    description = "Toy geostationary imager (.npz)"
    grid_km = 4.0
    positions = {"toy-geo": (PlatformPeriod("toysat1", datetime(2000, 1, 1, tzinfo=UTC), None),)}
    sub_lon = {"toysat1": 100.0}
    bands = BANDS
    magic = (b"PK\x03\x04",)
    product_dir = "TOY-L1"

    def parse_filename(self, name: str) -> ImagerFile | None:
        parts = name.removesuffix(".npz").split("_")
        if not name.endswith(".npz") or len(parts) != 4 or parts[0] != "TOY" or parts[3] not in BANDS:
            return None
        slot = datetime.strptime(parts[2], "%Y%m%d%H%M").replace(tzinfo=UTC)
        return ImagerFile(platform=parts[1], slot_start=slot, band=parts[3], unit=0, area="FD")

    def slot_minutes(self, when: datetime) -> int:
        return SLOT_MINUTES

    def geometry(self, platform: str, reduction: int = 1, **file_args) -> FullDiskGeometry:
        n = FULL_LINES // int(reduction)
        half = n * STEP_RAD * reduction * H / 2
        extent = (-half, -half, half, half)
        return FullDiskGeometry(platform=platform, sensor="toy", sub_lon=100.0, proj_lon=100.0, shape=(n, n),
                                reduction=int(reduction), a=A, b=B, h=H, sweep="y", grid_km=4.0,
                                extents=((4.0, extent), (2.0, extent)), n_units=1)

    def units_for_rows(self, geometry, row0: int, row1: int) -> set[int]:
        return {0} if min(row1, geometry.shape[0]) > max(row0, 0) else set()

    def line_offsets_s(self, geometry, slot_start: datetime) -> np.ndarray:
        n = geometry.shape[0]
        return SCAN_S * (np.arange(n) + 0.5) / n

    def read_header(self, path, band: str) -> UnitHeader:
        d = self._load(path)
        times = d["line_times"].astype("datetime64[ns]")
        return UnitHeader(row0=0, n_rows=d["values"].shape[0], col0=0, n_cols=d["values"].shape[1],
                          reduction=int(d["reduction"]), line_times=times)

    def decode(self, path, band: str, rows=None) -> UnitData:
        d = self._load(path)
        return UnitData(row0=0, col0=0, values=d["values"].astype(np.float32),
                        line_times=d["line_times"].astype("datetime64[ns]"))

    @staticmethod
    def _load(path) -> dict:
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"not a readable toy imager file ({exc})", path=path) from exc

    def summary(self, path) -> dict:
        d = self._load(path)
        return {"product": "toy", "shape": list(d["values"].shape)}

    def layout(self, platform: str) -> ToyLayout:
        return ToyLayout(self.name, platform, self.product_dir)

    def slot_dirs(self, platform: str, slot_start: datetime) -> list[str]:
        return [self.layout(platform).slot_dir(slot_start)]

    def public_store(self, options):
        raise UserError("the toy imager has no public archive", fix="use --source-root")

    def synthetic_line_times(self, geometry, slot_start: datetime) -> np.ndarray:
        t0 = np.datetime64(slot_start.astimezone(UTC).replace(tzinfo=None), "ns")
        return t0 + np.round(self.line_offsets_s(geometry, slot_start) * 1e9).astype("timedelta64[ns]")

    def write_synthetic_slot(self, root, *, platform, slot_start, bands, geometry) -> list[Path]:
        folder = Path(root) / self.layout(platform).slot_dir(slot_start)
        folder.mkdir(parents=True, exist_ok=True)
        times = self.synthetic_line_times(geometry, slot_start)
        out = []
        for name, values in bands.items():
            f = self.factor(name)
            native = np.repeat(np.repeat(np.asarray(values, np.float32), f, axis=0), f, axis=1)
            path = folder / _name(platform, slot_start, name)
            np.savez(path, values=native, line_times=np.repeat(times, f).astype(np.int64),
                     reduction=np.int64(geometry.reduction))
            out.append(path)
        return out


# --- the toy lidar -----------------------------------------------------------------------------
class ToyLidarLayout(Layout):
    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        return [f"{self.root}/{d:%Y/%m/%d}" for d in days_between(start - self.lookback, end)]

    def parse(self, name: str) -> NameInfo | None:
        info = ToyLidar().parse_filename(name)
        return None if info is None else NameInfo(time=info.start)


class ToyLidar(LabelProduct):
    key = "toy-lidar"
    name = "toy-lidar"
    description = "Toy cloud lidar (.npz)"
    mission = "toylidar"
    magic = (b"PK\x03\x04",)
    granule_span = timedelta(minutes=100)
    class_table = (ClassMapping(1, "ice", 1), ClassMapping(2, "mixed", 2), ClassMapping(3, "water", 3))

    def parse_filename(self, name: str) -> LabelFile | None:
        parts = name.removesuffix(".npz").split("_")
        if not name.endswith(".npz") or len(parts) != 3 or parts[0] != "TOYLIDAR":
            return None
        start = datetime.strptime(parts[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return LabelFile(start=start, collection="L2", granule_id=name.removesuffix(".npz"))

    def _load(self, path) -> dict:
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"not a readable toy lidar file ({exc})", path=path) from exc

    def read_profiles(self, path, grid) -> xr.Dataset:
        from cloudbench.readers import regrid

        d = self._load(path)
        n = d["time"].shape[0]
        fractions = regrid.layer_fractions(d["base_km"], d["top_km"], d["phase"], d["surface_km"], grid)
        phase = regrid.classify_fractions(fractions)
        return xr.Dataset(
            {
                "time": ("profile", d["time"].astype("datetime64[ns]")),
                "latitude": ("profile", d["latitude"]),
                "longitude": ("profile", d["longitude"]),
                "day_night": ("profile", np.zeros(n, np.uint8)),
                "surface_elevation": ("profile", (d["surface_km"] * 1000).astype(np.float32)),
                "phase": (("profile", "height"), phase),
                "cloud_top_height": ("profile", regrid.cloud_top_height(phase, grid)),
            },
            coords={"height": ("height", grid.centres_km)},
            attrs={"product": "toy-lidar", "version": "1", "granule_id": Path(path).stem, "source_file": str(path),
                   "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                   "height_edges_km": [float(e) for e in grid.edges_km]},
        )

    def read_track(self, path) -> xr.Dataset:
        d = self._load(path)
        return xr.Dataset({"time": ("profile", d["time"].astype("datetime64[ns]")),
                           "latitude": ("profile", d["latitude"]), "longitude": ("profile", d["longitude"])})

    def summary(self, path) -> dict:
        return {"product": "toy-lidar", "n_profiles": int(self._load(path)["time"].shape[0])}

    def layout(self, version=None) -> ToyLidarLayout:
        return ToyLidarLayout(self.key, self.mission, "L2", timedelta(minutes=100))

    def catalog(self, options, workers=8):
        raise UserError("the toy lidar has no public archive", fix="use --source-root")

    def synthetic_granules(self, start, end) -> list[SyntheticGranule]:
        from cloudbench.synthetic import orbit

        return [SyntheticGranule(g.start, g.end, g.orbit) for g in orbit.cloudsat_granules(start, end)]

    def synthetic_sample_interval_s(self) -> float:
        return 0.5

    def synthetic_subpoint(self, times):
        from cloudbench.synthetic import orbit

        return orbit.subpoint(times)

    def write_synthetic(self, root, layers, granule, *, seed=0, version=None) -> Path:
        t0 = layers.time[0].astype("datetime64[s]").astype(datetime).replace(tzinfo=UTC)
        folder = Path(root) / self.layout().root / f"{t0:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        phase = np.where(np.isfinite(layers.top_km), layers.phase, 0).astype(np.int8)
        path = folder / f"TOYLIDAR_{t0:%Y%m%dT%H%M%S}_{granule.orbit:05d}.npz"
        np.savez(path, time=layers.time.astype(np.int64), latitude=layers.latitude, longitude=layers.longitude,
                 surface_km=layers.surface_km, base_km=layers.base_km, top_km=layers.top_km, phase=phase)
        return path


__all__ = ["ToyImager", "ToyLidar"]
