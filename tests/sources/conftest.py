"""Loopback archive servers for the download tests (implementations in cloudbench.sources.local_servers)."""

from __future__ import annotations

import pytest

from cloudbench.sources.local_servers import ArchiveHttpServer, MotoS3Server, SftpServer

TOKEN = "tok-3b1f-not-a-real-token"
DPC_USER, DPC_PASSWORD = "cs-user", "dpc-pw-8c2e"



@pytest.fixture(scope="session")
def s3_server():
    with MotoS3Server() as server:
        yield server


@pytest.fixture
def http_server():
    with ArchiveHttpServer(token=TOKEN, username="eduser", password="edpass") as server:
        yield server


@pytest.fixture
def sftp_root(tmp_path):
    root = tmp_path / "dpc"
    root.mkdir()
    return root


@pytest.fixture
def sftp_server(sftp_root):
    with SftpServer(sftp_root, DPC_USER, DPC_PASSWORD) as server:
        yield server
