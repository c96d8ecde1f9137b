"""CloudSat 2B-CLDCLASS-LIDAR (radar + lidar cloud layers with phase) as a label product (CloudSat DPC).

File facts live in :mod:`cloudbench.products.cloudsat_cldclass_lidar`, the reader in
:mod:`cloudbench.readers.cloudsat_cldclass_lidar`, the writer in
:mod:`cloudbench.synthetic.cloudsat_cldclass_lidar`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cloudbench.config import CLEAR, ICE, MIXED, UNLABELED, WATER
from cloudbench.products import cloudsat_cldclass_lidar as P
from cloudbench.sensors.base import ClassMapping, LabelFile, LabelProduct, SyntheticGranule
from cloudbench.sources.layouts import Layout, NameInfo, days_between

HDF4_MAGIC = b"\x0e\x03\x13\x01"
DEFAULT_COLLECTION_RELEASE = "P1_" + P.DEFAULT_RELEASE


class CldclassLayout(Layout):
    """``cloudsat/2B-CLDCLASS-LIDAR.P1_R05/YYYY/DDD/``: one orbit (about 99 minutes) per granule."""

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        return [f"{self.root}/{d:%Y}/{d:%j}" for d in days_between(start - self.lookback, end)]

    def parse(self, name: str) -> NameInfo | None:
        info = P.parse_filename(name)
        if info is None or info.collection != self.collection:
            return None
        return NameInfo(time=info.start)


def cldclass_layout(release: str = DEFAULT_COLLECTION_RELEASE) -> CldclassLayout:
    return CldclassLayout("cloudsat_cldclass_lidar", "cloudsat", f"{P.PRODUCT}.{release}", timedelta(minutes=100))


class CloudsatCldclassLidar(LabelProduct):
    """2B-CLDCLASS-LIDAR: up to 10 cloud layers per radar ray with base, top and phase."""

    key = "cldclass-lidar"
    name = "cloudsat-cldclass-lidar"
    description = "CloudSat 2B-CLDCLASS-LIDAR (HDF-EOS2 swath in HDF4)"
    mission = "cloudsat"
    magic = (HDF4_MAGIC,)
    granule_span = timedelta(minutes=100)
    default_version = DEFAULT_COLLECTION_RELEASE
    # first data June 2006; the spacecraft was decommissioned at the end of 2023 (daylight-only since 2011)
    operational = (datetime(2006, 6, 2, tzinfo=UTC), datetime(2023, 12, 31, tzinfo=UTC))
    class_table = (
        ClassMapping(-9, "CloudPhase missing", UNLABELED),
        ClassMapping(0, "CloudPhase not determined", UNLABELED),
        ClassMapping(1, "ice", ICE),
        ClassMapping(2, "mixed", MIXED),
        ClassMapping(3, "water", WATER),
        ClassMapping("no layer", "no layer at this height, above the surface", CLEAR),
        ClassMapping("below surface", "below DEM_elevation", UNLABELED),
    )

    def parse_filename(self, name: str) -> LabelFile | None:
        info = P.parse_filename(name)
        if info is None:
            return None
        return LabelFile(start=info.start, collection=info.collection, granule_id=Path(name).stem)

    def read_profiles(self, path, grid):
        from cloudbench.readers.cloudsat_cldclass_lidar import read_cldclass_lidar

        return read_cldclass_lidar(path, grid)

    def read_track(self, path):
        from cloudbench.readers.cloudsat_cldclass_lidar import read_cldclass_track

        return read_cldclass_track(path)

    def summary(self, path) -> dict[str, Any]:
        from cloudbench.readers.cloudsat_cldclass_lidar import cldclass_summary

        return cldclass_summary(path)

    def probe(self, path: Path) -> bool:
        from cloudbench.readers._hdf4 import sds_names

        try:
            names = sds_names(path)
        except Exception:  # noqa: BLE001 - pyhdf raises its own HDF4Error on anything that is not HDF4
            return False
        return P.CLOUD_LAYER_BASE in names and P.CLOUD_PHASE in names

    def layout(self, version: str | None = None) -> CldclassLayout:
        return cldclass_layout(version or DEFAULT_COLLECTION_RELEASE)

    def catalog(self, options: Any, workers: int = 8):
        from cloudbench.errors import UserError
        from cloudbench.sources.cloudsat_dpc import DpcSftpStore
        from cloudbench.sources.credentials import Secret, SftpCredentials, dpc_credentials
        from cloudbench.sources.fsroot import DirectoryCatalog

        user = getattr(options, "dpc_user", None)
        password = getattr(options, "dpc_password", None)  # library callers only; the CLI never takes it
        if password:
            if not user:
                raise UserError("SourceOptions.dpc_password needs SourceOptions.dpc_user")
            creds = SftpCredentials(user, Secret(password), "SourceOptions.dpc_password")
        else:
            creds = dpc_credentials(user, host=options.dpc_host, key_file=getattr(options, "dpc_key", None),
                                    prompt=getattr(options, "password_prompt", None))
        return DirectoryCatalog(self.layout(getattr(options, "label_version", None)),
                                DpcSftpStore(creds, options.dpc_host, options.dpc_port))

    # --- synthetic ---------------------------------------------------------------------------------
    def synthetic_granules(self, start: np.datetime64, end: np.datetime64) -> list[SyntheticGranule]:
        from cloudbench.synthetic import orbit

        return [SyntheticGranule(g.start, g.end, g.orbit) for g in orbit.cloudsat_granules(start, end)]

    def synthetic_sample_interval_s(self) -> float:
        from cloudbench.synthetic import orbit

        return orbit.CLOUDSAT_RAY_INTERVAL_S

    def synthetic_subpoint(self, times: np.ndarray):
        from cloudbench.synthetic import orbit

        return orbit.subpoint(times)

    def write_synthetic(self, root, layers, granule, *, seed=0, version=None) -> Path:
        from cloudbench.synthetic.archive import aware_utc
        from cloudbench.synthetic.cloudsat_cldclass_lidar import write_cldclass_granule

        name = P.build_filename(aware_utc(np.datetime64(layers.time[0], "s")), granule.orbit)
        path = Path(root) / P.archive_relpath(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(write_cldclass_granule(path, layers, granule_number=granule.orbit))
