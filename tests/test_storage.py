"""Folders that may be local or remote (storage.Location) and imager units read in place
(readers.unit_source), on fsspec's in-memory filesystem: the same bytes, each fetched once."""

from __future__ import annotations

from datetime import UTC, datetime

import fsspec
import numpy as np
import pytest

from cloudbench.checksums import sha256_file
from cloudbench.readers import unit_source
from cloudbench.readers.unit_source import RemoteUnit, UnitOpener
from cloudbench.storage import Location, is_remote, is_url, join, name_of


def test_urls_and_paths_are_told_apart():
    assert is_url("s3://b/k") and is_remote("s3://b/k") and is_url("file:///tmp/x") and not is_remote("file:///x")
    assert not is_url("/tmp/x") and not is_url("relative/s3://not")
    assert join("s3://b/PAIRS", "ledger", "a.json") == "s3://b/PAIRS/ledger/a.json"
    assert name_of("s3://b/PAIRS/") == "PAIRS" and name_of("/x/y.nc") == "y.nc"


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_location_reads_writes_lists_and_replaces_trees(kind, tmp_path):
    root = str(tmp_path / "loc") if kind == "local" else f"memory://loc-{tmp_path.name}"
    loc = Location(root)
    loc.mkdir()
    loc.write_bytes("a/b.bin", b"12345")
    loc.write_text("c.json", "{}")
    assert loc.read_bytes("a/b.bin") == b"12345" and loc.size("a/b.bin") == 5
    assert loc.list_files() == ["a/b.bin", "c.json"] and loc.list_dir("a") == ["b.bin"]
    assert loc.read_many(["c.json", "a/b.bin"]) == [b"{}", b"12345"]
    src = tmp_path / "tree"
    (src / "c").mkdir(parents=True)
    (src / "zarr.json").write_text("x")
    (src / "c" / "0").write_bytes(b"\0" * 10)
    loc.write_bytes("t/stale", b"old")
    loc.put(src, "t")
    assert loc.list_files("t") == ["t/c/0", "t/zarr.json"]  # what was there before is gone
    assert loc.sha256("t/c/0") == sha256_file(src / "c" / "0")
    loc.remove("t")
    loc.remove("never-there")
    assert loc.list_files() == ["a/b.bin", "c.json"] and not loc.exists("t/zarr.json")
    assert not [f for f in loc.list_files() if ".tmp-" in f]


def _memory_object(name: str, data: bytes) -> tuple[object, str]:
    fs = fsspec.filesystem("memory")
    path = f"/units/{name}"
    fs.pipe_file(path, data)
    return fs, path


def test_a_remote_unit_fetches_each_byte_once(tmp_path, monkeypatch):
    stats = unit_source.FetchStats()
    monkeypatch.setattr(unit_source, "FETCHED", stats)
    data = np.random.default_rng(0).bytes(3 * unit_source.FIRST_FETCH_BYTES + 123)
    fs, path = _memory_object("x.bin", data)
    unit = RemoteUnit(fs, path, "memory://units/x.bin", size=len(data))
    with unit.open() as fh:  # a header read: a prefix only
        assert fh.read(100) == data[:100]
    assert stats.bytes == unit_source.FIRST_FETCH_BYTES and stats.requests == 1
    assert unit.read_all() == data and unit.sha256() == __import__("hashlib").sha256(data).hexdigest()
    assert stats.bytes == len(data) and stats.requests == 2  # the rest, once
    with unit.open() as fh:
        fh.seek(len(data) - 10)
        assert fh.read() == data[-10:]
    assert stats.bytes == len(data)


def test_the_cache_folder_keeps_whole_objects_under_their_archive_path(tmp_path, monkeypatch):
    stats = unit_source.FetchStats()
    monkeypatch.setattr(unit_source, "FETCHED", stats)
    data = b"abc" * 1000
    fs, path = _memory_object("HS_x.DAT.bz2", data)
    opener = UnitOpener(filesystem=lambda url: (fs, path), cache_dir=str(tmp_path / "cache"),
                        cache_key=lambda url: "himawari8/AHI-L1b-FLDK/HS_x.DAT.bz2")
    unit = opener.open("s3://noaa-himawari8/AHI-L1b-FLDK/HS_x.DAT.bz2", len(data))
    assert unit.read_all() == data
    cached = tmp_path / "cache" / "himawari8" / "AHI-L1b-FLDK" / "HS_x.DAT.bz2"
    assert cached.read_bytes() == data
    again = opener.open("s3://noaa-himawari8/AHI-L1b-FLDK/HS_x.DAT.bz2", len(data))
    assert again.local_path() == cached and again.read_all() == data and stats.requests == 1


@pytest.fixture(scope="module")
def small_slot(tmp_path_factory):
    """One reduced AHI slot (two bands) and one reduced ABI band file, written by the synthetic writers."""
    from cloudbench.products.geostationary import geometry_for
    from cloudbench.synthetic.abi_l1b import write_abi_slot
    from cloudbench.synthetic.ahi_hsd import write_ahi_slot

    root = tmp_path_factory.mktemp("units")
    rng = np.random.default_rng(1)
    when = datetime(2018, 10, 1, 3, 50, tzinfo=UTC)
    g = geometry_for("himawari8", 20)
    ahi = write_ahi_slot(root, platform="himawari8", slot_start=when, geometry=g,
                         bands={"B03": rng.uniform(0, 90, g.shape).astype(np.float32),
                                "B13": rng.uniform(200, 300, g.shape).astype(np.float32)}, segments=[4, 5])
    g = geometry_for("goes16", 20)
    abi = write_abi_slot(root, platform="goes16", slot_start=when, geometry=g,
                         bands={"C13": rng.uniform(200, 300, g.shape).astype(np.float32)})
    return ahi, abi


def _remote(path):
    data = path.read_bytes()
    fs, remote = _memory_object(path.name, data)
    return RemoteUnit(fs, remote, f"memory://units/{path.name}", size=len(data))


def test_hsd_header_and_segment_from_memory_equal_the_file(small_slot):
    from cloudbench.readers.ahi_hsd import read_hsd_header, read_hsd_segment

    for path in small_slot[0]:
        unit = _remote(path)
        a, b = read_hsd_header(path), read_hsd_header(unit)
        assert a["segment"] == b["segment"] and np.array_equal(a["line_times"], b["line_times"])
        (r0, v0, t0), (r1, v1, t1) = read_hsd_segment(path), read_hsd_segment(unit)
        assert r0 == r1 and v0.tobytes() == v1.tobytes() and np.array_equal(t0, t1)


def test_abi_file_from_memory_equals_the_file(small_slot):
    from cloudbench.readers.abi_l1b import read_abi

    (path,) = small_slot[1]
    a, b = read_abi(path), read_abi(_remote(path))
    assert a.values.tobytes() == b.values.tobytes() and np.array_equal(a.line_times, b.line_times)
    assert (a.first_row, a.time_start, a.time_end) == (b.first_row, b.time_start, b.time_end)


def test_a_damaged_remote_segment_is_a_data_error_naming_the_url(small_slot):
    from cloudbench.errors import DataError
    from cloudbench.readers.ahi_hsd import read_hsd_segment

    data = small_slot[0][0].read_bytes()
    fs, remote = _memory_object("HS_bad.DAT.bz2", data[: len(data) // 2])
    unit = RemoteUnit(fs, remote, "memory://units/HS_bad.DAT.bz2")
    with pytest.raises(DataError, match="memory://units/HS_bad.DAT.bz2"):
        read_hsd_segment(unit)
