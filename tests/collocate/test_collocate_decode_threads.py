"""Local cluster workers decode with their share of the CPUs, not each with all of them."""

from __future__ import annotations

import os

from cloudbench.collocate.run import dask_client, local_worker_env
from cloudbench.readers.slot_access import DECODE_THREADS_ENV, default_decode_threads


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def test_each_worker_gets_its_share(monkeypatch):
    monkeypatch.delenv(DECODE_THREADS_ENV, raising=False)
    cpus = _cpus()
    assert default_decode_threads() == min(4, cpus)
    for workers in (1, 2, 3, 64):
        share = int(local_worker_env(workers)[DECODE_THREADS_ENV])
        assert share == max(1, min(4, cpus // workers))
        assert share * workers <= max(cpus, workers)  # never more decode threads than cores, beyond 1 each


def test_a_value_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv(DECODE_THREADS_ENV, "3")
    assert local_worker_env(8) == {DECODE_THREADS_ENV: "3"}
    assert default_decode_threads(8) == 3


def _threads_in_worker() -> tuple[str | None, int]:
    from cloudbench.readers.slot_access import DECODE_THREADS_ENV, default_decode_threads

    return os.environ.get(DECODE_THREADS_ENV), default_decode_threads()


def test_local_cluster_workers_see_their_share(monkeypatch):
    monkeypatch.delenv(DECODE_THREADS_ENV, raising=False)
    expected = max(1, min(4, _cpus() // 2))
    with dask_client(2, None) as client:
        seen = client.run(_threads_in_worker)
    assert len(seen) == 2
    assert all(v == (str(expected), expected) for v in seen.values())
