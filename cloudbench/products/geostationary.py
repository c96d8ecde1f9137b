"""Full-disk geometry of the geostationary imagers, full size or reduced, for every band resolution.

A ``FullDiskGeometry`` is the one description of a full disk that the writers, the readers and the
collocation share: its 2 km grid (the grid of the common imager schema), the native grids of the finer
bands, the projection parameters each product writes into its files, and the pyresample area.

Reduced geometry (``reduction=k``) keeps the real disk but uses k-times coarser pixels, so tests and
demos stay small while every reader still sees a complete, correctly placed full disk:
- AHI: CFAC = LFAC = floor(CFAC_full / k), COFF = LOFF = (N + 1) / 2 with N = 5500 / k at 2 km
  (k=10 -> 550 px, CFAC 2046627, COFF 275.5). Segments must stay whole lines, so the number of
  segments is the largest divisor of N that is at most 10 (10 for k in 1, 2, 5, 10; 5 for k=4).
- ABI: N = round(5424 / k) pixels at 2 km, scan-angle step 5.6e-5 * k rad (a multiple of 1e-6, so the
  rounding satpy applies to x/y scale factors is exact), pixel edges centred on the sub-point.
Finer bands always have exactly 2x / 4x the pixels, with edges that coincide with the 2 km grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyresample.geometry import AreaDefinition

from cloudbench.config import SUB_LON
from cloudbench.products import abi_l1b, ahi_hsd

RESOLUTIONS_KM = (0.5, 1.0, 2.0)
SENSOR_OF_PLATFORM: dict[str, str] = {
    **{p: "ahi" for p in ahi_hsd.PLATFORM_CODES},
    **{p: "abi" for p in abi_l1b.PLATFORM_CODES},
}
BAND_TABLES = (ahi_hsd.BANDS, abi_l1b.BANDS)
"""Every imager's band table; band names are unique across imagers (AHI ``Bnn``, ABI ``Cnn``)."""


def find_band(name: str) -> ahi_hsd.AhiBand | abi_l1b.AbiBand | None:
    """The band table entry of any imager's band ``name``; None for a name no imager has."""
    for table in BAND_TABLES:
        if name in table:
            return table[name]
    return None


