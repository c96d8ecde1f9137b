"""CloudSat 2B-CLDCLASS-LIDAR granules from the CloudSat DPC's SFTP server (user's account).

The DPC keeps ``Data/2B-CLDCLASS-LIDAR.P1_R05/YYYY/DDD/``; ARCHIVE/ keeps the same below
``cloudsat/``. SFTP listings give sizes but no checksums, so files are verified by size and the
ledger records the sha256 computed on arrival. One SSH transport is shared; each worker thread opens
its own SFTP channel on it, because a paramiko SFTPClient serialises requests and would make the
pool sequential.
"""

from __future__ import annotations

import logging
import posixpath
import socket
import stat
import threading

import paramiko

from cloudbench.errors import CredentialsError
from cloudbench.sensors.cloudsat_cldclass_lidar import DEFAULT_COLLECTION_RELEASE as CLDCLASS_RELEASE
from cloudbench.sensors.cloudsat_cldclass_lidar import cldclass_layout
from cloudbench.sources.base import CHUNK_BYTES, ByteStream, NotFoundError, TransientError
from cloudbench.sources.credentials import SftpCredentials, dpc_fix
from cloudbench.sources.fsroot import DirectoryCatalog, Entry, Store

log = logging.getLogger(__name__)

DPC_HOST = "www.cloudsat.cira.colostate.edu"
DPC_PORT = 22
DPC_DATA_DIR = "Data"  # the DPC's top folder; ARCHIVE/ names it "cloudsat"
ARCHIVE_TOP = "cloudsat"
CONNECT_TIMEOUT_S = 20.0


class DpcSftpStore(Store):
    """ARCHIVE/ ``cloudsat/<product>/...`` <-> ``sftp://host/Data/<product>/...``."""

    source = "cloudsat-dpc"

    def __init__(self, credentials: SftpCredentials, host: str = DPC_HOST, port: int = DPC_PORT, data_dir: str = DPC_DATA_DIR):
        self.credentials = credentials
        self.host, self.port, self.data_dir = host, port, data_dir.strip("/")
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._local = threading.local()
        self._clients: list[paramiko.SFTPClient] = []

    # --- connection -----------------------------------------------------------------------------
    def _connect(self) -> paramiko.Transport:
        with self._lock:
            if self._transport is not None and self._transport.is_active():
                return self._transport
            try:
                pkey = self._private_key()
                sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT_S)
                transport = paramiko.Transport(sock)
                if pkey is not None:
                    transport.connect(username=self.credentials.username, pkey=pkey)
                else:
                    password = self.credentials.password
                    transport.connect(username=self.credentials.username, password=password.reveal() if password else "")
            except paramiko.AuthenticationException:
                raise CredentialsError(
                    f"the CloudSat DPC at {self.host}:{self.port} refused the login of user {self.credentials.username!r}",
                    fix=dpc_fix(self.host),
                ) from None
            except (OSError, paramiko.SSHException) as exc:
                raise TransientError(f"cannot reach sftp://{self.host}:{self.port}: {exc}") from exc
            self._transport = transport
            self._local = threading.local()  # channels of a dead transport are dead too
            return transport

    def _private_key(self) -> paramiko.PKey | None:
        path = self.credentials.key_file
        if path is None:
            return None
        try:
            return paramiko.PKey.from_path(str(path))
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise CredentialsError(
                f"cannot use this SSH private key ({type(exc).__name__}: {exc})", path=path,
                fix="give an unencrypted OpenSSH or PEM private key whose public key is registered with the DPC account",
            ) from None

    def _sftp(self) -> paramiko.SFTPClient:
        client = getattr(self._local, "client", None)
        if client is not None and client.get_channel() is not None and not client.get_channel().closed:
            return client
        transport = self._connect()
        try:
            client = paramiko.SFTPClient.from_transport(transport)
        except (OSError, paramiko.SSHException) as exc:
            raise TransientError(f"sftp://{self.host}:{self.port}: cannot open a session: {exc}") from exc
        self._local.client = client
        with self._lock:
            self._clients.append(client)
        return client

    def _reset(self) -> None:
        """Drop the connection so the next call reconnects (after a dropped transport)."""
        with self._lock:
            if self._transport is not None:
                self._transport.close()
            self._transport = None
        self._local = threading.local()

    # --- paths --------------------------------------------------------------------------------
    def remote_path(self, relpath: str) -> str:
        rel = relpath.lstrip("/")
        if rel.startswith(ARCHIVE_TOP + "/"):
            rel = rel[len(ARCHIVE_TOP) + 1 :]
        return posixpath.join(self.data_dir, rel) if self.data_dir else rel

    def url(self, relpath: str) -> str:
        return f"sftp://{self.host}:{self.port}/{self.remote_path(relpath)}"

    # --- Store --------------------------------------------------------------------------------
    def list_dir(self, reldir: str) -> list[Entry]:
        try:
            attrs = self._sftp().listdir_attr(self.remote_path(reldir))
        except FileNotFoundError:
            return []
        except CredentialsError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._reset()
            raise TransientError(f"listing {self.url(reldir)} failed: {exc}") from exc
        return [
            Entry(f"{reldir}/{a.filename}", a.st_size, None)
            for a in attrs
            if a.st_mode is None or stat.S_ISREG(a.st_mode)
        ]

    def open_stream(self, relpath: str, offset: int = 0) -> ByteStream:
        url = self.url(relpath)
        try:
            f = self._sftp().open(self.remote_path(relpath), "rb")
            f.prefetch_enabled = False
            if offset:
                f.seek(offset)
        except FileNotFoundError as exc:
            raise NotFoundError(f"{url} not found") from exc
        except CredentialsError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._reset()
            raise TransientError(f"open {url} failed: {exc}") from exc

        def chunks():
            while True:
                try:
                    data = f.read(CHUNK_BYTES)
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    self._reset()
                    raise TransientError(f"{url}: connection lost ({exc})") from exc
                if not data:
                    return
                yield data

        def close():
            try:
                f.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass

        return ByteStream(chunks(), offset_honoured=True, close=close)

    def close(self) -> None:
        with self._lock:
            for c in self._clients:
                try:
                    c.close()
                except Exception:  # noqa: BLE001 - closing a dead channel may fail any way
                    pass
            self._clients.clear()
            if self._transport is not None:
                self._transport.close()
            self._transport = None


def dpc_catalog(
    credentials: SftpCredentials, host: str = DPC_HOST, port: int = DPC_PORT, release: str = CLDCLASS_RELEASE
) -> DirectoryCatalog:
    """2B-CLDCLASS-LIDAR granules on the CloudSat DPC's SFTP server."""
    return DirectoryCatalog(cldclass_layout(release), DpcSftpStore(credentials, host, port))
