"""Full-disk geometry of a geostationary imager on its sample grid, full size or reduced.

A ``FullDiskGeometry`` is the one description of a full disk that the writers, the readers and the
collocation share: the sample grid (``grid_km``: 2 km for AHI, ABI and FCI, 3 km for SEVIRI), the
grids of the finer bands (2x, 3x or 4x the pixels, edges on the sample grid's), the geos projection
and the pyresample area. Each imager product builds its geometry (``ImagerProduct.geometry``) from
the constants its files carry, so this module knows no sensor: the extents of every resolution come
in with the geometry.

Reduced geometry (``reduction=k``) keeps the real disk but uses k-times coarser pixels, so tests and
demos stay small while every reader still sees a complete, correctly placed full disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyresample.geometry import AreaDefinition

Extent = tuple[float, float, float, float]


@dataclass(frozen=True)
class FullDiskGeometry:
    """One full disk of one platform at a given reduction.

    Attributes:
        platform: archive folder name (``himawari8``, ``goes16``, ...).
        sensor: the imager product's sensor (``ahi``, ``abi``, ...), for names and messages.
        sub_lon: nominal sub-satellite longitude (deg), for viewing geometry.
        proj_lon: projection origin of the grid (deg).
        shape: (lines, columns) of the sample grid.
        reduction: k; 1 is the real size.
        a, b: ellipsoid semi-axes (m) the product uses.
        h: satellite height above the equator (m), the ``h`` of the geos projection.
        sweep: the geos sweep-angle axis (``y`` for JMA/EUMETSAT, ``x`` for GOES).
        grid_km: nominal pixel size of the sample grid at the sub-satellite point.
        extents: (resolution km, area extent in m (west, south, east, north)) for every resolution
            the product's bands use; the sample grid's is the one patches live on.
        n_units: parts a scan is split into along the rows (AHI segments, FCI chunks; 1 otherwise).
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
    sweep: str = "y"
    grid_km: float = 2.0
    extents: tuple[tuple[float, Extent], ...] = ()
    n_units: int = 1

    # --- sizes ---------------------------------------------------------------------------------
    def factor(self, resolution_km: float) -> int:
        """Native pixels per grid pixel along each axis."""
        return int(round(self.grid_km / resolution_km))

    def native_shape(self, resolution_km: float) -> tuple[int, int]:
        f = self.factor(resolution_km)
        return (self.shape[0] * f, self.shape[1] * f)

    def unit_lines(self, resolution_km: float | None = None) -> int:
        """Lines per unit (segment) at a resolution, for products that split a scan evenly."""
        return self.native_shape(resolution_km or self.grid_km)[0] // self.n_units

    # --- area --------------------------------------------------------------------------------
    def area_extent(self, resolution_km: float | None = None) -> Extent:
        """Area extent (m) of the grid of a resolution (default: the sample grid)."""
        res = self.grid_km if resolution_km is None else resolution_km
        for r, extent in self.extents:
            if math.isclose(r, res):
                return extent
        known = ", ".join(f"{r:g}" for r, _ in self.extents)
        raise ValueError(f"{self.platform} has no {res:g} km grid (resolutions: {known})")

    @property
    def proj_dict(self) -> dict[str, object]:
        return {
            "proj": "geos",
            "lon_0": float(self.proj_lon),
            "h": float(self.h),
            "a": float(self.a),
            "b": float(self.b),
            "units": "m",
            "sweep": self.sweep,
        }

    def area(self, resolution_km: float | None = None) -> AreaDefinition:
        """pyresample area of the full disk (the sample grid by default), as satpy builds it."""
        res = self.grid_km if resolution_km is None else resolution_km
        lines, cols = self.native_shape(res)
        return AreaDefinition(
            f"{self.platform}_fldk_{res:g}km_r{self.reduction}",
            f"{self.platform} {self.sensor.upper()} full disk, {res:g} km, reduction {self.reduction}",
            f"geos_{self.platform}",
            self.proj_dict,
            cols,
            lines,
            self.area_extent(res),
        )

    def disk_mask(self, resolution_km: float | None = None, rows: slice | None = None) -> np.ndarray:
        """True where a pixel centre sees the Earth (inside the limb ellipse), as satpy masks space.

        The limb is the ellipse with half-axes arcsin(a / (a + h)) and arcsin(b / (a + h)) in scan angle.
        """
        res = self.grid_km if resolution_km is None else resolution_km
        lines, cols = self.native_shape(res)
        r0, r1, _ = (rows or slice(0, lines)).indices(lines)
        return _disk_mask(self, res, r0, r1).copy()

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
            "sweep": self.sweep,
            "grid_km": float(self.grid_km),
            "n_units": int(self.n_units),
            "area_extent": [float(v) for v in self.area_extent()],
            "extents": [[float(r), [float(v) for v in e]] for r, e in self.extents],
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
            sweep=str(attrs.get("sweep", "y")),
            grid_km=float(attrs.get("grid_km", 2.0)),
            extents=tuple((float(r), tuple(float(v) for v in e)) for r, e in attrs["extents"]),  # type: ignore[misc]
            n_units=int(attrs.get("n_units", 1)),
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


def geometry_for(platform: str, reduction: int = 1) -> FullDiskGeometry:
    """The full disk of ``platform`` at reduction ``k`` (1: real size), from its imager product.

    Raises:
        UserError: an unknown platform.
        ValueError: a reduction the product's grid cannot take (it names the valid ones).
    """
    from cloudbench.sensors.registry import imager_for_platform

    return imager_for_platform(platform).geometry(platform, reduction)