@dataclass(frozen=True)
class FullDiskGeometry:
    """One full disk of one platform at a given reduction.

    Attributes:
        platform: archive folder name (``himawari8``, ``goes16``, ...).
        sensor: ``ahi`` or ``abi``.
        sub_lon: nominal sub-satellite longitude (deg, config.SUB_LON), for viewing geometry.
        proj_lon: projection origin of the grid (deg); 140.7 for AHI, -75.0/-137.0 for ABI.
        shape: (lines, columns) of the 2 km grid.
        reduction: k; 1 is the real size.
        a, b: ellipsoid semi-axes (m) the product uses.
        h: satellite height above the equator (m), the ``h`` of the geos projection.
        n_segments: AHI segments per band (1 for ABI, which has none).
    """

    platform: str
    sensor: str
    sub_lon: float
    proj_lon: float
    shape: tuple[int, int]
    reduction: int
    a: float
    b: float
    h: float
    n_segments: int = 1

    # --- sizes ---------------------------------------------------------------------------------
    def factor(self, resolution_km: float) -> int:
        """Native pixels per 2 km pixel along each axis."""
        return int(round(2.0 / resolution_km))

    def native_shape(self, resolution_km: float) -> tuple[int, int]:
        f = self.factor(resolution_km)
        return (self.shape[0] * f, self.shape[1] * f)

    def band(self, name: str) -> ahi_hsd.AhiBand | abi_l1b.AbiBand:
        table = ahi_hsd.BANDS if self.sensor == "ahi" else abi_l1b.BANDS
        if name not in table:
            raise ValueError(f"{name!r} is not an {self.sensor.upper()} band; choose from {', '.join(table)}")
        return table[name]

    @property
    def band_names(self) -> tuple[str, ...]:
        return ahi_hsd.BAND_NAMES if self.sensor == "ahi" else abi_l1b.BAND_NAMES

    def band_shape(self, band: str) -> tuple[int, int]:
        """Shape of a band's full disk at its native resolution."""
        return self.native_shape(self.band(band).resolution_km)

    def segment_lines(self, resolution_km: float = 2.0) -> int:
        """Lines per AHI segment at a resolution."""
        return self.native_shape(resolution_km)[0] // self.n_segments

    # --- AHI: block 3 ------------------------------------------------------------------------
    def hsd_projection(self, resolution_km: float) -> dict[str, float]:
        """CFAC, LFAC, COFF, LOFF an AHI file of this resolution carries in block 3."""
        if self.sensor != "ahi":
            raise ValueError("HSD projection parameters exist only for AHI")
        n = self.native_shape(resolution_km)[1]
        cfac = ahi_hsd.CFAC[resolution_km] // self.reduction
        off = (n + 1) / 2.0
        return {"cfac": int(cfac), "lfac": int(cfac), "coff": off, "loff": off}

    # --- ABI: x/y scan angles ------------------------------------------------------------------
    def abi_scan_angles(self, resolution_km: float) -> dict[str, float]:
        """x/y ``scale_factor`` and ``add_offset`` (rad) of an ABI file of this resolution.

        Pixel centres are ``add_offset + i * scale_factor``; all values are multiples of 1e-6 rad.
        """
        if self.sensor != "abi":
            raise ValueError("ABI scan angles exist only for ABI")
        n = self.native_shape(resolution_km)[1]
        step_urad = round(abi_l1b.SCAN_ANGLE_STEP[resolution_km] * 1e6) * self.reduction
        # half the grid width and half a pixel, in micro-radians; integers up to the final division
        first_centre_urad = -(n * step_urad) / 2 + step_urad / 2
        return {
            "x_scale": step_urad / 1e6,
            "x_offset": round(first_centre_urad, 3) / 1e6,
            "y_scale": -step_urad / 1e6,
            "y_offset": -round(first_centre_urad, 3) / 1e6,
        }

    # --- area --------------------------------------------------------------------------------
    def scan_angle_edges(self, resolution_km: float = 2.0) -> tuple[float, float, float, float]:
        """(west, south, east, north) outer pixel edges as scan angles (rad)."""
        lines, cols = self.native_shape(resolution_km)
        if self.sensor == "ahi":
            p = self.hsd_projection(resolution_km)
            # satpy's convention: column c (1-based) is at (c - COFF) / (CFAC / 2**16) degrees
            x0 = (0.5 - p["coff"]) / (p["cfac"] / 2**16)
            x1 = (cols + 0.5 - p["coff"]) / (p["cfac"] / 2**16)
            y_top = (p["loff"] - 0.5) / (p["lfac"] / 2**16)
            y_bottom = (p["loff"] - 0.5 - lines) / (p["lfac"] / 2**16)
            return (math.radians(x0), math.radians(y_bottom), math.radians(x1), math.radians(y_top))
        s = self.abi_scan_angles(resolution_km)
        x_first = s["x_offset"]
        x_last = s["x_offset"] + (cols - 1) * s["x_scale"]
        y_first = s["y_offset"]
        y_last = s["y_offset"] + (lines - 1) * s["y_scale"]
        half_x = s["x_scale"] / 2
        half_y = -s["y_scale"] / 2
        return (x_first - half_x, y_last - half_y, x_last + half_x, y_first + half_y)

    def area_extent(self, resolution_km: float = 2.0) -> tuple[float, float, float, float]:
        """Area extent (m) in the geos projection: scan angles times ``h``."""
        return tuple(v * self.h for v in self.scan_angle_edges(resolution_km))  # type: ignore[return-value]

    @property
    def proj_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "proj": "geos",
            "lon_0": float(self.proj_lon),
            "h": float(self.h),
            "a": float(self.a),
            "b": float(self.b),
            "units": "m",
        }
        d["sweep"] = "x" if self.sensor == "abi" else "y"
        return d

    def area(self, resolution_km: float = 2.0) -> AreaDefinition:
        """pyresample area of the full disk (the 2 km grid by default), as satpy builds it."""
        lines, cols = self.native_shape(resolution_km)
        return AreaDefinition(
            f"{self.platform}_fldk_{resolution_km:g}km_r{self.reduction}",
            f"{self.platform} {self.sensor.upper()} full disk, {resolution_km:g} km, reduction {self.reduction}",
            f"geos_{self.platform}",
            self.proj_dict,
            cols,
            lines,
            self.area_extent(resolution_km),
        )

    def disk_mask(self, resolution_km: float = 2.0, rows: slice | None = None) -> np.ndarray:
        """True where a pixel centre sees the Earth (inside the limb ellipse), as satpy masks space.

        The limb is the ellipse with half-axes arcsin(a / (a + h)) and arcsin(b / (a + h)) in scan angle.
        """
        lines, cols = self.native_shape(resolution_km)
        r0, r1, _ = (rows or slice(0, lines)).indices(lines)
        return _disk_mask(self, resolution_km, r0, r1).copy()

    # --- attrs round trip ---------------------------------------------------------------------
    def to_attrs(self) -> dict[str, object]:
        """Plain attributes (JSON/netCDF/Zarr friendly) from which ``from_attrs`` rebuilds it."""
        return {
            "platform": self.platform,
            "sensor": self.sensor,
            "sub_lon": float(self.sub_lon),
            "proj_lon": float(self.proj_lon),
            "grid_lines": int(self.shape[0]),
            "grid_columns": int(self.shape[1]),
            "reduction": int(self.reduction),
            "proj_a": float(self.a),
            "proj_b": float(self.b),
            "proj_h": float(self.h),
            "n_segments": int(self.n_segments),
            "area_extent": [float(v) for v in self.area_extent(2.0)],
        }

    @classmethod
    def from_attrs(cls, attrs: dict) -> FullDiskGeometry:
        return cls(
            platform=str(attrs["platform"]),
            sensor=str(attrs["sensor"]),
            sub_lon=float(attrs["sub_lon"]),
            proj_lon=float(attrs["proj_lon"]),
            shape=(int(attrs["grid_lines"]), int(attrs["grid_columns"])),
            reduction=int(attrs["reduction"]),
            a=float(attrs["proj_a"]),
            b=float(attrs["proj_b"]),
            h=float(attrs["proj_h"]),
            n_segments=int(attrs.get("n_segments", 1)),
        )


