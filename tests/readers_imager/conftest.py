"""Synthetic imager slots shared by the imager reader tests (written once per session, reduced geometry)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cloudbench.products.geostationary import geometry_for

# Real product files, copied into the repository with their origin and sha256 (tests/data/real/README.md).
REAL_DATA = Path(__file__).resolve().parents[1] / "data" / "real"

AHI_SLOT = datetime(2018, 10, 1, 3, 0, tzinfo=UTC)
ABI_SLOT = datetime(2019, 10, 1, 3, 0, tzinfo=UTC)
FCI_SLOT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def smooth_field(shape: tuple[int, int], lo: float, hi: float, seed: int) -> np.ndarray:
    """A smooth random field spanning [lo, hi]: compresses like real imagery, covers many counts."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    f = np.zeros(shape)
    for _ in range(4):
        ky, kx, ph = rng.uniform(0.01, 0.08), rng.uniform(0.01, 0.08), rng.uniform(0, 2 * np.pi)
        f += np.sin(kx * x + ph) * np.cos(ky * y - ph)
    f = (f - f.min()) / (f.max() - f.min())
    return lo + (hi - lo) * f


def physical_bands(geometry, spec: dict[str, tuple[float, float]], seed: int = 0) -> dict[str, np.ndarray]:
    mask = geometry.disk_mask(2.0)
    return {
        band: np.where(mask, smooth_field(geometry.shape, lo, hi, seed + i), np.nan)
        for i, (band, (lo, hi)) in enumerate(spec.items())
    }


# One band per resolution class: B03 0.5 km, B04 1 km, B13 2 km.
AHI_SPEC = {"B03": (0.0, 110.0), "B04": (2.0, 95.0), "B13": (185.0, 315.0)}
# C02 0.5 km, C01 1 km, C13 2 km.
ABI_SPEC = {"C02": (0.0, 110.0), "C01": (2.0, 95.0), "C13": (185.0, 315.0)}
# Two 1 km solar channels and two 2 km infrared ones; ir_38 reaches into its warm counts (above 320 K).
FCI_SPEC = {"vis_06": (0.0, 110.0), "nir_16": (1.0, 80.0), "ir_38": (210.0, 390.0), "ir_105": (185.0, 315.0)}


@pytest.fixture(scope="session")
def ahi_slot(tmp_path_factory):
    from cloudbench.synthetic.ahi_hsd import write_ahi_slot

    root = tmp_path_factory.mktemp("ahi_archive")
    geometry = geometry_for("himawari8", 10)
    truth = physical_bands(geometry, AHI_SPEC)
    paths = write_ahi_slot(root, platform="himawari8", slot_start=AHI_SLOT, bands=truth, geometry=geometry)
    return {"root": root, "geometry": geometry, "truth": truth, "paths": paths}


@pytest.fixture(scope="session")
def abi_slot(tmp_path_factory):
    from cloudbench.synthetic.abi_l1b import write_abi_slot

    root = tmp_path_factory.mktemp("abi_archive")
    geometry = geometry_for("goes16", 10)
    truth = physical_bands(geometry, ABI_SPEC, seed=7)
    paths = write_abi_slot(root, platform="goes16", slot_start=ABI_SLOT, bands=truth, geometry=geometry)
    return {"root": root, "geometry": geometry, "truth": truth, "paths": paths}


@pytest.fixture(scope="session")
def fci_slot(tmp_path_factory):
    """Every body chunk of one FCI repeat cycle on the 10-times reduced disk (557 rows, 40 chunks)."""
    from cloudbench.synthetic.fci_l1c import write_fci_slot

    root = tmp_path_factory.mktemp("fci_archive")
    geometry = geometry_for("meteosat12", 10)
    truth = physical_bands(geometry, FCI_SPEC, seed=11)
    paths = write_fci_slot(root, platform="meteosat12", slot_start=FCI_SLOT, bands=truth, geometry=geometry)
    return {"root": root, "geometry": geometry, "truth": truth, "paths": paths}
