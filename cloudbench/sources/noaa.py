"""NOAA's public buckets of Himawari AHI HSD and GOES ABI L1b, read anonymously over S3.

The buckets (``s3://noaa-himawari8/AHI-L1b-FLDK/...``, ``s3://noaa-goes16/ABI-L1b-RadF/...``) hold
the same folders as ARCHIVE/ under ``<platform>/``, so a bucket is a store whose only twist is the
``noaa-`` prefix of its name. Listings give sizes and ETags; an ETag is an md5 only for single-part
uploads, so large multipart objects are verified by size and recorded with the sha256 computed here.
"""

from __future__ import annotations

from cloudbench.sources.fsroot import DirectoryCatalog, FsspecStore

BUCKET_PREFIX = "noaa-"
DEFAULT_POOL = 10  # botocore's own default of connections kept open per client


def s3_filesystem(endpoint_url: str | None = None, *, anon: bool = True, connections: int | None = None):
    """An s3fs filesystem for the NOAA buckets (or a private S3 endpoint mirroring them).

    ``connections``: how many transfers run at once (the fetcher's workers). The connection pool is
    sized to it, so no transfer waits for a connection and none opens one of its own: a new
    connection costs a round trip or three (TCP, TLS) before the first byte.
    """
    import s3fs

    client_kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    pool = max(DEFAULT_POOL, int(connections or 0))
    # Fresh instance per call: cached instances would share one event loop across forked workers.
    return s3fs.S3FileSystem(anon=anon, client_kwargs=client_kwargs, skip_instance_cache=True,
                             config_kwargs={"max_pool_connections": pool})


class NoaaBucketStore(FsspecStore):
    """ARCHIVE/ path ``himawari8/AHI-L1b-FLDK/...`` <-> ``s3://noaa-himawari8/AHI-L1b-FLDK/...``."""

    source = "noaa-s3"

    def __init__(self, endpoint_url: str | None = None, *, fs=None, connections: int | None = None):
        super().__init__("", fs=fs or s3_filesystem(endpoint_url, connections=connections), owns_fs=fs is None)
        self.endpoint_url = endpoint_url

    def remote_path(self, relpath: str) -> str:
        return BUCKET_PREFIX + relpath.lstrip("/")

    def url(self, relpath: str) -> str:
        return "s3://" + self.remote_path(relpath)


def noaa_imager_catalog(platform: str, endpoint_url: str | None = None, *, fs=None,
                        connections: int | None = None) -> DirectoryCatalog:
    """The full-disk L1b catalog of one platform (``himawari8``, ``goes16``...) in NOAA's buckets."""
    from cloudbench.sensors.registry import imager_for_platform

    return DirectoryCatalog(imager_for_platform(platform).layout(platform),
                            NoaaBucketStore(endpoint_url, fs=fs, connections=connections))
