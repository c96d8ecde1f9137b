"""The two interfaces every sensor plugs into: an imager product and a label (active-sensor) product.

The stages never ask "is this Himawari?": they ask the product. An :class:`ImagerProduct` knows its
file names, bands, how one scan is split into files (segments, chunks or one file) and which of them
a set of rows needs, its geometry, its per-line (or per-pixel) observation times, how to decode the
rows a job needs, its archive layout and public store, and its synthetic writer. A
:class:`LabelProduct` knows its file names, archive layout and catalog, its reader to the common
profile schema, its track reader (for download planning), its class table and its synthetic writer.

Both follow the split of satpy's readers (a description plus the code that reads) and xarray's
backend entry points: a product is an object registered under a name
(:mod:`cloudbench.sensors.registry`), and a user's package can register its own through the entry
point groups ``cloudbench.imagers`` and ``cloudbench.labels``.

Row and column numbers:
- "grid rows" are rows of the product's sample grid (``grid_km``: 2 km for AHI, ABI and FCI, 3 km
  for SEVIRI), numbered over the full disk, north at row 0, west at column 0;
- "native rows" are rows of one band at its own resolution, ``factor`` times as many.
A product whose files store another orientation (SEVIRI: south and east first) turns them in its
own decoder, so nothing downstream ever sees it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from cloudbench.config import HeightGrid
    from cloudbench.products.geostationary import FullDiskGeometry
    from cloudbench.sources.base import Catalog
    from cloudbench.sources.fsroot import Store
    from cloudbench.sources.layouts import Layout
    from cloudbench.synthetic.layers import TrackLayers


# --- shared small types ------------------------------------------------------------------------
@dataclass(frozen=True)
class PlatformPeriod:
    """One platform's operational period at an imager position (hand-over dates, UTC)."""

    platform: str  # archive folder name: "himawari8", "goes16", "msg3", ...
    start: datetime
    end: datetime | None


class Band(Protocol):
    """What the stages need of a band (the products' band dataclasses have more)."""

    name: str
    number: int  # the instrument's channel number (seeds the synthetic noise of the band)
    wavelength_um: float
    resolution_km: float
    kind: str  # "vis": reflectance (%), "ir": brightness temperature (K)


@dataclass(frozen=True)
class ImagerFile:
    """What an imager file name says, in the terms every stage uses.

    Attributes:
        platform: archive folder name of the satellite (``himawari8``).
        slot_start: nominal start of the scan (the repeat cycle), aware UTC.
        band: the band the file holds, or None when one file holds every band (SEVIRI).
        unit: which part of the scan: AHI segment or FCI chunk number; 0 for a one-file scan.
        start, end: scan start/end when the name says so.
        full_disk: False for sub-area files (AHI target areas, ABI CONUS/mesoscale), which
            collocation skips with a reason.
        area: the name's area code, for messages (``FLDK``, ``JP01``, ``R301``, ``RadM1``).
    """

    platform: str
    slot_start: datetime
    band: str | None
    unit: int = 0
    start: datetime | None = None
    end: datetime | None = None
    full_disk: bool = True
    area: str = ""


@dataclass
class UnitData:
    """One decoded file (or the rows asked for) of one band, at the band's native resolution.

    ``row0``/``col0`` place ``values`` in the full disk's native numbering; ``line_times`` (per row
    of ``values``, datetime64[ns], NaT where unknown) is None when the product has no per-line times
    in the file and computes them from the scan bounds instead.
    """

    row0: int
    col0: int
    values: np.ndarray  # float32 (rows, cols): reflectance % or brightness temperature K; NaN = no data
    line_times: np.ndarray | None = None
    pixel_times: np.ndarray | None = None  # (rows, cols) datetime64[ns] where times vary along a line


@dataclass(frozen=True)
class UnitHeader:
    """What a cheap header read says of one file: where it sits, and the grid it belongs to."""

    row0: int  # native rows, full-disk numbering
    n_rows: int
    col0: int
    n_cols: int
    reduction: int  # 1 = the real grid; k = k-times coarser synthetic grid
    line_times: np.ndarray | None = None  # per native row, datetime64[ns]; None: see ImagerProduct.line_times
    geometry_args: Mapping[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``ImagerProduct.geometry`` that only the file knows (e.g. the
    sub-satellite longitude of a satellite that moved, or a georeferencing convention by date)."""


@dataclass(frozen=True)
class ClassMapping:
    """One native class code of a label product and the cloudbench class it becomes."""

    code: int | str  # the product's code (VFM: feature type and phase, e.g. "2/1")
    meaning: str
    phase: int  # cloudbench.config class code (0 clear, 1 ice, 2 mixed, 3 water, 255 unlabeled)
    note: str = ""


@dataclass(frozen=True)
class LabelFile:
    """What a label-product file name says."""

    start: datetime  # first profile (or sensing start), aware UTC
    collection: str  # archive collection folder: "LID_L2_VFM-Standard-V4-51", "2B-CLDCLASS-LIDAR.P1_R05"
    granule_id: str = ""


@dataclass(frozen=True)
class SyntheticGranule:
    """One synthetic label granule: its span, orbit number and the product's own naming extras."""

    start: np.datetime64
    end: np.datetime64
    orbit: int
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"day_night": "D"}, {"frame": "B"}


