"""A TCP delay line in front of a loopback server, so downloads meet a real endpoint's round trip.

Loopback answers in microseconds; a cloud endpoint takes tens of milliseconds per round trip. Code
that is fast on loopback can be slow there (one request after another, a new connection per file,
a listing per folder), so the loopback servers of :mod:`cloudbench.sources.local_servers` can sit
behind this proxy. Every chunk of bytes is delivered ``latency_s / 2`` after it arrived, in each
direction, and the first bytes of a new connection wait one more round trip (its handshake). So
each request-response exchange costs one round trip more, each new connection one more again, and
a long response streams at full speed once its first byte is there: the delay is per exchange, never
per byte (a delay line, not a throttle). The protocol is untouched, so it serves HTTP, S3 and SSH alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

LOOPBACK = "127.0.0.1"
CHUNK_BYTES = 256 * 1024
QUEUE_CHUNKS = 64  # chunks in flight per direction before the reader waits (bounded memory)


class LatencyProxy:
    """Listens on loopback and relays each connection to ``target`` with ``latency_s`` of round trip.

    Args:
        target: (host, port) of the server behind the proxy.
        latency_s: Round-trip time added to every exchange (half each way); 0.03 is a typical
            client-to-cloud-region round trip.
        port: Port to listen on (0: a free one).
    """

    def __init__(self, target: tuple[str, int], latency_s: float, port: int = 0):
        if latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s}")
        self.target = target
        self.latency_s = float(latency_s)
        self._requested_port = port
        self.port: int | None = None
        self.connections = 0  # accepted so far (tests and benchmarks count new connections)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task] = set()

    @property
    def address(self) -> tuple[str, int]:
        assert self.port is not None, "proxy not started"
        return LOOPBACK, self.port

    def start(self) -> LatencyProxy:
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self.port is None:
            raise RuntimeError("the latency proxy did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, LOOPBACK, self._requested_port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def _shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            loop.stop()

        asyncio.run_coroutine_threadsafe(_shutdown(), loop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = None

    def __enter__(self) -> LatencyProxy:
        return self.start() if self._loop is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- relaying -------------------------------------------------------------------------------
    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        loop = asyncio.get_running_loop()
        opened = loop.time()
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            self._tasks.discard(task)
            return
        for w in (client_w, server_w):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            # the client's first bytes cannot leave before its handshake's round trip
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pipe(client_r, server_w, opened + self.latency_s))
                group.create_task(self._pipe(server_r, client_w, opened))
        except* (OSError, asyncio.IncompleteReadError):
            pass  # a side reset the connection: close both
        except* asyncio.CancelledError:
            pass  # the proxy is stopping
        finally:
            for w in (client_w, server_w):
                w.close()
            self._tasks.discard(task)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, not_before: float) -> None:
        """Copy src to dst, each chunk delivered half a round trip after it arrived."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)
        half = self.latency_s / 2.0

        async def receive() -> None:
            while True:
                try:
                    data = await src.read(CHUNK_BYTES)
                except OSError:
                    data = b""
                await queue.put((max(loop.time(), not_before) + half, data))
                if not data:
                    return

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if dst.can_write_eof():
                        with contextlib.suppress(OSError):
                            dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()

        async with asyncio.TaskGroup() as group:  # one side failing cancels the other
            group.create_task(receive())
            group.create_task(deliver())
