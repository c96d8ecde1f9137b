"""Run independent jobs serially, on a local dask cluster or on an existing one, resuming from the ledger.

Workers write their job's files themselves (PAIRS/ must be reachable from them: a shared folder,
or an object-store URL that needs no shared disk) and return the ledger entry; only this driver
writes the ledger, so entries never interleave and a job counts as done only once the driver has
its result. Jobs already in the ledger are not run again, which is what makes a killed run resumable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloudbench.collocate.pairs_store import append_ledger, clean_temporaries, read_ledger
from cloudbench.progress import progress_bar
from cloudbench.storage import Location, join

log = logging.getLogger(__name__)

JobFn = Callable[..., dict]


@contextmanager
def dask_client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A dask client for ``--scheduler ADDRESS`` or a LocalCluster of ``workers`` processes; None for serial."""
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            yield client
    elif workers and workers > 1:
        from distributed import Client, LocalCluster

        # one thread per process: jobs are numpy/bz2-heavy and each holds a job's worth of memory
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          env=local_worker_env(workers)) as cluster, Client(cluster) as client:
            yield client
    else:
        yield None


def local_worker_env(workers: int) -> dict[str, str]:
    """Environment of the worker processes of a local cluster: each decodes with its share of the CPUs.

    Every worker process sees all the machine's CPUs and would decode with as many threads; with
    several workers that oversubscribes the cores. Measured on 2 cores, 3 full-size jobs on 2 workers:
    0.54 jobs/min with 2 decode threads per worker, 0.94 with 1 (benchmarks/bench_collocate.py). A
    value the user set is kept (``default_decode_threads`` returns it).
    """
    from cloudbench.readers.slot_access import DECODE_THREADS_ENV, default_decode_threads

    return {DECODE_THREADS_ENV: str(default_decode_threads(workers))}


def is_complete(entry: dict) -> bool:
    """Whether a ledger entry needs no rerun: done, with every input read.

    Skipped jobs and jobs that lost a slot to an unreadable imager file are tried again by the next
    run into the same folder, so replacing the damaged file and rerunning completes the dataset.
    """
    return entry.get("status") == "done" and not entry.get("bad_files")


def run_jobs(
    jobs: Sequence[Any],
    job_fn: JobFn,
    out: str | Path,
    *,
    args: tuple = (),
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    on_entry: Callable[[dict], None] | None = None,
) -> tuple[dict[str, dict], int]:
    """Run ``job_fn(job, *args)`` for each job not yet in the ledger; append each result to it.

    ``job.job_id`` names a job; ``job_fn`` returns its ledger entry (with ``job_id`` and ``status``).
    Returns the whole ledger afterwards and the number of jobs found already complete (see
    :func:`is_complete`; the others are run again).
    """
    Location(str(out)).mkdir()
    clean_temporaries(out)
    finished = {k for k, e in read_ledger(out).items() if is_complete(e)}
    todo = [job for job in jobs if job.job_id not in finished]
    resumed = len(jobs) - len(todo)

    def record(entry: dict) -> None:
        append_ledger(out, entry)
        if on_entry is not None:
            on_entry(entry)

    bar = progress_bar(len(todo), "collocate", "job", enabled=progress)
    try:
        for entry in _execute(todo, job_fn, args, workers, scheduler):
            record(entry)
            bar.update(1)
    finally:
        bar.close()
    return read_ledger(out), resumed


def _execute(todo: Sequence[Any], job_fn: JobFn, args: tuple, workers: int | None,
             scheduler: str | None) -> Iterable[dict]:
    if not todo:
        return
    with dask_client(workers, scheduler) as client:
        if client is None:
            for job in todo:
                yield job_fn(job, *args)
            return
        from distributed import as_completed

        futures = [client.submit(job_fn, job, *args, key=f"collocate-{job.job_id}", pure=False) for job in todo]
        for future in as_completed(futures):
            yield future.result()


def collocate(
    archive: str | Path,
    cfg,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    quicklook: bool = True,
) -> dict:
    """The ``collocate`` stage: plan jobs from ARCHIVE/, run the missing ones, write the report
    (and, with ``quicklook``, PAIRS/quicklook.png; drawn for a local PAIRS/ only).

    ``archive`` and ``cfg.out`` may be folders or fsspec URLs; ``cfg.imager_source`` reads imagery
    in place instead of from ARCHIVE/.

    Raises ``PartialError`` (exit 3) after finishing every other job when some were skipped; the
    report lists each with its file and reason. A rerun with different options into a PAIRS/ that
    already holds jobs is refused: mixing configurations would make the pairs inconsistent.
    """
    from cloudbench.collocate.jobs import plan_jobs
    from cloudbench.collocate.pairing import collocate_job
    from cloudbench.collocate.pairs_store import CONFIG, write_json_atomic
    from cloudbench.collocate.report import build_report, write_report
    from cloudbench.errors import PartialError, UserError

    target = Location(cfg.out)
    out = cfg.out if target.remote else Path(cfg.out)
    config = cfg.to_json()
    config_path = join(out, CONFIG)
    with _writer_lock(target):
        if target.exists(CONFIG):
            previous = json.loads(target.read_text(CONFIG))
            if previous != json.loads(json.dumps(config, sort_keys=True, default=str)):
                raise UserError(
                    "this PAIRS folder was made with other collocate options",
                    fix=f"use a new --out folder, or rerun with the options in {config_path}",
                )
        jobs = plan_jobs(archive, cfg.labels, cfg.imager, cfg.max_dt_s, imager_source=cfg.imager_source)
        write_json_atomic(config_path, config)
        ledger, resumed = run_jobs(jobs, collocate_job, out, args=(cfg,), workers=workers, scheduler=scheduler,
                                   progress=progress)
        wanted = {job.job_id for job in jobs}
        report = build_report({k: v for k, v in ledger.items() if k in wanted}, resumed=resumed)
        if quicklook and report["pairs"] and not target.remote:
            report["quicklook"] = _quicklook(out)
        json_path, _ = write_report(out, report)
    if report["jobs_skipped"] or report["bad_imager_files"]:
        raise PartialError(
            f"{report['jobs_skipped']} of {len(jobs)} jobs skipped, {len(report['bad_imager_files'])} imager "
            f"files unreadable; {report['pairs']} pairs made (rerun into the same --out after replacing them)",
            skipped=report["skipped"] + report["bad_imager_files"], report=json_path,
        )
    return report


@contextmanager
def _writer_lock(target: Location) -> Iterator[None]:
    """One collocate per local PAIRS/ (flock); an object store has no lock: one driver per URL."""
    if target.remote:
        yield
        return
    from cloudbench.folder_lock import exclusive

    with exclusive(target.path, "collocate"):
        yield


def _quicklook(out: Path) -> str | None:
    """Draw PAIRS/quicklook.png; a figure that fails to draw is logged, never fails the run."""
    from cloudbench.collocate.quicklook import plot_quicklook

    try:
        path = plot_quicklook(out)
    except Exception as exc:  # matplotlib backends and fonts vary by machine
        log.warning("quick-look figure not drawn: %s: %s", type(exc).__name__, exc)
        return None
    return None if path is None else str(path)
