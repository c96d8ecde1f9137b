"""Where EarthCARE frames sit in ARCHIVE/: ``earthcare/<product type>/YYYY/MM/DD/<name>.h5``.

One folder per day of the sensing start, as ESA's dissemination trees keep them. The processor
baseline is part of the file name, not of the folders: a frame reprocessed with a newer baseline
lands beside the older one, and a layout asked for one baseline sees only its files (the catalog
fetches the newest baseline of each frame unless told otherwise, so a fresh download never holds two).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cloudbench.products import earthcare as ec
from cloudbench.sources.layouts import Layout, NameInfo


@dataclass(frozen=True)
class EarthcareLayout(Layout):
    """One EarthCARE product's folders; ``baseline`` None accepts every baseline."""

    baseline: str | None = None

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        day = (start - self.lookback).replace(hour=0, minute=0, second=0, microsecond=0)
        out = []
        while day < end:
            out.append(f"{self.root}/{day:%Y/%m/%d}")
            day += timedelta(days=1)
        return out

    def parse(self, name: str) -> NameInfo | None:
        info = ec.parse_filename(name)
        if info is None or info.suffix != ec.H5_SUFFIX or info.product_type != self.collection:
            return None
        if self.baseline and info.baseline != self.baseline:
            return None
        return NameInfo(time=info.sensing_start)

    def relpath(self, name: str) -> str:
        """The ARCHIVE/-relative path of a product file of this layout."""
        info = ec.parse_filename(name)
        if info is None:
            raise ValueError(f"not an EarthCARE product name: {name!r}")
        return f"{self.root}/{info.sensing_start:%Y/%m/%d}/{name}"


def earthcare_layout(product: ec.ProductType, baseline: str | None = None) -> EarthcareLayout:
    """The layout of ``product`` (``baseline``: only that baseline's files)."""
    return EarthcareLayout(product.key.replace("-", "_"), ec.MISSION, product.collection,
                           ec.MAX_FRAME_SPAN, baseline or None)
