"""Imagery read in place from a loopback S3 bucket laid out like NOAA's: the same pairs as from a local
ARCHIVE/, and only the units the jobs read fetched, each byte once (counted at the server)."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from cloudbench.collocate.imagery import NOAA, ImagerSource
from cloudbench.collocate.pairing import CollocateConfig
from cloudbench.collocate.run import collocate
from cloudbench.config import parse_region

from .conftest import END, REGION, START, pairs_equal, upload_tree

BANDS = ("B03", "B13")  # a 0.5 km band besides the 2 km reference band: both kinds of unit are read


@pytest.fixture(scope="module")
def two_band_archive(tmp_path_factory):
    from cloudbench.synthetic.archive import write_archive

    root = tmp_path_factory.mktemp("archive_in_place")
    write_archive(root, start=START, end=END, region=REGION, imager="himawari", labels=("cldclass-lidar",),
                  bands=BANDS, reduction=10, seed=0, max_dt_s=300)
    return root


def _config(out, source=None) -> CollocateConfig:
    return CollocateConfig(out=str(out), region=parse_region(REGION), imager="himawari", bands=BANDS,
                           patch_size=16, imager_source=source)


def _ledger(out) -> dict:
    return {e["job_id"]: e for e in map(json.loads, (out / "ledger.jsonl").read_text().splitlines())}


def test_in_place_pairs_equal_local_and_each_byte_is_fetched_once(two_band_archive, moto_s3, s3_config,
                                                                    s3_requests, tmp_path):
    root = two_band_archive
    local = collocate(root, _config(tmp_path / "local"), progress=False, quicklook=False)
    assert local["pairs"] > 0

    imagery = moto_s3.upload_archive(root)  # noaa-himawari8/AHI-L1b-FLDK/YYYY/MM/DD/HHMM/...
    labels = upload_tree(moto_s3, root / "cloudsat", "inputs", "ARCHIVE/cloudsat")
    assert imagery and labels
    sizes = {k.split("/", 1)[1]: (root / k).stat().st_size for k in imagery}  # bucket key -> size
    before = len(s3_requests())
    source = ImagerSource(NOAA, s3_endpoint=moto_s3.endpoint)
    remote = collocate("s3://inputs/ARCHIVE", _config(tmp_path / "remote", source), progress=False, quicklook=False)
    assert remote["pairs"] == local["pairs"]
    assert pairs_equal(tmp_path / "local", tmp_path / "remote") == []
    assert [e["inputs"] for e in _ledger(tmp_path / "remote").values()] == [
        e["inputs"] for e in _ledger(tmp_path / "local").values()]  # same files, same sha256

    fetched: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in s3_requests()[before:]:
        if r["method"] == "GET" and r["bucket"] == "noaa-himawari8" and r["key"] in sizes:
            lo, hi = r["range"] if r["range"] else (0, sizes[r["key"]] - 1)
            fetched[r["key"]].append((lo, min(hi, sizes[r["key"]] - 1)))
    assert fetched
    for key, spans in fetched.items():  # ranges never overlap: no byte of an object crosses twice
        spans.sort()
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False)), (key, spans)
    total = sum(hi - lo + 1 for spans in fetched.values() for lo, hi in spans)
    touched = sum(sizes[k] for k in fetched)
    assert total <= 1.05 * touched
    decoded = {i["name"] for e in _ledger(tmp_path / "remote").values() for i in e.get("inputs", [])
               if i["kind"] == "imager"}
    names = {k.rsplit("/", 1)[-1]: k for k in fetched}
    assert decoded <= set(names)
    header_only = set(names) - decoded
    assert all("_B13_" in n for n in header_only), header_only  # only reference-band headers (line times)
    assert len(fetched) < len(sizes)  # units no job reads are never fetched


def test_in_place_with_a_cache_folder_fetches_nothing_the_second_time(two_band_archive, moto_s3, s3_config,
                                                                       s3_requests, tmp_path):
    root = two_band_archive
    moto_s3.upload_archive(root)
    cache = tmp_path / "cache"
    source = ImagerSource(NOAA, s3_endpoint=moto_s3.endpoint, cache_dir=str(cache))
    first = collocate(root, _config(tmp_path / "first", source), progress=False, quicklook=False)
    cached = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())
    assert cached and all(p.startswith("himawari8/AHI-L1b-FLDK/") for p in cached)
    for rel in cached:  # the cache is an ARCHIVE/ of what was decoded, byte for byte
        assert (cache / rel).read_bytes() == (root / rel).read_bytes()
    before = [r for r in s3_requests() if r["method"] == "GET" and r["bucket"] == "noaa-himawari8"]
    second = collocate(root, _config(tmp_path / "second", source), progress=False, quicklook=False)
    after = [r for r in s3_requests() if r["method"] == "GET" and r["bucket"] == "noaa-himawari8"]
    assert second["pairs"] == first["pairs"] and pairs_equal(tmp_path / "first", tmp_path / "second") == []
    refetched = {r["key"].rsplit("/", 1)[-1] for r in after[len(before):]}
    assert not refetched & {p.rsplit("/", 1)[-1] for p in cached}


def test_a_missing_imager_position_is_a_user_error(two_band_archive, tmp_path):
    from cloudbench.errors import UserError

    cfg = CollocateConfig(out=str(tmp_path / "p"), region=parse_region(REGION), imager=None,
                          imager_source=ImagerSource(NOAA))
    with pytest.raises(UserError, match="--imager"):
        collocate(two_band_archive, cfg, progress=False)


def test_pairs_on_a_bucket_resume_from_their_ledger_objects(two_band_archive, moto_s3, s3_config, tmp_path):
    from cloudbench.storage import Location

    moto_s3.put("pairs-bucket", "README", b"x")
    url = "s3://pairs-bucket/PAIRS"
    first = collocate(two_band_archive, _config(url), progress=False, quicklook=False)
    pairs = Location(url)
    entries = pairs.list_dir("ledger")
    assert len(entries) == first["jobs_done"] >= 1 and pairs.exists("config.json") and pairs.exists("report.json")
    again = collocate(two_band_archive, _config(url), progress=False, quicklook=False)
    assert again["jobs_resumed_from_ledger"] == first["jobs_done"]  # nothing ran twice
    # a job whose entry is missing (a driver killed before committing it) runs again, over its objects
    job = entries[0].rsplit(".", 1)[0]
    pairs.remove(f"ledger/{job}.json")
    pairs.write_bytes(f"jobs/{job}.zarr/c/stale", b"left by a killed attempt")
    third = collocate(two_band_archive, _config(url), progress=False, quicklook=False)
    assert third["jobs_resumed_from_ledger"] == first["jobs_done"] - 1 and pairs.exists(f"ledger/{job}.json")
    assert not pairs.exists(f"jobs/{job}.zarr/c/stale")
    local = collocate(two_band_archive, _config(tmp_path / "local"), progress=False, quicklook=False)
    assert local["pairs"] == third["pairs"] and pairs_equal(tmp_path / "local", url) == []
    with pytest.raises(Exception, match="other collocate options"):
        collocate(two_band_archive, CollocateConfig(out=url, region=parse_region(REGION), imager="himawari",
                                                    bands=("B13",), patch_size=16), progress=False)


def test_abi_read_in_place_equals_local(moto_s3, s3_config, s3_requests, tmp_path):
    """GOES ABI netCDF files are decoded from memory (HDF5's in-memory driver): same pairs as from disk."""
    from cloudbench.synthetic.archive import write_archive

    start, end, region = "2019-10-01T18:55", "2019-10-01T19:35", "-100,-40,-50,40"
    root = tmp_path / "archive"
    write_archive(root, start=start, end=end, region=region, imager="goes-east", labels=("cldclass-lidar",),
                  bands=("C02", "C13"), reduction=10, seed=0, max_dt_s=300)

    def cfg(out, source=None):
        return CollocateConfig(out=str(out), region=parse_region(region), imager="goes-east", bands=("C02", "C13"),
                               patch_size=16, imager_source=source)

    local = collocate(root, cfg(tmp_path / "local"), progress=False, quicklook=False)
    assert local["pairs"] > 0
    keys = moto_s3.upload_archive(root)
    sizes = {k.split("/", 1)[1]: (root / k).stat().st_size for k in keys}
    before = len(s3_requests())
    remote = collocate(root, cfg(tmp_path / "remote", ImagerSource(NOAA, s3_endpoint=moto_s3.endpoint)),
                       progress=False, quicklook=False)
    assert remote["pairs"] == local["pairs"] and pairs_equal(tmp_path / "local", tmp_path / "remote") == []
    got: dict[str, int] = defaultdict(int)
    for r in s3_requests()[before:]:
        if r["method"] == "GET" and r["key"] in sizes:
            got[r["key"]] += (r["range"][1] + 1 - r["range"][0]) if r["range"] else sizes[r["key"]]
    assert got and all(n <= sizes[k] for k, n in got.items())  # no object fetched twice


def test_the_cli_reads_imagery_in_place_and_checks_its_options(two_band_archive, moto_s3, s3_config, tmp_path):
    from cloudbench.cli import main

    moto_s3.upload_archive(two_band_archive)
    args = ["collocate", "--archive", str(two_band_archive), "--region", REGION, "--imager", "himawari",
            "--bands", ",".join(BANDS), "--patch-size", "16", "--no-progress", "--no-quicklook"]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--out", str(tmp_path / "p"), "--s3-endpoint", moto_s3.endpoint])
    assert exc.value.code == 1 and not (tmp_path / "p" / "config.json").exists()
    with pytest.raises(SystemExit) as exc:
        main([*args, "--out", str(tmp_path / "p"), "--imager-source", "noaa", "--s3-endpoint", moto_s3.endpoint,
              "--imager-cache", str(tmp_path / "cache")])
    assert exc.value.code == 0
    assert (tmp_path / "p" / "report.json").exists() and any((tmp_path / "cache" / "himawari8").rglob("*.bz2"))
