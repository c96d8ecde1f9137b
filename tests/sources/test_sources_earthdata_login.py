"""The Earthdata login dance on loopback: a protected granule redirects to the login host's OAuth page,
which wants the username and password, then back to the data host with a code that buys a cookie.

Three real HTTP servers: the data host (127.0.0.1), the login host (reached as ``localhost``, another
host name to the HTTP client) and a third host (127.0.0.2) that records whether credentials reached it.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse

import pytest

from cloudbench.errors import CredentialsError
from cloudbench.sources.base import Item
from cloudbench.sources.credentials import EarthdataCredentials, Secret
from cloudbench.sources.earthdata import EarthdataCatalog

PAYLOAD = bytes(range(256)) * 400
USER, PASSWORD = "scientist", "s3cret"
CODE = "one-time-code"


class _Server:
    def __init__(self, host: str, handler):
        self.httpd = ThreadingHTTPServer((host, 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def hosts():
    seen_by_third: list[str | None] = []
    ports: dict[str, int] = {}

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def redirect(self, url: str, cookie: str | None = None):
            self.send_response(302)
            self.send_header("Location", url)
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", "0")
            self.end_headers()

    class Data(Quiet):
        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/login":  # back from the login host with the code
                q = parse_qs(url.query)
                if q.get("code") != [CODE]:
                    self.send_error(403)
                    return
                self.redirect(q["state"][0], cookie="asdc_session=granted; Path=/")
            elif url.path == "/elsewhere":
                self.redirect(f"http://127.0.0.2:{ports['third']}/echo")
            elif "asdc_session=granted" not in (self.headers.get("Cookie") or ""):
                back = quote(f"http://127.0.0.1:{ports['data']}/login", safe="")
                self.redirect(f"http://localhost:{ports['login']}/oauth/authorize?redirect_uri={back}"
                              f"&state={quote(url.path, safe='')}")
            else:
                start = 0
                if rng := self.headers.get("Range"):
                    start = int(rng.split("=")[1].split("-")[0])
                body = PAYLOAD[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

    class Login(Quiet):
        def do_GET(self):
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="Earthdata"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            q = parse_qs(urlparse(self.path).query)
            self.redirect(f"{q['redirect_uri'][0]}?code={CODE}&state={quote(q['state'][0], safe='')}")

    class Third(Quiet):
        def do_GET(self):
            seen_by_third.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    servers = {"data": _Server("127.0.0.1", Data), "login": _Server("127.0.0.1", Login),
               "third": _Server("127.0.0.2", Third)}
    ports.update({name: s.port for name, s in servers.items()})
    yield ports, seen_by_third
    for s in servers.values():
        s.close()


def _catalog(login_host: str) -> EarthdataCatalog:
    creds = EarthdataCredentials("test", username=USER, password=Secret(PASSWORD))
    return EarthdataCatalog(creds, login_host=login_host)


def _item(port: int, path: str = "/granule.hdf") -> Item:
    return Item("calipso/x.hdf", f"http://127.0.0.1:{port}{path}", len(PAYLOAD), None, "earthdata")


def test_granule_arrives_through_the_login_redirects(hosts):
    ports, _ = hosts
    catalog = _catalog("localhost")
    try:
        with catalog.open_stream(_item(ports["data"])) as stream:
            assert b"".join(stream) == PAYLOAD
        with catalog.open_stream(_item(ports["data"]), offset=1000) as resumed:  # a resumed download
            assert resumed.offset_honoured and b"".join(resumed) == PAYLOAD[1000:]
    finally:
        catalog.close()


def test_without_keeping_the_header_for_the_login_host_the_login_refuses(hosts):
    ports, _ = hosts
    catalog = _catalog("urs.elsewhere.invalid")  # the redirect to localhost is then an ordinary host change
    try:
        with pytest.raises(CredentialsError) as exc:
            catalog.open_stream(_item(ports["data"]))
        assert "401" in exc.value.message and exc.value.fix
    finally:
        catalog.close()


def test_credentials_never_follow_a_redirect_to_a_third_host(hosts):
    ports, seen_by_third = hosts
    catalog = _catalog("localhost")
    try:
        with catalog.open_stream(_item(ports["data"], "/elsewhere")) as stream:
            assert b"".join(stream) == b"ok"
    finally:
        catalog.close()
    assert seen_by_third == [None]
