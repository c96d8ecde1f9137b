"""CALIPSO CALIOP Level 2 Vertical Feature Mask as a label product (ASDC via NASA Earthdata/CMR).

File facts live in :mod:`cloudbench.products.calipso_vfm`, the reader in
:mod:`cloudbench.readers.calipso_vfm`, the writer in :mod:`cloudbench.synthetic.calipso_vfm`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cloudbench.config import CLEAR, ICE, UNLABELED, WATER
from cloudbench.products import calipso_vfm as P
from cloudbench.sensors.base import ClassMapping, LabelFile, LabelProduct, SyntheticGranule
from cloudbench.sources.layouts import Layout, NameInfo, days_between

HDF4_MAGIC = b"\x0e\x03\x13\x01"


class VfmLayout(Layout):
    """``calipso/LID_L2_VFM-Standard-V4-51/YYYY/MM/``: half-orbit granules of about 48 minutes."""

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        months = sorted({(d.year, d.month) for d in days_between(start - self.lookback, end)})
        return [f"{self.root}/{y:04d}/{m:02d}" for y, m in months]

    def parse(self, name: str) -> NameInfo | None:
        info = P.parse_filename(name)
        if info is None or info.collection != self.collection:
            return None
        return NameInfo(time=info.start)


def vfm_layout(version: str = P.DEFAULT_VERSION) -> VfmLayout:
    return VfmLayout("calipso_vfm", "calipso", f"LID_L2_VFM-Standard-{version}", timedelta(minutes=60))


class CalipsoVfm(LabelProduct):
    """CALIOP VFM: per laser shot, feature type and ice/water phase in 30/60/180 m cells."""

    key = "vfm"
    name = "calipso-vfm"
    description = "CALIPSO CALIOP L2 Vertical Feature Mask (HDF4)"
    mission = "calipso"
    magic = (HDF4_MAGIC,)
    granule_span = timedelta(minutes=100)
    default_version = P.DEFAULT_VERSION
    # first science data June 2006; the lidar stopped on 2023-08-01 and the mission ended that year
    operational = (datetime(2006, 6, 13, tzinfo=UTC), datetime(2023, 8, 1, tzinfo=UTC))
    samples_per_record = P.SHOTS_PER_RECORD
    class_table = (
        ClassMapping("0", "invalid", UNLABELED),
        ClassMapping("1", "clear air", CLEAR),
        ClassMapping("2/0", "cloud, phase unknown", UNLABELED),
        ClassMapping("2/1", "cloud, randomly oriented ice", ICE),
        ClassMapping("2/2", "cloud, water", WATER),
        ClassMapping("2/3", "cloud, horizontally oriented ice", ICE),
        ClassMapping("3", "tropospheric aerosol", CLEAR, "no cloud in the cell"),
        ClassMapping("4", "stratospheric aerosol", CLEAR, "no cloud in the cell"),
        ClassMapping("5", "surface", UNLABELED),
        ClassMapping("6", "subsurface", UNLABELED),
        ClassMapping("7", "totally attenuated", UNLABELED, "the lidar is blind below an opaque layer"),
    )

    def parse_filename(self, name: str) -> LabelFile | None:
        info = P.parse_filename(name)
        if info is None:
            return None
        return LabelFile(start=info.start, collection=info.collection, granule_id=Path(name).stem)

    def read_profiles(self, path, grid):
        from cloudbench.readers.calipso_vfm import read_vfm

        return read_vfm(path, grid)

    def read_track(self, path):
        from cloudbench.readers.calipso_vfm import read_vfm_track

        return read_vfm_track(path)

    def summary(self, path) -> dict[str, Any]:
        from cloudbench.readers.calipso_vfm import vfm_summary

        return vfm_summary(path)

    def probe(self, path: Path) -> bool:
        from cloudbench.readers._hdf4 import sds_names

        try:
            return P.SDS_FLAGS in sds_names(path)
        except Exception:  # noqa: BLE001 - pyhdf raises its own HDF4Error on anything that is not HDF4
            return False

    def layout(self, version: str | None = None) -> VfmLayout:
        return vfm_layout(version or P.DEFAULT_VERSION)

    def catalog(self, options: Any, workers: int = 8):
        from cloudbench.sources.credentials import EarthdataCredentials, Secret, earthdata_credentials
        from cloudbench.sources.earthdata import EarthdataCatalog

        token = getattr(options, "earthdata_token", None)
        creds = (EarthdataCredentials("SourceOptions.earthdata_token", token=Secret(token))
                 if token else earthdata_credentials())
        return EarthdataCatalog(creds, version=getattr(options, "label_version", None) or P.DEFAULT_VERSION,
                                cmr_url=options.cmr_url, pool_size=workers)

    # --- synthetic ---------------------------------------------------------------------------------
    def synthetic_granules(self, start: np.datetime64, end: np.datetime64) -> list[SyntheticGranule]:
        from cloudbench.synthetic import orbit

        return [SyntheticGranule(g.start, g.end, g.orbit, {"day_night": g.day_night})
                for g in orbit.calipso_granules(start, end)]

    def synthetic_sample_interval_s(self) -> float:
        from cloudbench.synthetic import orbit

        return orbit.calipso_shot_interval_s()

    def synthetic_subpoint(self, times: np.ndarray):
        from cloudbench.synthetic import orbit

        return orbit.subpoint(times)

    def write_synthetic(self, root, layers, granule, *, seed=0, version=None) -> Path:
        from cloudbench.synthetic.archive import aware_utc
        from cloudbench.synthetic.calipso_vfm import write_vfm_granule

        version = version or P.DEFAULT_VERSION
        name = P.build_filename(aware_utc(layers.time[0]), granule.extra["day_night"], version=version)
        path = Path(root) / P.archive_relpath(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(write_vfm_granule(path, layers, version=version, seed=seed))
