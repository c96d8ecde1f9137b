"""Catalogs against real servers on loopback (moto S3, paramiko SFTP, CMR-style HTTP), and credentials."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cloudbench.errors import CredentialsError, UserError
from cloudbench.products import ahi_hsd, calipso_vfm, cloudsat_cldclass_lidar
from cloudbench.sensors.cloudsat_cldclass_lidar import cldclass_layout
from cloudbench.sensors.registry import imager_for_platform
from cloudbench.sources.base import RetryPolicy
from cloudbench.sources.cloudsat_dpc import DpcSftpStore
from cloudbench.sources.credentials import Secret, SftpCredentials, dpc_credentials, earthdata_credentials
from cloudbench.sources.earthdata import EarthdataCatalog
from cloudbench.sources.fetch import Fetcher
from cloudbench.sources.fsroot import DirectoryCatalog, FsspecStore
from cloudbench.sources.noaa import noaa_imager_catalog

T0 = datetime(2018, 10, 1, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)
RNG = np.random.default_rng(0)


def test_noaa_bucket_lists_sizes_and_md5_etags(s3_server, tmp_path):
    slot = (T0 - timedelta(days=2)).replace(hour=3)  # moto's store is per process: a day no other module uses
    files = {}
    for seg in (1, 2):
        name = ahi_hsd.build_filename("himawari8", slot, "B13", seg)
        data = RNG.integers(0, 256, 5000 + seg, dtype="u1").tobytes()
        s3_server.put("noaa-himawari8", ahi_hsd.bucket_key(slot, name), data)
        files[name] = data
    cat = noaa_imager_catalog("himawari8", s3_server.endpoint)
    items = cat.list(slot, slot + timedelta(minutes=10))
    assert {i.name for i in items} == set(files)
    for i in items:
        assert i.size == len(files[i.name])
        assert i.checksum == "md5:" + hashlib.md5(files[i.name]).hexdigest()
        assert i.relpath == ahi_hsd.archive_path("himawari8", slot, i.name)
    report = Fetcher(tmp_path / "a", retry=FAST).fetch([(i, cat) for i in items])
    assert report.ok
    for i in items:
        assert (tmp_path / "a" / i.relpath).read_bytes() == files[i.name]
    assert noaa_imager_catalog("himawari9", s3_server.endpoint).list(slot, slot + timedelta(minutes=10)) == []


def _dpc_granule(root, start, orbit, size):
    name = cloudsat_cldclass_lidar.build_filename(start, orbit)
    rel = cloudsat_cldclass_lidar.archive_relpath(name).removeprefix("cloudsat/")
    path = root / "Data" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = RNG.integers(0, 256, size, dtype="u1").tobytes()
    path.write_bytes(data)
    return name, data


def test_dpc_sftp_lists_fetches_and_resumes(sftp_server, sftp_root, tmp_path):
    granules = dict([_dpc_granule(sftp_root, T0 + timedelta(minutes=99 * k), 65900 + k, 200_000) for k in range(3)])
    # the previous day's last granule overlaps the window; one from the day after does not
    prev, _ = _dpc_granule(sftp_root, T0 - timedelta(minutes=50), 65899, 1000)
    _dpc_granule(sftp_root, T0 + timedelta(days=1, minutes=5), 65999, 1000)
    store = DpcSftpStore(SftpCredentials(sftp_server.username, Secret(sftp_server.password)), sftp_server.host, sftp_server.port)
    cat = DirectoryCatalog(cldclass_layout(), store)
    items = cat.list(T0, T0 + timedelta(days=1))
    assert {i.name for i in items} == set(granules) | {prev}
    assert all(i.checksum is None and i.size for i in items)
    victim = sorted(granules)[0]
    sftp_server.faults.drop_after[victim] = (100_000, 1)
    archive = tmp_path / "archive"
    report = Fetcher(archive, workers=2, retry=FAST).fetch([(i, cat) for i in items])
    cat.close()
    assert report.ok and report.retries >= 1
    for name, data in granules.items():
        assert (archive / cloudsat_cldclass_lidar.archive_relpath(name)).read_bytes() == data
    assert sftp_server.opened[victim] == 2


def test_dpc_refused_login_is_a_credentials_error(sftp_server):
    store = DpcSftpStore(SftpCredentials(sftp_server.username, Secret("wrong-pw-77")), sftp_server.host, sftp_server.port)
    with pytest.raises(CredentialsError) as info:
        store.list_dir("cloudsat/2B-CLDCLASS-LIDAR.P1_R05/2018/274")
    assert "CLOUDSAT_DPC_PASSWORD" in str(info.value) and "wrong-pw-77" not in str(info.value)
    assert sftp_server.logins_refused >= 1


def test_cmr_search_pages_and_parses_checksums(http_server, tmp_path):
    http_server.page_size_cap = 2  # force pagination with CMR-Search-After
    names = []
    for k in range(5):
        start = T0 + timedelta(minutes=50 * k)
        name = calipso_vfm.build_filename(start, "N")
        local = tmp_path / name
        local.write_bytes(bytes([k]) * (100 + k))
        box = (100, -60, 160, 60) if k != 4 else (-80, -60, -20, 60)
        http_server.add_granule(http_server.add_collection(*calipso_vfm.cmr_collection("V4-51")), "/data/" + name, local, start,
                                start + timedelta(minutes=48), box)
        names.append(name)
    from cloudbench.config import parse_region

    cat = EarthdataCatalog(None, cmr_url=http_server.url, retry=FAST)
    items = cat.list(T0, T0 + timedelta(days=1), parse_region("paper"))
    assert [i.name for i in items] == sorted(names[:4])
    assert all(i.checksum == "md5:" + hashlib.md5((tmp_path / i.name).read_bytes()).hexdigest() for i in items)
    assert all(i.relpath == calipso_vfm.archive_relpath(i.name) for i in items)
    searches = [r for r in http_server.requests if r["path"].endswith("granules.umm_json")]
    assert len(searches) == 2
    with pytest.raises(CredentialsError):
        Fetcher(tmp_path / "a", retry=FAST).fetch([(items[0], cat)])


def test_basic_auth_login_fetches(http_server, tmp_path):
    start = T0
    name = calipso_vfm.build_filename(start, "D")
    (tmp_path / name).write_bytes(b"x" * 1000)
    http_server.add_granule(http_server.add_collection(*calipso_vfm.cmr_collection("V4-51")), "/data/" + name, tmp_path / name, start, start + timedelta(minutes=48))
    creds = earthdata_credentials({"EARTHDATA_USERNAME": "eduser", "EARTHDATA_PASSWORD": "edpass"})
    cat = EarthdataCatalog(creds, cmr_url=http_server.url, retry=FAST)
    assert Fetcher(tmp_path / "a", retry=FAST).fetch([(i, cat) for i in cat.list(T0, T0 + timedelta(days=1))]).ok


def test_earthdata_credentials_order_and_masking(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine urs.earthdata.nasa.gov login nuser password npass-123\n")
    netrc.chmod(0o600)
    assert earthdata_credentials({"EARTHDATA_TOKEN": "tkn-999"}, netrc).origin == "EARTHDATA_TOKEN"
    c = earthdata_credentials({}, netrc)
    assert (c.origin, c.username, c.password.reveal()) == ("netrc", "nuser", "npass-123")
    assert "npass-123" not in repr(c) and "npass-123" not in f"{c.password}"
    with pytest.raises(CredentialsError) as info:
        earthdata_credentials({}, tmp_path / "absent")
    assert "EARTHDATA_TOKEN" in str(info.value) and "~/.netrc" in str(info.value)
    with pytest.raises(CredentialsError, match="EARTHDATA_PASSWORD"):
        earthdata_credentials({"EARTHDATA_USERNAME": "u"}, tmp_path / "absent")
    with pytest.raises(CredentialsError, match="CLOUDSAT_DPC_PASSWORD"):
        dpc_credentials(env={"CLOUDSAT_DPC_USERNAME": "u"}, host="dpc.example", netrc_path=tmp_path / "absent")


def test_fsspec_root_mirror(tmp_path):
    slot = T0.replace(hour=4, minute=10)
    mirror = tmp_path / "mirror"
    name = ahi_hsd.build_filename("himawari9", slot, "B03", 5)
    path = mirror / ahi_hsd.archive_path("himawari9", slot, name)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"abc" * 100)
    cat = DirectoryCatalog(imager_for_platform("himawari9").layout("himawari9"), FsspecStore(f"file://{mirror}"))
    items = cat.list(slot - timedelta(minutes=5), slot + timedelta(minutes=5))
    assert [(i.name, i.size) for i in items] == [(name, 300)]
    assert Fetcher(tmp_path / "a", retry=FAST).fetch([(items[0], cat)]).ok
    assert (tmp_path / "a" / items[0].relpath).read_bytes() == b"abc" * 100


def test_vfm_collection_is_found_by_short_name_and_version(http_server, tmp_path):
    """The catalog asks CMR for the collection by short name and version and searches granules in the
    concept id it got back (the loopback server makes its ids up, so a stored id would find nothing)."""
    name = calipso_vfm.build_filename(T0, "D")
    (tmp_path / name).write_bytes(b"v" * 500)
    http_server.add_collection("CAL_LID_L2_VFM-Standard-V4-20", "V4-20")  # another version: not to be used
    cid = http_server.add_collection(*calipso_vfm.cmr_collection("V4-51"))
    http_server.add_granule(cid, "/data/" + name, tmp_path / name, T0, T0 + timedelta(minutes=48))
    cat = EarthdataCatalog(None, version="V4-51", cmr_url=http_server.url, retry=FAST)
    assert [i.name for i in cat.list(T0, T0 + timedelta(days=1))] == [name]
    assert cat.concept_id == cid
    searches = [r for r in http_server.requests if "/search/" in r["path"]]
    assert searches[0]["path"].endswith("/search/collections.umm_json")
    assert "short_name=CAL_LID_L2_VFM-Standard-V4-51" in searches[0]["query"] and "version=V4-51" in searches[0]["query"]
    assert searches[1]["path"].endswith("/search/granules.umm_json") and f"collection_concept_id={cid}" in searches[1]["query"]
    cat.list(T0, T0 + timedelta(days=1))
    assert sum(r["path"].endswith("collections.umm_json") for r in http_server.requests) == 1  # looked up once


def test_unknown_vfm_version_is_a_user_error_naming_the_option(http_server):
    http_server.add_collection(*calipso_vfm.cmr_collection("V4-51"))
    cat = EarthdataCatalog(None, version="V9-99", cmr_url=http_server.url, retry=FAST)
    with pytest.raises(UserError) as info:
        cat.list(T0, T0 + timedelta(days=1))
    assert "CAL_LID_L2_VFM-Standard-V9-99" in str(info.value) and "--vfm-version" in str(info.value)
    assert info.value.exit_code == 1


def test_earthdata_fix_names_only_the_application_calipso_needs():
    from cloudbench.sources.credentials import EARTHDATA_FIX

    assert "LARC ASDC" in EARTHDATA_FIX
    assert "GESDISC" not in EARTHDATA_FIX and "GES DISC" not in EARTHDATA_FIX  # no other archive's application
