"""Synthetic, format-faithful archives rendered from one seeded 3-D cloud field.

Tests, the demo and benchmarks build their inputs here: a :class:`Scene` (clouds that move with the
wind), an A-Train-like :mod:`orbit`, the imager's view with forward :mod:`parallax`, band rendering,
and :func:`write_archive`, which writes real-named product files in the archives' layout and returns
the truth behind them. Imports are lazy so that importing one writer does not pull in the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # scene and truth
    "Scene": "cloudbench.synthetic.scene",
    "ApparentView": "cloudbench.synthetic.scene",
    "rasterise_layers": "cloudbench.synthetic.scene",
    "temperature_k": "cloudbench.synthetic.scene",
    "TrackLayers": "cloudbench.synthetic.layers",
    # geometry
    "apparent_lonlat": "cloudbench.synthetic.parallax",
    "true_lonlat": "cloudbench.synthetic.parallax",
    "parallax_shift_km": "cloudbench.synthetic.parallax",
    "Track": "cloudbench.synthetic.orbit",
    "Granule": "cloudbench.synthetic.orbit",
    "track": "cloudbench.synthetic.orbit",
    "passes_over": "cloudbench.synthetic.orbit",
    "calipso_granules": "cloudbench.synthetic.orbit",
    "cloudsat_granules": "cloudbench.synthetic.orbit",
    # imager rendering
    "render_slot": "cloudbench.synthetic.render",
    "RenderedSlot": "cloudbench.synthetic.render",
    "slot_line_times": "cloudbench.synthetic.render",
    "solar_zenith": "cloudbench.synthetic.render",
    "satellite_zenith": "cloudbench.synthetic.render",
    # whole archives
    "write_archive": "cloudbench.synthetic.archive",
    "SyntheticArchive": "cloudbench.synthetic.archive",
    # product writers
    "write_vfm_granule": "cloudbench.synthetic.calipso_vfm",
    "write_cldclass_granule": "cloudbench.synthetic.cloudsat_cldclass_lidar",
    "write_ahi_slot": "cloudbench.synthetic.ahi_hsd",
    "write_abi_slot": "cloudbench.synthetic.abi_l1b",
}

__all__ = [
    "ApparentView",
    "Granule",
    "RenderedSlot",
    "Scene",
    "SyntheticArchive",
    "Track",
    "TrackLayers",
    "apparent_lonlat",
    "calipso_granules",
    "cloudsat_granules",
    "parallax_shift_km",
    "passes_over",
    "rasterise_layers",
    "render_slot",
    "satellite_zenith",
    "slot_line_times",
    "solar_zenith",
    "temperature_k",
    "track",
    "true_lonlat",
    "write_abi_slot",
    "write_ahi_slot",
    "write_archive",
    "write_cldclass_granule",
    "write_vfm_granule",
]

if TYPE_CHECKING:  # pragma: no cover
    from cloudbench.synthetic.abi_l1b import write_abi_slot
    from cloudbench.synthetic.ahi_hsd import write_ahi_slot
    from cloudbench.synthetic.archive import SyntheticArchive, write_archive
    from cloudbench.synthetic.calipso_vfm import write_vfm_granule
    from cloudbench.synthetic.cloudsat_cldclass_lidar import write_cldclass_granule
    from cloudbench.synthetic.layers import TrackLayers
    from cloudbench.synthetic.orbit import (
        Granule,
        Track,
        calipso_granules,
        cloudsat_granules,
        passes_over,
        track,
    )
    from cloudbench.synthetic.parallax import apparent_lonlat, parallax_shift_km, true_lonlat
    from cloudbench.synthetic.render import (
        RenderedSlot,
        render_slot,
        satellite_zenith,
        slot_line_times,
        solar_zenith,
    )
    from cloudbench.synthetic.scene import ApparentView, Scene, rasterise_layers, temperature_k


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cloudbench.synthetic' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
