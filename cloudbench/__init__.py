"""cloudbench: AI-ready pairs of geostationary imagery and spaceborne lidar/radar cloud phase profiles."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cloudbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