# --- imager products -----------------------------------------------------------------------------
class ImagerProduct(abc.ABC):
    """A geostationary imager's level-1 product: everything cloudbench needs to know of it.

    Subclasses set the class attributes and implement the abstract methods; the concrete methods
    here are written once for every product (planning needs from per-line times, band checks).
    """

    name: ClassVar[str]  # registry key: "ahi-hsd", "abi-l1b", "seviri-native", "fci-l1c"
    sensor: ClassVar[str]  # "ahi", "abi", "seviri", "fci"
    description: ClassVar[str]
    grid_km: ClassVar[float] = 2.0  # the sample grid: patches, pixels and rows are on it
    positions: ClassVar[Mapping[str, tuple[PlatformPeriod, ...]]]  # --imager choices this product serves
    sub_lon: ClassVar[Mapping[str, float]]  # platform -> nominal sub-satellite longitude (deg)
    bands: ClassVar[Mapping[str, Band]]  # band name -> band, in the product's order
    magic: ClassVar[tuple[bytes, ...]] = ()  # leading bytes of its files (for guess_reader)
    product_dir: ClassVar[str] = ""  # the archive's product folder, for messages and the ledger
    decode_in_threads: ClassVar[bool] = False  # True when decode() may run in several threads at once
    # True when read_header() and decode() take a cloudbench.readers.unit_source.UnitSource (a file
    # read in place from an object store, decoded from memory); otherwise such files are first
    # copied to a local file (the cache folder, or a job's scratch folder) and the product gets a path.
    reads_unit_sources: ClassVar[bool] = False

    # --- names and time ---------------------------------------------------------------------
    @abc.abstractmethod
    def parse_filename(self, name: str) -> ImagerFile | None:
        """What a file name (no folders) says; None when it is not a file of this product."""

    @abc.abstractmethod
    def slot_minutes(self, when: datetime) -> int:
        """Minutes between the starts of two full-disk scans at ``when``."""

    def slot_of(self, when: datetime) -> datetime:
        """The nominal slot holding ``when`` (floored to the repeat cycle of that day)."""
        when = when.astimezone(UTC)
        minutes = self.slot_minutes(when)
        day = when.replace(hour=0, minute=0, second=0, microsecond=0)
        k = int((when - day).total_seconds() // (minutes * 60))
        return day + timedelta(minutes=minutes * k)

    # --- bands --------------------------------------------------------------------------------
    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(self.bands)

    def factor(self, band: str) -> int:
        """Native pixels per grid pixel along each axis (e.g. 4 for AHI's 0.5 km band)."""
        return int(round(self.grid_km / self.bands[band].resolution_km))

    def band_name(self, name: str) -> str | None:
        """The product's spelling of a band name given in any case (``b13`` -> ``B13``, ``IR_105`` ->
        ``ir_105``), or None when it is not one of its bands."""
        if name in self.bands:
            return name
        folded = name.strip().casefold()
        return next((b for b in self.bands if b.casefold() == folded), None)

    def check_bands(self, names: Sequence[str] | None) -> tuple[str, ...]:
        """The bands asked for, in the product's spelling (every band when None), or a UserError naming
        the valid ones."""
        from cloudbench.errors import UserError

        if not names:
            return self.band_names
        bad = [b for b in names if self.band_name(b) is None]
        if bad:
            raise UserError(f"{', '.join(bad)} not {self.description} bands",
                            fix=f"choose from {','.join(self.band_names)}")
        return tuple(self.band_name(b) for b in names)  # type: ignore[misc]

    # --- geometry -------------------------------------------------------------------------------
    @abc.abstractmethod
    def geometry(self, platform: str, reduction: int = 1, **file_args: Any) -> FullDiskGeometry:
        """The full disk of ``platform`` on the sample grid, real size (1) or ``reduction`` times coarser.

        ``file_args`` are a file header's ``UnitHeader.geometry_args`` when the geometry depends on
        more than the platform (planning, which has no file yet, calls it without them).
        """

    def geometry_at(self, platform: str, when: datetime, reduction: int = 1) -> FullDiskGeometry:
        """The geometry ``platform`` had at ``when``, before any file says it (planning, synthetic files).

        The default is :meth:`geometry`; a product whose satellites moved between positions, or whose
        georeferencing changed on a date, looks the date up here.
        """
        return self.geometry(platform, reduction)

    def serves(self, platform: str, position: str, when: datetime) -> bool:
        """Whether ``platform``'s files at ``when`` may stand for ``position`` (planning's fallback search).

        The default says yes: every platform of a position is searched at any date (a satellite can
        be the operational one again after a fault). A product whose satellites moved to other
        positions says no for the dates they were elsewhere, so a gap in one service is never filled
        with another service's scans.
        """
        return True

    @abc.abstractmethod
    def units_for_rows(self, geometry: FullDiskGeometry, row0: int, row1: int) -> set[int]:
        """Units (segments, chunks; {0} for one-file scans) holding grid rows [row0, row1)."""

    @abc.abstractmethod
    def line_offsets_s(self, geometry: FullDiskGeometry, slot_start: datetime) -> np.ndarray:
        """Nominal seconds after ``slot_start`` at which each grid row is observed (the scan model).

        Planning uses it before any file is fetched; collocation uses the times the files carry.
        Must not decrease along the rows a product scans in order (north to south for AHI/ABI,
        south to north for FCI: then it decreases, and the planner handles both directions).
        """

    # --- reading ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def read_header(self, path: str | Path, band: str) -> UnitHeader:
        """Cheap read of a file's placement and grid (and its line times when the file carries them).

        ``path`` is a :class:`~cloudbench.readers.unit_source.UnitSource` when ``reads_unit_sources``."""

    @abc.abstractmethod
    def decode(self, path: str | Path, band: str, rows: tuple[int, int] | None = None) -> UnitData:
        """Calibrated values of ``band`` in one file; ``rows`` (native, full-disk numbering) may limit
        the read to the rows a job needs where the format allows it. ``path`` as in ``read_header``."""

    def line_times(self, header: UnitHeader, files: Sequence[ImagerFile], geometry: FullDiskGeometry,
                   ) -> np.ndarray | None:
        """Per native row times when the file has none (ABI: from the scan bounds in the name).

        The default says the header's own times are all there is.
        """
        return header.line_times

    def pixel_times(self, path: str | Path, band: str, header: UnitHeader) -> np.ndarray | None:
        """Per-pixel times of one file (native rows x columns of ``band``, datetime64[ns], NaT where
        unknown) for products whose pixels of one line are seen at different times (FCI).

        None (the default) says line times describe every pixel. Where a product gives pixel times,
        :meth:`SlotAccess.times_at <cloudbench.readers.slot_access.SlotAccess.times_at>` returns them
        and line times default to each row's mean.
        """
        return None

    def skip_reason(self, info: ImagerFile) -> str | None:
        """Why collocation cannot use a file (a sub-area scan), or None when it can."""
        if not info.full_disk:
            return (f"{info.area} is a sub-area scan of {self.description}; collocation uses full-disk "
                    "scans (their rows and line times are what the geometry indexes)")
        return None

    @abc.abstractmethod
    def summary(self, path: str | Path) -> dict[str, Any]:
        """The ``cloudbench inspect`` summary of one file (JSON-serialisable)."""

    def probe(self, path: Path) -> bool:
        """Content check for a file whose name says nothing (True: it is this product's)."""
        return False

    # --- archive ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def layout(self, platform: str) -> Layout:
        """Where the archive keeps this platform's files (folders by time; names parsed)."""

    @abc.abstractmethod
    def slot_dirs(self, platform: str, slot_start: datetime) -> list[str]:
        """ARCHIVE/-relative folders that can hold the files of one slot."""

    @abc.abstractmethod
    def public_store(self, options: Any) -> Store:
        """The public archive's store (NOAA bucket, Data Store...) for ``download``'s SourceOptions."""

    # --- synthetic -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def synthetic_line_times(self, geometry: FullDiskGeometry, slot_start: datetime) -> np.ndarray:
        """Per grid row observation times a synthetic scan of ``slot_start`` records (datetime64[ns])."""

    def synthetic_pixel_times(self, geometry: FullDiskGeometry, slot_start: datetime) -> np.ndarray | None:
        """Per grid pixel times (lines x cols, datetime64[ns]) a synthetic scan records, for products
        with per-pixel times; None (the default): every pixel of a line is seen at its line time."""
        return None

    @abc.abstractmethod
    def write_synthetic_slot(self, root: str | Path, *, platform: str, slot_start: datetime,
                             bands: Mapping[str, np.ndarray], geometry: FullDiskGeometry) -> list[Path]:
        """Write one slot's files under ARCHIVE/ ``root`` from physical values on the sample grid
        (reflectance % / BT K, NaN off disk; finer bands are written by pixel replication); returns
        the paths written."""

    # --- planning (written once) ---------------------------------------------------------------
    def needs(self, geometry: FullDiskGeometry, lines: np.ndarray, times: np.ndarray, *, start: datetime,
              max_dt_s: float, line_margin: int, time_margin_s: float) -> dict[datetime, set[int]]:
        """Slot start -> units whose rows a track point falls on within the time tolerance.

        ``lines`` are grid rows of on-disk track points and ``times`` their datetime64[ns] times.
        A slot's row k is seen at slot + line_offsets_s[k]; a point needs the units of the rows
        within ``line_margin`` of its own that were seen within ``max_dt_s + time_margin_s``.
        """
        from cloudbench.sources.planning import scan_needs

        return scan_needs(self, geometry, lines, times, start=start, max_dt_s=max_dt_s,
                          line_margin=line_margin, time_margin_s=time_margin_s)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# --- label products ------------------------------------------------------------------------------------
class LabelProduct(abc.ABC):
    """An active sensor's cloud classification product, read into the common profile schema."""

    key: ClassVar[str]  # the --labels choice: "cldclass-lidar", "vfm", "earthcare-ac-tc"
    name: ClassVar[str]  # reader registry name: "cloudsat-cldclass-lidar", "calipso-vfm"
    description: ClassVar[str]
    mission: ClassVar[str]  # first ARCHIVE/ folder: "cloudsat", "calipso", "earthcare"
    magic: ClassVar[tuple[bytes, ...]] = ()
    granule_span: ClassVar[timedelta]  # longest time a granule covers (jobs search slots over it)
    class_table: ClassVar[tuple[ClassMapping, ...]] = ()  # native code -> cloudbench class (docs, tests)
    default_version: ClassVar[str] = ""
    operational: ClassVar[tuple[datetime, datetime | None]] = (datetime(1970, 1, 1, tzinfo=UTC), None)
    """When the product has data (first, last; None: still flying): the demo and docs use it."""

    # --- names ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def parse_filename(self, name: str) -> LabelFile | None:
        """What a file name says; None when it is not a file of this product."""

    # --- reading ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def read_profiles(self, path: str | Path, grid: HeightGrid) -> xr.Dataset:
        """The granule in the common profile schema on ``grid`` (docs/architecture.md)."""

    @abc.abstractmethod
    def read_track(self, path: str | Path) -> xr.Dataset:
        """Time, latitude and longitude only (cheap; download planning uses it)."""

    @abc.abstractmethod
    def summary(self, path: str | Path) -> dict[str, Any]:
        """The ``cloudbench inspect`` summary of one file."""

    def probe(self, path: Path) -> bool:
        """Content check for a file whose name says nothing."""
        return False

    # --- archive ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def layout(self, version: str | None = None) -> Layout:
        """Where the archive keeps the granules of ``version`` (default: ``default_version``)."""

    @abc.abstractmethod
    def catalog(self, options: Any, workers: int = 8) -> Catalog:
        """The real archive's catalog, credentials looked up now so a missing login fails first."""

    # --- synthetic -------------------------------------------------------------------------------------
    samples_per_record: ClassVar[int] = 1  # synthetic passes are cut to whole records (VFM: 15 shots)

    @abc.abstractmethod
    def synthetic_granules(self, start: np.datetime64, end: np.datetime64) -> list[SyntheticGranule]:
        """Granules of the synthetic orbit overlapping [start, end)."""

    @abc.abstractmethod
    def synthetic_sample_interval_s(self) -> float:
        """Seconds between two profiles of the synthetic instrument."""

    @abc.abstractmethod
    def synthetic_subpoint(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) of the platform's ground track at ``times`` (its orbit model)."""

    @abc.abstractmethod
    def write_synthetic(self, root: str | Path, layers: TrackLayers, granule: SyntheticGranule, *,
                        seed: int = 0, version: str | None = None) -> Path:
        """Write one granule under ARCHIVE/ ``root`` (archive layout, real name); returns its path."""

    def ideal_columns(self, layers: TrackLayers, grid: HeightGrid) -> np.ndarray:
        """(N, Z) classes on ``grid`` that a perfect instance of this product reports for ``layers``.

        A perfect instance knows the layers exactly but still samples them as the product does
        (its own vertical cells, what its instruments can and cannot see) and goes through the
        reader's regridding rule. Truth tests compare collocated labels with these columns, so that
        what they measure is the collocation (time, parallax, pixel lookup), not the product's known
        vertical quantisation. The default suits a product that reports layer bases and tops as
        heights (CloudSat's layer table): the exact layers rasterised by the regridding rule.
        """
        from cloudbench.synthetic.scene import rasterise_layers

        return rasterise_layers(layers, grid)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r}>"


__all__ = [
    "Band",
    "ClassMapping",
    "ImagerFile",
    "ImagerProduct",
    "LabelFile",
    "LabelProduct",
    "PlatformPeriod",
    "SyntheticGranule",
    "UnitData",
    "UnitHeader",
]
