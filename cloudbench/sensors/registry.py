"""The one place that knows which products exist: imager products and label products by name.

Everything that offers a choice (CLI options, download catalogs, collocation jobs, the synthetic
archive, the demo, the docs tables) asks here. Built-in products are listed by module so importing
the registry stays cheap; products of other packages arrive through the entry point groups
``cloudbench.imagers`` and ``cloudbench.labels`` (each entry point names a product class or
instance), or at run time through :func:`register_imager` / :func:`register_label`.

An unknown name is a :class:`~cloudbench.errors.UserError` that lists the known ones.
"""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

from cloudbench.errors import UserError
from cloudbench.sensors.base import ImagerFile, ImagerProduct, LabelFile, LabelProduct, PlatformPeriod

log = logging.getLogger(__name__)

IMAGER_GROUP = "cloudbench.imagers"
LABEL_GROUP = "cloudbench.labels"

BUILTIN_IMAGERS: tuple[str, ...] = (
    "cloudbench.sensors.ahi_hsd:AhiHsd",
    "cloudbench.sensors.abi_l1b:AbiL1b",
    "cloudbench.sensors.seviri_native:SeviriNative",
    "cloudbench.sensors.fci_l1c:FciL1c",
)
BUILTIN_LABELS: tuple[str, ...] = (
    "cloudbench.sensors.cloudsat_cldclass_lidar:CloudsatCldclassLidar",
    "cloudbench.sensors.calipso_vfm:CalipsoVfm",
    "cloudbench.sensors.earthcare:EarthcareAcTc",
    "cloudbench.sensors.earthcare:EarthcareAtlTc",
    "cloudbench.sensors.earthcare:EarthcareCprTc",
)

_imagers: dict[str, ImagerProduct] = {}
_labels: dict[str, LabelProduct] = {}
_loaded = False


def _instantiate(obj: Any) -> Any:
    return obj() if isinstance(obj, type) else obj


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return _instantiate(getattr(importlib.import_module(module), attr))


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for spec in BUILTIN_IMAGERS:
        _add_imager(_load(spec))
    for spec in BUILTIN_LABELS:
        _add_label(_load(spec))
    for group, add in ((IMAGER_GROUP, _add_imager), (LABEL_GROUP, _add_label)):
        for ep in entry_points(group=group):
            try:
                add(_instantiate(ep.load()))
            except Exception as exc:  # a broken third-party plug-in must not take the built-ins down
                log.warning("cloudbench plug-in %s (%s) not loaded: %s: %s", ep.name, ep.value,
                            type(exc).__name__, exc)


def _add_imager(product: ImagerProduct) -> None:
    if not isinstance(product, ImagerProduct):
        raise TypeError(f"{product!r} is not an ImagerProduct")
    for other in _imagers.values():
        if other.name == product.name:
            continue
        clash = set(other.positions) & set(product.positions)
        if clash:
            raise ValueError(f"imager positions {sorted(clash)} of {product.name} are already served by {other.name}")
    _imagers[product.name] = product


def _add_label(product: LabelProduct) -> None:
    if not isinstance(product, LabelProduct):
        raise TypeError(f"{product!r} is not a LabelProduct")
    _labels[product.key] = product


def register_imager(product: ImagerProduct | type[ImagerProduct]) -> ImagerProduct:
    """Add (or replace) an imager product at run time; returns the instance."""
    _ensure_loaded()
    product = _instantiate(product)
    _add_imager(product)
    return product


def register_label(product: LabelProduct | type[LabelProduct]) -> LabelProduct:
    """Add (or replace) a label product at run time; returns the instance."""
    _ensure_loaded()
    product = _instantiate(product)
    _add_label(product)
    return product


def unregister(name: str) -> None:
    """Remove a product registered at run time (tests); built-ins come back on :func:`reset`."""
    _imagers.pop(name, None)
    _labels.pop(name, None)


def reset() -> None:
    """Forget run-time registrations and reload built-ins and entry points on next use."""
    global _loaded
    _imagers.clear()
    _labels.clear()
    _loaded = False


