"""Run ``cloudbench collocate`` on an existing dask.distributed cluster.

    python examples/collocate_on_cluster.py demo-out/archive pairs-cluster            # a local stand-in cluster
    python examples/collocate_on_cluster.py ARCHIVE PAIRS --scheduler tcp://HOST:8786  # your cluster

Collocation is split into independent jobs (one label granule and the imager slots it needs); with
``--scheduler`` each job is a task on the cluster, and the workers read ARCHIVE/ and write PAIRS/
themselves, so both paths must be the same on every worker (a shared file system). The job ledger
in PAIRS/ makes a rerun resume where a killed one stopped.

On a real cluster the scheduler and workers are usually started like this::

    dask scheduler --port 8786                                  # on the head node
    dask worker tcp://HEAD:8786 --nworkers 8 --nthreads 1       # on each compute node
    cloudbench collocate --archive /shared/ARCHIVE --region paper --out /shared/PAIRS \\
        --scheduler tcp://HEAD:8786

Without ``--scheduler`` this script starts a LocalCluster of worker processes and hands its address
to the very same command, so it shows the path a real cluster takes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", help="ARCHIVE/ folder (e.g. demo-out/archive)")
    parser.add_argument("pairs", help="PAIRS/ folder to write")
    parser.add_argument("--scheduler", default=None, help="address of a running scheduler, tcp://HOST:8786")
    parser.add_argument("--region", default="paper")
    parser.add_argument("--workers", type=int, default=2, help="processes of the stand-in cluster")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="further collocate options, e.g. --extra --bands B05,B13,B14 --patch-size 16")
    args = parser.parse_args()
    cloudbench = str(Path(sys.executable).with_name("cloudbench"))

    def collocate(address: str) -> int:
        cmd = [cloudbench, "collocate", "--archive", args.archive, "--region", args.region, "--out", args.pairs,
               "--scheduler", address, *args.extra]
        print("$", " ".join(cmd), flush=True)
        return subprocess.call(cmd)

    if args.scheduler:
        return collocate(args.scheduler)
    from distributed import LocalCluster

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        print(f"stand-in cluster at {cluster.scheduler_address} with {args.workers} workers", flush=True)
        return collocate(cluster.scheduler_address)


if __name__ == "__main__":
    sys.exit(main())
