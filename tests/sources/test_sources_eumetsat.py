"""The EUMETSAT Data Store source (eumdac) against the loopback Data Store: search, entries, sizes,
entry downloads with resume, credentials.

The products here are a stand-in layout (one file per 15-minute slot plus the XML entries every
product carries), so these tests hold for any imager product that places its files through
:class:`~cloudbench.sources.eumetsat.DataStoreLayout`; the SEVIRI product's own mapping is tested
with its download tests.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cloudbench.errors import CredentialsError
from cloudbench.sources.base import RetryPolicy
from cloudbench.sources.credentials import EUMETSAT_KEY_ENV, EUMETSAT_SECRET_ENV, EumetsatCredentials, Secret
from cloudbench.sources.download import SourceOptions
from cloudbench.sources.eumetsat import (
    DataStoreCatalog,
    DataStoreClient,
    DataStoreQuery,
    DataStoreStore,
    datastore_store,
)
from cloudbench.sources.fetch import Fetcher
from cloudbench.sources.local_datastore import LocalDataStore

COLLECTION = "EO:EUM:DAT:TEST:SLOTS"
KEY, SECRET = "test-key-5d1", "test-secret-77a"
T0 = datetime(2008, 6, 1, 12, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


class SlotLayout:
    """A stand-in product: ``slot_YYYYmmddHHMM.bin`` in ``test/SLOTS/YYYY/MM/DD/HHMM/``."""

    def datastore_query(self, reldir: str) -> DataStoreQuery | None:
        parts = reldir.split("/")
        if len(parts) != 6 or parts[:2] != ["test", "SLOTS"]:
            return None
        t = datetime.strptime("".join(parts[2:]), "%Y%m%d%H%M").replace(tzinfo=UTC)
        return DataStoreQuery(COLLECTION, t, t + timedelta(minutes=15))

    def datastore_relpath(self, name: str) -> str | None:
        if not (name.startswith("slot_") and name.endswith(".bin")):
            return None
        t = datetime.strptime(name[5:17], "%Y%m%d%H%M")
        return f"test/SLOTS/{t:%Y/%m/%d/%H%M}/{name}"

    def datastore_product(self, name: str):
        return None


@pytest.fixture
def datastore(tmp_path):
    """Four slots of random bytes (different sizes) in the loopback Data Store."""
    rng = np.random.default_rng(3)
    files = {}
    with LocalDataStore(key=KEY, secret=SECRET) as server:
        for k in range(4):
            slot = T0 + timedelta(minutes=15 * k)
            name = f"slot_{slot:%Y%m%d%H%M}.bin"
            local = tmp_path / "served" / name
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(rng.integers(0, 256, 2_500_000 + 1000 * k, dtype="u1").tobytes())
            server.add_entry(COLLECTION, name[:-4], name, local, slot + timedelta(seconds=12),
                             slot + timedelta(minutes=12, seconds=44))
            files[name] = local
        yield server, files


def store_for(server, key: str = KEY, secret: str = SECRET) -> DataStoreStore:
    return DataStoreStore(DataStoreClient(EumetsatCredentials(key, Secret(secret)), server.url, retry=FAST), SlotLayout())


def test_folder_lists_the_slot_entry_with_its_exact_size(datastore):
    server, files = datastore
    store = store_for(server)
    (entry,) = store.list_dir("test/SLOTS/2008/06/01/1215")
    name = "slot_200806011215.bin"
    assert entry.relpath == f"test/SLOTS/2008/06/01/1215/{name}"
    assert entry.size == files[name].stat().st_size and entry.checksum is None
    # the size came from a one-byte ranged request, as eumdac's downloader sizes entries
    assert [(r["range"], r["status"]) for r in server.entry_requests(name)] == [("bytes=0-0", 206)]
    # the product also lists XML entries: the search saw them, the folder does not keep them
    (search,) = server.searches()
    assert search["query"]["pi"] == [COLLECTION]
    assert store.list_dir("test/SLOTS/2008/06/01/1300") == []
    assert store.list_dir("elsewhere/2008") == []


def test_catalog_lists_a_span_with_one_search(datastore):
    server, files = datastore
    cat = DataStoreCatalog(store_for(server), [COLLECTION])
    items = cat.list(T0 + timedelta(minutes=15), T0 + timedelta(minutes=45))
    assert [i.name for i in items] == ["slot_200806011215.bin", "slot_200806011230.bin"]
    assert all(i.source == "eumetsat-datastore" and i.size == files[i.name].stat().st_size for i in items)
    assert len(server.searches()) == 1
    assert "/entry?name=slot_200806011215.bin" in items[0].url and "access_token" not in items[0].url


def test_fetch_resumes_after_a_mid_file_drop_with_a_range(datastore, tmp_path):
    server, files = datastore
    cat = DataStoreCatalog(store_for(server), [COLLECTION])
    items = cat.list(T0, T0 + timedelta(hours=1))
    name = items[1].name
    server.faults.drop_after[name] = (1_000_000, 1)
    report = Fetcher(tmp_path / "archive", workers=2, retry=FAST).fetch([(i, cat) for i in items])
    assert report.ok and sorted(report.fetched) == sorted(i.relpath for i in items)
    for item in items:
        got = tmp_path / "archive" / item.relpath
        assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256(files[item.name].read_bytes()).digest()
    downloads = [r for r in server.entry_requests(name) if r["range"] != "bytes=0-0"]
    # first attempt dropped near 1 MB; the second asked for the rest only and got a 206
    assert downloads[0]["range"] is None and downloads[0]["status"] == 200
    resumed = downloads[1]["range"]
    assert resumed.startswith("bytes=") and int(resumed[6:].rstrip("-")) >= 500_000 and downloads[1]["status"] == 206
    assert not list((tmp_path / "archive").rglob("*.part"))


def test_a_server_that_ignores_ranges_makes_the_file_start_over(datastore, tmp_path):
    server, files = datastore
    cat = DataStoreCatalog(store_for(server), [COLLECTION])
    (item,) = [i for i in cat.list(T0, T0 + timedelta(hours=1)) if i.name == "slot_200806011200.bin"]
    server.faults.ignore_range = True
    server.faults.drop_after[item.name] = (800_000, 1)
    report = Fetcher(tmp_path / "archive", workers=1, retry=FAST).fetch([(item, cat)])
    assert report.ok
    assert (tmp_path / "archive" / item.relpath).read_bytes() == files[item.name].read_bytes()
    downloads = [r for r in server.entry_requests(item.name)][1:]  # after the size probe
    assert downloads[-1]["range"] is not None and downloads[-1]["status"] == 200  # asked to resume, got it all


def test_server_errors_are_retried_and_unlisted_paths_are_found(datastore, tmp_path):
    server, files = datastore
    store = store_for(server)
    name = "slot_200806011245.bin"
    server.faults.errors_500[name] = 1
    relpath = f"test/SLOTS/2008/06/01/1245/{name}"
    with store.open_stream(relpath) as stream:  # never listed in this store: its folder is searched first
        data = b"".join(stream)
    assert data == files[name].read_bytes()


def test_refused_credentials_stop_with_the_fix(datastore):
    server, _ = datastore
    with pytest.raises(CredentialsError) as info:
        store_for(server, secret="wrong").list_dir("test/SLOTS/2008/06/01/1200")
    assert EUMETSAT_KEY_ENV in str(info.value) and "api-key" in str(info.value)
    assert server.tokens_refused >= 1


def test_missing_key_names_the_variables(monkeypatch):
    monkeypatch.delenv(EUMETSAT_KEY_ENV, raising=False)
    monkeypatch.setenv(EUMETSAT_SECRET_ENV, "something")
    with pytest.raises(CredentialsError) as info:
        datastore_store(SlotLayout(), SourceOptions())
    message = str(info.value)
    assert EUMETSAT_KEY_ENV in message and EUMETSAT_SECRET_ENV in message
    assert "https://api.eumetsat.int/api-key/" in message
    assert info.value.exit_code == 1


def test_every_call_needs_the_token(datastore):
    import requests

    server, _ = datastore
    url = f"{server.url}/data/search-products/1.0.0/os"
    assert requests.get(url, params={"pi": COLLECTION, "format": "json"}, timeout=10).status_code == 401
    token = requests.post(f"{server.url}/token", auth=(KEY, SECRET), data={"grant_type": "client_credentials"},
                          timeout=10).json()["access_token"]
    ok = requests.get(url, params={"pi": COLLECTION, "format": "json", "c": 2}, timeout=10,
                      headers={"Authorization": f"Bearer {token}"})
    doc = ok.json()
    assert ok.status_code == 200 and doc["totalResults"] == 4 and len(doc["features"]) == 2
    entries = [e["title"] for e in doc["features"][0]["properties"]["links"]["sip-entries"]]
    assert entries[1:] == ["EOPMetadata.xml", "manifest.xml"]