# --- queries: imagers -------------------------------------------------------------------------------
def imager_products() -> dict[str, ImagerProduct]:
    _ensure_loaded()
    return dict(_imagers)


def imager_product(name: str) -> ImagerProduct:
    products = imager_products()
    if name not in products:
        raise UserError(f"unknown imager product {name!r}", fix=f"choose one of {', '.join(products)}")
    return products[name]


def positions() -> dict[str, tuple[PlatformPeriod, ...]]:
    """Every ``--imager`` choice and the platforms that served it, by date."""
    return {pos: periods for p in imager_products().values() for pos, periods in p.positions.items()}


def imager_choices() -> tuple[str, ...]:
    return tuple(positions())


def imager_for_position(position: str) -> ImagerProduct:
    """The product serving an ``--imager`` choice (``himawari`` -> AHI HSD)."""
    for product in imager_products().values():
        if position in product.positions:
            return product
    raise UserError(f"unknown --imager {position!r}", fix=f"choose one of {', '.join(imager_choices())}")


def platforms_of(position: str) -> list[str]:
    """Every platform that ever served a position (all buckets are searched, not a date table alone)."""
    return [p.platform for p in imager_for_position(position).positions[position]]


def platforms_for(position: str, when: datetime) -> list[str]:
    """Platforms to look for at ``when``: the operational one first, then the others of the position."""
    periods = imager_for_position(position).positions[position]
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    primary = [p.platform for p in periods if p.start <= when and (p.end is None or when < p.end)]
    return primary + [p.platform for p in periods if p.platform not in primary]


def imager_for_platform(platform: str) -> ImagerProduct:
    """The product of a platform's files (``himawari8`` -> AHI HSD)."""
    for product in imager_products().values():
        if platform in product.sub_lon:
            return product
    known = sorted(p for product in imager_products().values() for p in product.sub_lon)
    raise UserError(f"unknown imager platform {platform!r}", fix=f"choose one of {', '.join(known)}")


def position_of_platform(platform: str) -> list[str]:
    """The positions a platform served (a satellite can move: Meteosat-8 went to the Indian Ocean)."""
    return [pos for pos, periods in positions().items() if any(p.platform == platform for p in periods)]


def parse_imager_file(name: str) -> tuple[ImagerProduct, ImagerFile] | None:
    """The imager product whose file-name pattern a name matches, and what the name says."""
    for product in imager_products().values():
        info = product.parse_filename(name)
        if info is not None:
            return product, info
    return None


def find_band(name: str):
    """The band ``name`` of the first imager product that has it (None: no imager has it).

    For describing stored bands (units, wavelength) when only their names are at hand.
    """
    for product in imager_products().values():
        if name in product.bands:
            return product.bands[name]
    return None


# --- queries: labels ---------------------------------------------------------------------------------
def label_products() -> dict[str, LabelProduct]:
    _ensure_loaded()
    return dict(_labels)


def label_choices() -> tuple[str, ...]:
    return tuple(label_products())


def label_product(key: str) -> LabelProduct:
    """The product of a ``--labels`` choice; accepts the reader name too (``cloudsat-cldclass-lidar``)."""
    products = label_products()
    if key in products:
        return products[key]
    for product in products.values():
        if product.name == key:
            return product
    raise UserError(f"unknown --labels {key!r}", fix=f"choose one of {', '.join(products)}")


def parse_label_file(name: str) -> tuple[LabelProduct, LabelFile] | None:
    for product in label_products().values():
        info = product.parse_filename(name)
        if info is not None:
            return product, info
    return None


__all__ = [
    "BUILTIN_IMAGERS",
    "BUILTIN_LABELS",
    "IMAGER_GROUP",
    "LABEL_GROUP",
    "find_band",
    "imager_choices",
    "imager_for_platform",
    "imager_for_position",
    "imager_product",
    "imager_products",
    "label_choices",
    "label_product",
    "label_products",
    "parse_imager_file",
    "parse_label_file",
    "platforms_for",
    "platforms_of",
    "position_of_platform",
    "positions",
    "register_imager",
    "register_label",
    "reset",
    "unregister",
]
