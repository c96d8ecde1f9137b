"""The three EarthCARE products through the label-product interface and the registry."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from cloudbench.config import DEFAULT_GRID
from cloudbench.errors import CredentialsError
from cloudbench.products import earthcare as ec
from cloudbench.sensors import registry
from cloudbench.sensors.base import LabelProduct, SyntheticGranule
from cloudbench.sensors.earthcare import PRODUCTS, EarthcareAcTc, EarthcareAtlTc, EarthcareCprTc
from cloudbench.synthetic.orbit import EARTHCARE

KEYS = ("earthcare-ac-tc", "earthcare-atl-tc", "earthcare-cpr-tc")
NAME = "ECA_EXBA_{}_20250617T050457Z_20250617T085638Z_05979B.h5"


def _importable(spec: str) -> bool:
    module = spec.partition(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture
def registered(monkeypatch):
    """The registry with the EarthCARE products registered at run time (built-ins that exist kept)."""
    monkeypatch.setattr(registry, "BUILTIN_LABELS", tuple(s for s in registry.BUILTIN_LABELS if _importable(s)))
    monkeypatch.setattr(registry, "BUILTIN_IMAGERS", tuple(s for s in registry.BUILTIN_IMAGERS if _importable(s)))
    registry.reset()
    for cls in PRODUCTS:
        registry.register_label(cls)
    yield registry
    registry.reset()


def test_the_registry_offers_them(registered):
    assert set(KEYS) <= set(registered.label_choices())
    assert isinstance(registered.label_product("earthcare-ac-tc"), EarthcareAcTc)
    assert isinstance(registered.label_product("earthcare-cpr-tc"), EarthcareCprTc)
    for key in KEYS:
        product = registered.label_product(key)
        info = ec.PRODUCT_TYPES[product.product.code]
        found = registered.parse_label_file(NAME.format(info.code))
        assert found is not None and found[0].key == key
        assert found[1].collection == info.code and found[1].granule_id == NAME.format(info.code)[:-3]
    with pytest.raises(Exception, match="earthcare-ac-tc"):
        registered.label_product("earthcare")  # unknown: the message lists the known ones


@pytest.mark.parametrize("cls", PRODUCTS, ids=lambda c: c.key)
def test_every_method_of_the_interface_is_there(cls):
    assert not getattr(cls, "__abstractmethods__", None)
    product = cls()
    assert isinstance(product, LabelProduct) and product.mission == "earthcare"
    assert product.granule_span.total_seconds() > 708  # the longest frame
    rows = product.class_table
    assert [r.code for r in rows] == sorted(product.product.table)
    assert all(r.phase == product.product.table[r.code].phase and r.meaning for r in rows)
    assert product.magic == (b"\x89HDF\r\n\x1a\n",)


def test_names_go_to_their_own_product_only():
    ac, atl, cpr = EarthcareAcTc(), EarthcareAtlTc(), EarthcareCprTc()
    name = NAME.format("ATL_TC__2A")
    assert ac.parse_filename(name) is None and cpr.parse_filename(name) is None
    info = atl.parse_filename(name)
    assert info.start.isoformat() == "2025-06-17T05:04:57+00:00" and info.collection == "ATL_TC__2A"
    assert atl.parse_filename(name.replace(".h5", ".HDR")) is None  # the header is not the product file
    assert atl.parse_filename("ECA_EXBA_ATL_EBD_2A_20250617T050457Z_20250617T085638Z_05979B.h5") is None


def test_layouts():
    ac = EarthcareAcTc()
    assert ac.layout().root == "earthcare/AC__TC__2B" and ac.layout().baseline is None
    assert ac.layout("BC").parse(NAME.format("AC__TC__2B")) is None
    assert ac.layout().parse(NAME.format("AC__TC__2B")) is not None


def test_synthetic_hooks_write_a_readable_frame_where_the_archive_keeps_it(tmp_path):
    from cloudbench.synthetic.scene import Scene

    product = EarthcareAcTc()
    start, end = np.datetime64("2025-06-17T05:00", "ns"), np.datetime64("2025-06-17T05:30", "ns")
    granules = product.synthetic_granules(start, end)
    assert [g.extra["frame"] for g in granules] == ["A", "B", "C", "D"]
    assert all(isinstance(g, SyntheticGranule) and g.orbit == 5979 for g in granules)
    g = granules[1]
    times = g.start + np.arange(0, 400) * np.timedelta64(int(product.synthetic_sample_interval_s() * 1e9), "ns")
    lat, lon = product.synthetic_subpoint(times)
    np.testing.assert_array_equal(lat, EARTHCARE.subpoint(times)[0])
    layers = Scene(3, start, end).layers_at(lon, lat, times)
    path = product.write_synthetic(tmp_path, layers, g, seed=3)
    assert path.relative_to(tmp_path).as_posix().startswith("earthcare/AC__TC__2B/2025/06/17/ECA_EXBA_AC__TC__2B_")
    assert path.name.endswith("_05979B.h5")
    assert product.parse_filename(path.name) is not None and product.probe(path)
    ds = product.read_profiles(path, DEFAULT_GRID)
    assert ds.sizes["profile"] == 400 and ds.attrs["frame"] == "B"
    track = product.read_track(path)
    np.testing.assert_allclose(track["latitude"].values, lat)
    assert product.summary(path)["n_profiles"] == 400
    other = EarthcareCprTc().write_synthetic(tmp_path, layers, g, version="BC")
    assert "_EXBC_CPR_TC__2A_" in other.name


def test_catalog_needs_the_token_first(monkeypatch, tmp_path):
    from cloudbench.sources.fsroot import DirectoryCatalog
    from cloudbench.sources.maap_stac import MaapStacCatalog

    class Options:
        maap_stac_url = "http://127.0.0.1:9/catalogue"

    monkeypatch.delenv("MAAP_TOKEN", raising=False)
    with pytest.raises(CredentialsError) as exc:
        EarthcareAcTc().catalog(Options())
    assert "MAAP_TOKEN" in str(exc.value) and "portal.maap.eo.esa.int" in str(exc.value)
    monkeypatch.setenv("MAAP_TOKEN", "tok-9f1e")
    catalog = EarthcareAcTc().catalog(Options())
    assert isinstance(catalog, MaapStacCatalog) and catalog.stac_url == Options.maap_stac_url
    assert "tok-9f1e" not in repr(catalog)

    class Mirror:
        source_root = str(tmp_path)

    assert isinstance(EarthcareAtlTc().catalog(Mirror()), DirectoryCatalog)

