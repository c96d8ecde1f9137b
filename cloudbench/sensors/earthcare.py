"""EarthCARE's three target classifications as label products: ``earthcare-ac-tc`` (AC__TC__2B, the
ATLID-CPR synergy and the default EarthCARE choice), ``earthcare-atl-tc`` (ATL_TC__2A, the lidar alone)
and ``earthcare-cpr-tc`` (CPR_TC__2A, the radar alone).

Everything here delegates to the product's own modules: names, frames and class tables in
``cloudbench.products.earthcare``, reading in ``cloudbench.readers.earthcare_tc``, the archive layout
and the MAAP catalog in ``cloudbench.sources``, the orbit and the writer in ``cloudbench.synthetic``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cloudbench import config
from cloudbench.products import earthcare as ec
from cloudbench.sensors.base import ClassMapping, LabelFile, LabelProduct, SyntheticGranule

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from cloudbench.config import HeightGrid
    from cloudbench.sources.base import Catalog
    from cloudbench.sources.earthcare_layout import EarthcareLayout
    from cloudbench.synthetic.layers import TrackLayers

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def class_mappings(table) -> tuple[ClassMapping, ...]:
    """A product table as the interface's ClassMapping rows, in code order."""
    return tuple(ClassMapping(code, entry.label, entry.phase, entry.note) for code, entry in sorted(table.items()))


class EarthcareTargetClassification(LabelProduct):
    """What the three EarthCARE products share; subclasses name the product type."""

    product: ClassVar[ec.ProductType]
    mission: ClassVar[str] = ec.MISSION
    magic: ClassVar[tuple[bytes, ...]] = (HDF5_MAGIC,)
    granule_span: ClassVar[timedelta] = ec.MAX_FRAME_SPAN
    default_version: ClassVar[str] = ""  # any baseline: the catalog takes the newest of each frame
    # launched 2024-05-28; validated L2 products are public from January 2025
    operational: ClassVar[tuple[datetime, datetime | None]] = (datetime(2025, 1, 1, tzinfo=UTC), None)

    # --- names -------------------------------------------------------------------------------------
    def parse_filename(self, name: str) -> LabelFile | None:
        info = ec.parse_filename(name)
        if info is None or info.product_type != self.product.code or info.suffix not in (ec.H5_SUFFIX, ""):
            return None
        return LabelFile(start=info.sensing_start, collection=self.product.collection, granule_id=info.product_name)

    # --- reading -----------------------------------------------------------------------------------
    def read_profiles(self, path: str | Path, grid: HeightGrid = config.DEFAULT_GRID) -> xr.Dataset:
        from cloudbench.readers.earthcare_tc import read_earthcare_tc

        return read_earthcare_tc(path, grid, self.product)

    def read_track(self, path: str | Path) -> xr.Dataset:
        from cloudbench.readers.earthcare_tc import read_earthcare_track

        return read_earthcare_track(path, self.product)

    def summary(self, path: str | Path) -> dict[str, Any]:
        from cloudbench.readers.earthcare_tc import earthcare_summary

        return earthcare_summary(path, self.product)

    def probe(self, path: Path) -> bool:
        from cloudbench.readers.earthcare_tc import probe

        return probe(path, self.product)

    # --- archive -------------------------------------------------------------------------------------
    def layout(self, version: str | None = None) -> EarthcareLayout:
        from cloudbench.sources.earthcare_layout import earthcare_layout

        return earthcare_layout(self.product, version or self.default_version or None)

    def catalog(self, options: Any, workers: int = 8) -> Catalog:
        from cloudbench.sources.maap_stac import maap_catalog

        return maap_catalog(self.product, options, workers)

    # --- synthetic -----------------------------------------------------------------------------------
    def synthetic_granules(self, start: np.datetime64, end: np.datetime64) -> list[SyntheticGranule]:
        from cloudbench.synthetic.earthcare_tc import frames

        return [SyntheticGranule(f.start, f.end, f.orbit, {"frame": f.frame}) for f in frames(start, end)]

    def synthetic_sample_interval_s(self) -> float:
        from cloudbench.synthetic.earthcare_tc import sample_interval_s

        return sample_interval_s()

    def synthetic_subpoint(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from cloudbench.synthetic.orbit import EARTHCARE

        return EARTHCARE.subpoint(times)

    def ideal_columns(self, layers: TrackLayers, grid: HeightGrid) -> np.ndarray:
        """The layers as this product reports them: classified on its ~100 m cells by its instruments'
        view (the synthetic writer's), mapped by its class table, regridded as the reader does."""
        from cloudbench.readers.earthcare_tc import cell_classes, regrid_cells_to_grid
        from cloudbench.synthetic.earthcare_tc import level_centres_msl_km, reported_codes, view_cells

        centres = level_centres_msl_km(self.product)
        codes = reported_codes(self.product, view_cells(layers, centres))
        centres_2d = np.broadcast_to(centres, codes.shape)
        classes = cell_classes(codes, self.product, centres_2d, layers.surface_km)
        return regrid_cells_to_grid(classes, centres_2d, grid)

    def write_synthetic(self, root: str | Path, layers: TrackLayers, granule: SyntheticGranule, *,
                        seed: int = 0, version: str | None = None) -> Path:
        from cloudbench.synthetic.earthcare_tc import EarthcareFrame, default_filename, write_earthcare_frame

        frame = EarthcareFrame(granule.start, granule.end, granule.orbit, str(granule.extra["frame"]))
        name = default_filename(self.product, layers, frame, baseline=version or None)
        path = Path(root) / ec.archive_relpath(name)
        return write_earthcare_frame(path, self.product, layers, frame, baseline=version or None, seed=seed)


class EarthcareAcTc(EarthcareTargetClassification):
    """AC__TC__2B: ATLID and CPR together: the lidar's phase where it sees, the radar's below (default)."""

    key = ec.AC_TC.key
    name = ec.AC_TC.key
    description = ec.AC_TC.description
    product = ec.AC_TC
    class_table = class_mappings(ec.AC_TC_CLASSES)


class EarthcareAtlTc(EarthcareTargetClassification):
    """ATL_TC__2A: the lidar alone (blind below optical depth ~3, no mixed class)."""

    key = ec.ATL_TC.key
    name = ec.ATL_TC.key
    description = ec.ATL_TC.description
    product = ec.ATL_TC
    class_table = class_mappings(ec.ATL_TC_CLASSES)


class EarthcareCprTc(EarthcareTargetClassification):
    """CPR_TC__2A: the radar alone (misses thin liquid and thin cirrus, so it labels no clear sky)."""

    key = ec.CPR_TC.key
    name = ec.CPR_TC.key
    description = ec.CPR_TC.description
    product = ec.CPR_TC
    class_table = class_mappings(ec.CPR_TC_CLASSES)


PRODUCTS: tuple[type[EarthcareTargetClassification], ...] = (EarthcareAcTc, EarthcareAtlTc, EarthcareCprTc)
"""The registry entries: ``cloudbench.sensors.earthcare:EarthcareAcTc`` and the two others."""
