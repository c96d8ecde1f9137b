"""Project-wide defaults and tables: classes, height grid, regions, sample geometry.

One source of truth for every constant that more than one stage needs. Product-specific facts
(file names, binary layouts, band tables) live in ``cloudbench.products``; imager positions and the
platforms that served them, by date, in each imager product (``cloudbench.sensors``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --- classes -------------------------------------------------------------------------------
CLEAR, ICE, MIXED, WATER = 0, 1, 2, 3
UNLABELED = 255
CLASS_NAMES: dict[int, str] = {CLEAR: "clear", ICE: "ice", MIXED: "mixed", WATER: "water"}
PHASE_COLOURS: dict[int, str] = {CLEAR: "#f2f2f2", ICE: "#3b7dd8", MIXED: "#a05fc4", WATER: "#2ca25f"}
"""Colour of each class in every figure (curtains, quick-looks), so pictures read the same everywhere."""
UNLABELED_COLOUR = "#9e9e9e"
NUM_CLASSES = 4
CLOUD_CLASSES = (ICE, MIXED, WATER)


# --- height grid ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HeightGrid:
    """Common vertical grid, km above mean sea level; bins are [edge_i, edge_i+1)."""

    start_km: float = 0.0
    stop_km: float = 19.2
    step_km: float = 0.24

    @property
    def n(self) -> int:
        return int(round((self.stop_km - self.start_km) / self.step_km))

    @property
    def edges_km(self) -> np.ndarray:
        return self.start_km + self.step_km * np.arange(self.n + 1, dtype=np.float64)

    @property
    def centres_km(self) -> np.ndarray:
        e = self.edges_km
        return 0.5 * (e[:-1] + e[1:])

    @classmethod
    def parse(cls, spec: str) -> HeightGrid:
        """Parse ``START:STOP:STEP`` in km (the ``--levels`` option)."""
        try:
            start, stop, step = (float(v) for v in spec.split(":"))
        except ValueError as exc:
            raise ValueError(f"--levels must be START:STOP:STEP in km, got {spec!r}") from exc
        if step <= 0 or stop <= start:
            raise ValueError(f"--levels needs STOP > START and STEP > 0, got {spec!r}")
        return cls(start, stop, step)

    def __str__(self) -> str:
        return f"{self.start_km:g}:{self.stop_km:g}:{self.step_km:g}"


DEFAULT_GRID = HeightGrid()


# --- regions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    """A lon/lat box (W, S, E, N in degrees); ``imager`` is the preset's natural imager, if any."""

    west: float
    south: float
    east: float
    north: float
    name: str | None = None
    imager: str | None = None

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        lon = np.asarray(lon)
        lat = np.asarray(lat)
        in_lat = (lat >= self.south) & (lat <= self.north)
        if self.west <= self.east:
            in_lon = (lon >= self.west) & (lon <= self.east)
        else:  # box crossing the antimeridian
            in_lon = (lon >= self.west) | (lon <= self.east)
        return in_lat & in_lon

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (self.west, self.south, self.east, self.north)


# The imagers' useful disks are boxes of +-70 deg around the sub-satellite point; the zenith
# filter (--max-sza) does the exact cut.
REGIONS: dict[str, Region] = {
    "paper": Region(100.0, -60.0, 160.0, 60.0, name="paper", imager="himawari"),
    "himawari": Region(70.7, -70.0, -149.3, 70.0, name="himawari", imager="himawari"),
    "goes-east": Region(-145.2, -70.0, -5.2, 70.0, name="goes-east", imager="goes-east"),
    "goes-west": Region(152.8, -70.0, -67.2, 70.0, name="goes-west", imager="goes-west"),
    "meteosat-0": Region(-70.0, -70.0, 70.0, 70.0, name="meteosat-0", imager="seviri"),
    "meteosat-iodc": Region(-24.5, -70.0, 115.5, 70.0, name="meteosat-iodc", imager="seviri-iodc"),  # 45.5E (41.5E until 2022)
    "fci": Region(-70.0, -70.0, 70.0, 70.0, name="fci", imager="fci"),
}


def parse_region(spec: str) -> Region:
    """A preset name or ``W,S,E,N`` in degrees."""
    key = spec.strip().lower()
    if key in REGIONS:
        return REGIONS[key]
    try:
        w, s, e, n = (float(v) for v in spec.split(","))
    except ValueError as exc:
        raise ValueError(
            f"--region must be one of {', '.join(REGIONS)} or W,S,E,N in degrees, got {spec!r}"
        ) from exc
    if not (-90 <= s < n <= 90 and -180 <= w <= 180 and -180 <= e <= 180):
        raise ValueError(f"--region {spec!r}: need -90 <= S < N <= 90 and -180 <= W, E <= 180")
    return Region(w, s, e, n)


# --- sample geometry and collocation defaults -------------------------------------------------
PATCH_SIZE = 64
MAX_DT_S = 300.0
MAX_SZA_DEG = 70.0
HIDDEN_BELOW_KM = 4.0
"""A profile whose cloud top lies this far below the highest top seen in its imager pixel is hidden
from the imager there (the higher cloud's displaced image covers it) and does not vote on the label."""
AUX_NAMES = ("satellite_zenith", "solar_zenith", "latitude", "longitude")

# --- atmosphere: shared by the synthetic scene and the physics baselines -------------------------
FREEZING_K = 273.15
HOMOGENEOUS_FREEZING_K = 235.15  # -38 C: below it no liquid water survives
LAPSE_K_PER_KM = 6.5  # standard atmosphere, troposphere
TROPOPAUSE_K = 216.65
