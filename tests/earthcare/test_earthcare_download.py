"""EarthCARE download from a loopback STAC API + token-protected file server (MAAP's protocol):
the search finds exactly the frames crossing a region, the fetcher's copies are byte-identical and
resume after a drop, and a missing or refused token stops the run naming the variable, never the token."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cloudbench.config import REGIONS, Region
from cloudbench.errors import CredentialsError, UserError
from cloudbench.products import earthcare as ec
from cloudbench.sensors.earthcare import EarthcareAcTc, EarthcareAtlTc
from cloudbench.sources.base import RetryPolicy
from cloudbench.sources.credentials import Secret
from cloudbench.sources.fetch import Fetcher
from cloudbench.sources.local_stac import CqlError, StacArchiveServer, parse_cql2_text
from cloudbench.sources.maap_stac import MAAP_TOKEN_ENV, MaapStacCatalog, maap_catalog

TOKEN = "maap-7c1d-not-a-real-token"
START, END = "2025-06-17T03:50", "2025-06-17T05:10"
FAST = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """An ARCHIVE/ of whole synthetic frames (AC__TC__2B, one of them also in a newer baseline, and one
    ATL_TC__2A frame), with the track written into each file."""
    from cloudbench.synthetic.scene import Scene

    root = tmp_path_factory.mktemp("maap")
    start, end = np.datetime64(START, "ns"), np.datetime64(END, "ns")
    scene = Scene(5, start, end)
    ac, atl = EarthcareAcTc(), EarthcareAtlTc()
    tracks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for g in ac.synthetic_granules(start, end):
        step = np.timedelta64(int(round(ac.synthetic_sample_interval_s() * 1e9)), "ns")
        times = g.start + np.arange(int((g.end - g.start) / step) // 8) * 8 * step  # every 8th column: small files
        lat, lon = ac.synthetic_subpoint(times)
        layers = scene.layers_at(lon, lat, times)
        path = ac.write_synthetic(root, layers, g)
        tracks[path.relative_to(root).as_posix()] = (lat, lon)
        if g.extra["frame"] == "A":
            newer = ac.write_synthetic(root, layers, g, version="BB")
            tracks[newer.relative_to(root).as_posix()] = (lat, lon)
            atl.write_synthetic(root, layers, g)
    return root, tracks


@pytest.fixture
def server(source):
    root, _ = source
    with StacArchiveServer(token=TOKEN, page_size_cap=4) as srv:  # small pages: paging is exercised
        srv.publish_archive(root)
        yield srv


def expected_frames(tracks, region: Region, baseline_of_a: str = "BB") -> set[str]:
    out = set()
    for relpath, (lat, lon) in tracks.items():
        info = ec.parse_filename(relpath)
        if info.frame == "A" and info.baseline != baseline_of_a:
            continue  # the frame exists in two baselines: the newest is fetched
        if region.contains(lon, lat).any():
            out.add(relpath)
    return out


@pytest.mark.parametrize("region", [REGIONS["himawari"], REGIONS["goes-east"], Region(-80, 20, -40, 60),
                                    Region(0, -10, 20, 10), Region(-180, -90, 180, 90)],
                         ids=["himawari", "goes-east", "north-atlantic", "nowhere-near", "globe"])
def test_search_finds_exactly_the_frames_crossing_the_region(server, source, region):
    root, tracks = source
    catalog = MaapStacCatalog(ec.AC_TC, Secret(TOKEN), stac_url=server.url, retry=FAST, page_size=3)
    items = catalog.list(_utc(START), _utc(END), region)
    assert {i.relpath for i in items} == expected_frames(tracks, region)
    for item in items:
        assert item.size == (root / item.relpath).stat().st_size and item.checksum.startswith("sha256:")
        assert item.url.endswith(Path(item.relpath).name) and item.source == "maap-stac"
    searches = server.searches()
    assert searches and not any(s["authorization"] for s in searches)  # the token never goes to the search
    assert all(s["params"]["filter"] == "product:type = 'AC__TC__2B'" for s in searches)


def test_one_baseline_when_asked(server, source):
    _, tracks = source
    catalog = MaapStacCatalog(ec.AC_TC, Secret(TOKEN), stac_url=server.url, baseline="BA", retry=FAST)
    items = catalog.list(_utc(START), _utc(END), Region(-180, -90, 180, 90))
    assert {i.relpath for i in items} == expected_frames(tracks, Region(-180, -90, 180, 90), baseline_of_a="BA")
    assert server.searches()[-1]["params"]["filter"] == "product:type = 'AC__TC__2B' AND version = 'ba'"


def test_download_is_byte_identical_and_resumes_after_a_drop(server, source, tmp_path):
    root, _ = source
    catalog = maap_catalog(ec.AC_TC, None, env={MAAP_TOKEN_ENV: TOKEN})
    catalog.stac_url = server.url
    catalog.retry = FAST
    items = catalog.list(_utc(START), _utc(END), Region(-180, -90, 180, 90))
    assert len(items) >= 5
    dropped = items[0]
    assert dropped.size > 100_000
    server.faults.drop_after[dropped.name] = (100_000, 1)
    server.faults.errors_500[items[1].name] = 2
    server.faults.corrupt[items[2].name] = 1
    report = Fetcher(tmp_path / "ARCHIVE", workers=3, retry=FAST).fetch([(i, catalog) for i in items])
    assert report.ok and sorted(report.fetched) == sorted(i.relpath for i in items)
    for item in items:
        assert (tmp_path / "ARCHIVE" / item.relpath).read_bytes() == (root / item.relpath).read_bytes()
    ranges = [r["range"] for r in server.data_requests(dropped.name)]
    assert len(ranges) == 2 and ranges[0] is None
    assert 0 < int(ranges[1][6:].rstrip("-")) <= 100_000  # resumed where the bytes stopped
    assert [r["status"] for r in server.data_requests(items[1].name)] == [500, 500, 200]
    assert len(server.data_requests(items[2].name)) == 2  # the corrupt copy failed its checksum, fetched again
    again = Fetcher(tmp_path / "ARCHIVE", workers=2, retry=FAST).fetch([(i, catalog) for i in items])
    assert again.fetched == [] and len(again.present) == len(items)


def test_a_server_ignoring_ranges_means_starting_over(server, source, tmp_path):
    root, _ = source
    catalog = MaapStacCatalog(ec.AC_TC, Secret(TOKEN), stac_url=server.url, retry=FAST)
    (item, *_) = catalog.list(_utc(START), _utc(END), Region(-180, -90, 180, 90))
    server.faults.ignore_range = True
    server.faults.drop_after[item.name] = (item.size // 2, 1)
    report = Fetcher(tmp_path / "A", workers=1, retry=FAST).fetch([(item, catalog)])
    assert report.ok and (tmp_path / "A" / item.relpath).read_bytes() == (root / item.relpath).read_bytes()
    assert [r["status"] for r in server.data_requests(item.name)] == [200, 200]


def test_missing_token_names_the_variable():
    with pytest.raises(CredentialsError) as exc:
        maap_catalog(ec.AC_TC, None, env={})
    message = str(exc.value)
    assert MAAP_TOKEN_ENV in message and "portal.maap.eo.esa.int" in message and exc.value.exit_code == 1


@pytest.mark.parametrize("token", [None, "wrong-token-5d2a"], ids=["none", "refused"])
def test_refused_or_absent_token_stops_the_run_without_showing_it(server, tmp_path, caplog, token):
    catalog = MaapStacCatalog(ec.AC_TC, Secret(token) if token else None, stac_url=server.url, retry=FAST)
    items = catalog.list(_utc(START), _utc(END), Region(-180, -90, 180, 90))
    with caplog.at_level(logging.DEBUG), pytest.raises(CredentialsError) as exc:
        Fetcher(tmp_path / "A", workers=2, retry=FAST).fetch([(i, catalog) for i in items])
    message = str(exc.value)
    assert MAAP_TOKEN_ENV in message
    if token:
        assert "HTTP 403" in message
        assert token not in message and token not in caplog.text and token not in repr(catalog)
        assert all(r["status"] == 403 for r in server.requests if r["path"].endswith(".h5"))
    assert not list((tmp_path / "A").rglob("*.h5"))


def test_get_searches_page_too_and_bad_filters_are_refused(server):
    from pystac_client import Client

    client = Client.open(server.url)
    got = client.search(collections=["EarthCAREL2Validated_MAAP"], datetime=[_utc(START), _utc(END)],
                        filter="product:type = 'ATL_TC__2A' OR (frame IN ('C', 'D') AND NOT version = 'bb')",
                        filter_lang="cql2-text", limit=2, method="GET")
    ids = sorted(i.id for i in got.items())
    assert ids and all(("ATL_TC__2A" in i) or i.endswith(("C", "D")) for i in ids)
    assert len([r for r in server.searches() if r["method"] == "GET"]) >= 2  # paged
    catalog = MaapStacCatalog(ec.AC_TC, None, stac_url=server.url, retry=FAST)
    catalog._filter = lambda: "product:type == 'AC__TC__2B'"  # not CQL2
    with pytest.raises(UserError, match="HTTP 400"):
        catalog.list(_utc(START), _utc(END))


def test_cql2_subset():
    props = {"product:type": "AC__TC__2B", "sat:absolute_orbit": 5979, "frame": "B", "version": "ba"}
    assert parse_cql2_text("product:type = 'AC__TC__2B' AND sat:absolute_orbit >= 5979")(props)
    assert not parse_cql2_text("product:type = 'AC__TC__2B' AND NOT frame IN ('A', 'B')")(props)
    assert parse_cql2_text("( sat:absolute_orbit = 1 OR sat:absolute_orbit = 5979 ) AND version <> 'bb'")(props)
    assert not parse_cql2_text("missing = 3")(props)
    for bad in ("frame = ", "frame == 'B'", "(frame = 'B'", "frame = 'B' extra"):
        with pytest.raises(CqlError):
            parse_cql2_text(bad)(props)