@lru_cache(maxsize=64)
def _disk_mask(geometry: FullDiskGeometry, resolution_km: float, r0: int, r1: int) -> np.ndarray:
    area = geometry.area(resolution_km)
    lines, cols = area.shape
    west, south, east, north = area.area_extent
    dx = (east - west) / cols
    dy = (north - south) / lines
    x = west + dx * (np.arange(cols) + 0.5)
    y = north - dy * (np.arange(r0, r1) + 0.5)
    radius_at_sat = geometry.a + geometry.h
    xmax = math.acos(math.sqrt(1 - (geometry.a / 1000) ** 2 / (radius_at_sat / 1000) ** 2)) * geometry.h
    ymax = math.acos(math.sqrt(1 - (geometry.b / 1000) ** 2 / (radius_at_sat / 1000) ** 2)) * geometry.h
    mask = (x[None, :] / xmax) ** 2 + (y[:, None] / ymax) ** 2 <= 1
    mask.setflags(write=False)
    return mask


def _ahi_segments(n_lines: int) -> int:
    for n in range(ahi_hsd.N_SEGMENTS, 0, -1):
        if n_lines % n == 0:
            return n
    return 1


def geometry_for(platform: str, reduction: int = 1) -> FullDiskGeometry:
    """The full disk of ``platform`` at reduction ``k`` (1: real size, 5500 or 5424 px at 2 km).

    Raises:
        ValueError: an unknown platform, or a reduction that does not divide the AHI disk into whole
            lines of 2 km pixels.
    """
    if platform not in SENSOR_OF_PLATFORM:
        raise ValueError(f"unknown platform {platform!r}; choose from {', '.join(SENSOR_OF_PLATFORM)}")
    k = int(reduction)
    if k < 1:
        raise ValueError(f"reduction must be a positive integer, got {reduction!r}")
    if SENSOR_OF_PLATFORM[platform] == "ahi":
        full = ahi_hsd.FULL_DISK_SIZE[2.0]
        if full % k:
            raise ValueError(f"AHI reduction {k} does not divide {full} lines; use e.g. 1, 2, 4, 5, 10, 20, 25, 50")
        n = full // k
        a = ahi_hsd.EARTH_EQUATORIAL_RADIUS_KM * 1000
        return FullDiskGeometry(
            platform=platform,
            sensor="ahi",
            sub_lon=SUB_LON[platform],
            proj_lon=ahi_hsd.SUB_LON,
            shape=(n, n),
            reduction=k,
            a=a,
            b=ahi_hsd.EARTH_POLAR_RADIUS_KM * 1000,
            h=ahi_hsd.SATELLITE_DISTANCE_KM * 1000 - a,
            n_segments=_ahi_segments(n),
        )
    n = int(round(abi_l1b.FULL_DISK_SIZE[2.0] / k))
    return FullDiskGeometry(
        platform=platform,
        sensor="abi",
        sub_lon=abi_l1b.NOMINAL_SUBPOINT_LON[platform],
        proj_lon=abi_l1b.PROJECTION_LON[platform],
        shape=(n, n),
        reduction=k,
        a=abi_l1b.SEMI_MAJOR_AXIS,
        b=abi_l1b.SEMI_MINOR_AXIS,
        h=abi_l1b.PERSPECTIVE_POINT_HEIGHT,
    )
