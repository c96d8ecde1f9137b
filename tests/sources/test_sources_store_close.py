"""A store closes the connections of the filesystem it made, on that filesystem's own event loop.

Left to the garbage collector, s3fs schedules the close on whatever event loop runs in the thread
that collects the filesystem (zarr runs one during collocation), where it fails with "attached to a
different loop" and prints a traceback into the user's log. ``download`` closes its catalogs' stores
when it ends; this checks that such a store then leaves nothing to go wrong later.
"""

from __future__ import annotations

import asyncio
import gc
import threading

from cloudbench.sources.noaa import NoaaBucketStore


def _drop_inside_another_event_loop(holder: dict) -> list[str]:
    """Garbage-collect ``holder['store']`` from a thread that runs an event loop of its own; return
    the errors that loop reported (what asyncio would otherwise print to stderr)."""
    errors: list[str] = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(
        f"{context.get('message')}: {context.get('exception')!r}"))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def drop() -> None:
        holder.clear()
        gc.collect()
        await asyncio.sleep(0.3)  # let anything the collection scheduled on this loop run
        gc.collect()

    try:
        asyncio.run_coroutine_threadsafe(drop(), loop).result(timeout=30)
        gc.collect()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
    return errors


def test_a_closed_store_is_collected_quietly_from_another_event_loop(s3_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    s3_server.put("noaa-closetest", "AHI-L1b-FLDK/a.DAT.bz2", b"x" * 1000)
    store = NoaaBucketStore(s3_server.endpoint)
    assert [e.relpath for e in store.list_dir("closetest/AHI-L1b-FLDK")] == ["closetest/AHI-L1b-FLDK/a.DAT.bz2"]
    store.close()
    assert store.list_dir("closetest/AHI-L1b-FLDK")  # still usable after a close: a new session opens
    store.close()

    holder = {"store": store}
    del store
    assert _drop_inside_another_event_loop(holder) == []


def test_a_store_on_a_shared_filesystem_leaves_its_connections_open(s3_server, monkeypatch):
    from cloudbench.sources.noaa import s3_filesystem

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    s3_server.put("noaa-closetest", "AHI-L1b-FLDK/b.DAT.bz2", b"y" * 10)
    fs = s3_filesystem(s3_server.endpoint)
    fs.ls("noaa-closetest/AHI-L1b-FLDK")
    session = fs._s3
    NoaaBucketStore(s3_server.endpoint, fs=fs).close()  # the caller owns fs: it decides when to close
    assert fs._s3 is session is not None
    NoaaBucketStore(s3_server.endpoint).close()  # a store's own filesystem, closed before first use
