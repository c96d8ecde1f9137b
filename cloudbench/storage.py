"""Folders that may be local or remote: a path, a ``file://`` URL or any fsspec URL (``s3://``, ``gs://``...).

The stages keep their folder layouts (ARCHIVE/, PAIRS/, DATASET/) whatever holds them. A
:class:`Location` is one such folder; paths inside it are relative POSIX strings. Local folders keep
the rename-into-place writes the stages always used; object stores have no rename, so there a
multi-file unit is written under its final keys and committed by one small object written last
(a PAIRS ledger entry, a DATASET manifest), and a single object is written by one PUT, which an
object store applies whole or not at all.

Credentials and endpoints come from fsspec's own configuration (environment variables such as
``FSSPEC_S3_ENDPOINT_URL``, ``FSSPEC_S3_KEY``, or ``~/.config/fsspec/*.json``) or from the usual
provider chain (``AWS_*`` variables, instance roles), so every process of a cluster that has the same
environment reaches the same store without the options travelling with each task.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloudbench.checksums import BLOCK

TMP_PREFIX = ".tmp-"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(location: str | Path) -> bool:
    """Whether ``location`` names an fsspec URL (``scheme://...``) rather than a local path."""
    return isinstance(location, str) and _SCHEME.match(location) is not None


def is_remote(location: str | Path) -> bool:
    """True for URLs other than ``file://`` (those are local folders spelled as URLs)."""
    return is_url(location) and not str(location).startswith("file://")


def local_path(location: str | Path) -> Path:
    """The local path of a path or ``file://`` URL."""
    text = str(location)
    return Path(text[len("file://"):]) if text.startswith("file://") else Path(location)


def join(location: str | Path, *parts: str) -> str | Path:
    """``location / part / ...`` for paths and URLs alike (``Path`` would fold a URL's ``//``)."""
    if is_url(location):
        return posixpath.join(str(location).rstrip("/"), *parts)
    return Path(location).joinpath(*parts)


def name_of(location: str | Path) -> str:
    """The last component of a path or URL (a file name)."""
    return posixpath.basename(str(location).rstrip("/")) if is_url(location) else Path(location).name


class Location:
    """One folder, local or in an object store, read and written by relative paths.

    Args:
        root: a local path, a ``file://`` URL or any fsspec URL.
        storage_options: passed to fsspec for a remote ``root`` (defaults: fsspec's configuration).

    The filesystem object is made lazily in each process (and dropped when pickled), so a Location
    can travel to dask workers and forked DataLoader processes.
    """

    def __init__(self, root: str | Path, storage_options: dict[str, Any] | None = None):
        self.remote = is_remote(root)
        self.root = str(root).rstrip("/") if self.remote else str(local_path(root))
        self.storage_options = dict(storage_options or {})
        self._fs = None
        self._path = ""
        self._pid = -1

    # --- plumbing -----------------------------------------------------------------------------------
    @property
    def fs(self):
        """The fsspec filesystem (remote locations only)."""
        if self._fs is None or self._pid != os.getpid():
            import fsspec

            self._fs, path = fsspec.core.url_to_fs(self.root, **self.storage_options)
            self._path = path.rstrip("/")
            self._pid = os.getpid()
        return self._fs

    def _remote(self, rel: str = "") -> str:
        fs = self.fs  # sets _path
        del fs
        return posixpath.join(self._path, rel) if rel else self._path

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fs": None, "_pid": -1}

    def __repr__(self) -> str:
        return f"Location({self.root!r})"

    def __str__(self) -> str:
        return self.root

    @property
    def path(self) -> Path:
        """The local folder (local locations only)."""
        if self.remote:
            raise ValueError(f"{self.root} is not a local folder")
        return Path(self.root)

    def url(self, rel: str = "") -> str:
        """Where ``rel`` is, for messages, the ledger and zarr (a local path for local folders)."""
        if not rel:
            return self.root
        return posixpath.join(self.root, rel) if self.remote else str(Path(self.root) / rel)

    def child(self, rel: str) -> Location:
        return Location(self.url(rel), self.storage_options)

    @property
    def name(self) -> str:
        return name_of(self.root)

    # --- reading ----------------------------------------------------------------------------------------
    def exists(self, rel: str = "") -> bool:
        if not self.remote:
            return (Path(self.root) / rel).exists()
        self.fs.invalidate_cache(self._remote(rel))
        return bool(self.fs.exists(self._remote(rel)))

    def is_dir(self, rel: str = "") -> bool:
        if not self.remote:
            return (Path(self.root) / rel).is_dir()
        self.fs.invalidate_cache(self._remote(rel))
        return bool(self.fs.isdir(self._remote(rel)))

    def read_bytes(self, rel: str) -> bytes:
        """A whole object; FileNotFoundError when it is not there."""
        if not self.remote:
            return (Path(self.root) / rel).read_bytes()
        return self.fs.cat_file(self._remote(rel))

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8")

    def read_many(self, rels: list[str]) -> list[bytes]:
        """Several whole objects (concurrently on object stores that support it)."""
        if not rels:
            return []
        if not self.remote:
            return [self.read_bytes(r) for r in rels]
        paths = [self._remote(r) for r in rels]
        got = self.fs.cat(paths, on_error="raise")
        return [got[p] for p in paths]

    def size(self, rel: str) -> int:
        if not self.remote:
            return (Path(self.root) / rel).stat().st_size
        return int(self.fs.size(self._remote(rel)))

    def sha256(self, rel: str) -> str:
        """Hex SHA-256 of one object, streamed (the same digest as ``checksums.sha256_file``)."""
        if not self.remote:
            from cloudbench.checksums import sha256_file

            return sha256_file(Path(self.root) / rel)
        digest = hashlib.sha256()
        with self.fs.open(self._remote(rel), "rb", block_size=8 * BLOCK) as fh:
            while chunk := fh.read(8 * BLOCK):
                digest.update(chunk)
        return digest.hexdigest()

    def list_files(self, rel: str = "") -> list[str]:
        """Every file under ``rel`` (recursively), as paths relative to this location, sorted."""
        if not self.remote:
            base = Path(self.root) / rel
            if not base.is_dir():
                return []
            out = []
            for folder, _dirs, names in os.walk(base):
                out.extend((Path(folder) / n).relative_to(self.root).as_posix() for n in names)
            return sorted(out)
        top = self._remote(rel)
        self.fs.invalidate_cache(top)  # other processes (workers) write here: never trust a cached listing
        try:
            found = self.fs.find(top, detail=False)
        except FileNotFoundError:
            return []
        prefix = self._path + "/"
        return sorted(p[len(prefix):] for p in found if p.startswith(prefix))

    def list_dir(self, rel: str = "") -> list[str]:
        """Names of the files directly in ``rel`` (an absent folder is empty)."""
        if not self.remote:
            base = Path(self.root) / rel
            return sorted(p.name for p in base.iterdir() if p.is_file()) if base.is_dir() else []
        self.fs.invalidate_cache(self._remote(rel))
        try:
            infos = self.fs.ls(self._remote(rel), detail=True)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(i["name"].rstrip("/")) for i in infos if i.get("type") == "file")

    def zarr_store(self, rel: str, *, read_only: bool = True):
        """What ``zarr.open_group`` takes for the group at ``rel``: a path, or an fsspec-backed store."""
        if not self.remote:
            return str(Path(self.root) / rel)
        from zarr.storage import FsspecStore

        # zarr drives its own asynchronous filesystem instance (fsspec's configuration applies)
        return FsspecStore.from_url(self.url(rel), storage_options=self.storage_options or None,
                                    read_only=read_only)

    # --- writing ----------------------------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write one whole object: a temporary name and a rename locally, one PUT on an object store."""
        if not self.remote:
            path = Path(self.root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(TMP_PREFIX + path.name)
            tmp.write_bytes(data)
            os.replace(tmp, path)
            return
        self.fs.pipe_file(self._remote(rel), data)

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def remove(self, rel: str) -> None:
        """Remove a file or a whole folder at ``rel``; nothing happens when it is not there."""
        if not self.remote:
            path = Path(self.root) / rel
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            return
        target = self._remote(rel)
        found = self.list_files(rel)
        if found:
            self.fs.rm([self._remote(f) for f in found])
        elif self.fs.exists(target):
            self.fs.rm(target)
        self.fs.invalidate_cache(target)

    def put(self, local: str | Path, rel: str) -> None:
        """Copy a local file or folder to ``rel``, replacing what was there.

        Locally the copy lands under a temporary name and is renamed into place; on an object store
        the old objects are removed first and the new ones written under their final keys (the
        caller commits them afterwards with a ledger entry or a manifest).
        """
        local = Path(local)
        if not self.remote:
            dest = Path(self.root) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(TMP_PREFIX + dest.name)
            self._remove_local(tmp)
            if local.is_dir():
                shutil.copytree(local, tmp)
            else:
                shutil.copyfile(local, tmp)
            self._remove_local(dest)
            os.replace(tmp, dest)
            return
        self.remove(rel)
        if local.is_dir():
            files = sorted(p for p in local.rglob("*") if p.is_file())
            if files:
                self.fs.put([str(p) for p in files],
                            [self._remote(posixpath.join(rel, p.relative_to(local).as_posix())) for p in files])
        else:
            self.fs.put_file(str(local), self._remote(rel))
        self.fs.invalidate_cache(self._remote(rel))

    @staticmethod
    def _remove_local(path: Path) -> None:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def mkdir(self) -> None:
        """Make sure the folder exists (object stores have no folders: nothing to do there)."""
        if not self.remote:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def fetch(self, rel: str, dest: str | Path) -> Path:
        """Copy one object to a local file (written under a temporary name, then renamed)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(TMP_PREFIX + dest.name)
        if not self.remote:
            shutil.copyfile(Path(self.root) / rel, tmp)
        else:
            self.fs.get_file(self._remote(rel), str(tmp))
        os.replace(tmp, dest)
        return dest


def file_sha256(location: str | Path) -> str:
    """Hex SHA-256 of one file given by path or URL."""
    if not is_remote(location):
        from cloudbench.checksums import sha256_file

        return sha256_file(local_path(location))
    parent, name = str(location).rsplit("/", 1)
    return Location(parent).sha256(name)


@contextmanager
def local_staging(prefix: str) -> Iterator[Path]:
    """A local scratch folder (under ``TMPDIR``) removed afterwards, for data on its way to a store."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["Location", "file_sha256", "is_remote", "is_url", "join", "local_path", "local_staging", "name_of"]
