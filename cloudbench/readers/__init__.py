"""Readers: every supported product file -> the common profile or imager schema.

``open_product(path)`` reads any supported file, choosing the reader by file name, then content
(``guess_reader``); ``read_profiles``/``read_track`` are the active-sensor doors, ``read_imager`` the
imager one. Imports are lazy: ``import cloudbench.readers`` stays cheap and pulls in pyhdf, netCDF4 or
satpy only when a reader runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # registry: the one door
    "READERS": "cloudbench.readers.registry",
    "ProductReader": "cloudbench.readers.registry",
    "guess_reader": "cloudbench.readers.registry",
    "open_product": "cloudbench.readers.registry",
    "read_profiles": "cloudbench.readers.registry",
    "read_track": "cloudbench.readers.registry",
    "summary": "cloudbench.readers.registry",
    # imager schema
    "read_imager": "cloudbench.readers.imager",
    "imager_area": "cloudbench.readers.imager",
    "imager_geometry": "cloudbench.readers.imager",
    "imager_summary": "cloudbench.readers.imager",
    # active sensors
    "read_vfm": "cloudbench.readers.calipso_vfm",
    "read_vfm_native": "cloudbench.readers.calipso_vfm",
    "read_vfm_track": "cloudbench.readers.calipso_vfm",
    "vfm_summary": "cloudbench.readers.calipso_vfm",
    "read_cldclass_lidar": "cloudbench.readers.cloudsat_cldclass_lidar",
    "read_cldclass_native": "cloudbench.readers.cloudsat_cldclass_lidar",
    "read_cldclass_track": "cloudbench.readers.cloudsat_cldclass_lidar",
    "cldclass_summary": "cloudbench.readers.cloudsat_cldclass_lidar",
}

__all__ = [
    "READERS",
    "ProductReader",
    "guess_reader",
    "open_product",
    "read_profiles",
    "read_track",
    "summary",
    "read_imager",
    "imager_area",
    "imager_geometry",
    "imager_summary",
    "read_vfm",
    "read_vfm_native",
    "read_vfm_track",
    "vfm_summary",
    "read_cldclass_lidar",
    "read_cldclass_native",
    "read_cldclass_track",
    "cldclass_summary",
]

if TYPE_CHECKING:  # pragma: no cover
    from cloudbench.readers.calipso_vfm import read_vfm, read_vfm_native, read_vfm_track, vfm_summary
    from cloudbench.readers.cloudsat_cldclass_lidar import (
        cldclass_summary,
        read_cldclass_lidar,
        read_cldclass_native,
        read_cldclass_track,
    )
    from cloudbench.readers.imager import imager_area, imager_geometry, imager_summary, read_imager
    from cloudbench.readers.registry import (
        READERS,
        ProductReader,
        guess_reader,
        open_product,
        read_profiles,
        read_track,
        summary,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cloudbench.readers' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
