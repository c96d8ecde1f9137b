"""Run every benchmark module and collect their JSON in one folder (``make bench``).

Each ``benchmarks/bench_*.py`` is a module with a ``main(argv)`` that accepts ``--out FILE``.
A benchmark that fails is reported and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import benchmarks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON results")
    parser.add_argument("--only", default=None, help="comma-separated benchmark names (without bench_)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to benchmarks that accept it")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if args.only:
        wanted = {f"bench_{n.strip()}" for n in args.only.split(",")}
        names = [n for n in names if n in wanted]
    summary = {}
    for name in names:
        t0 = time.perf_counter()
        target = out / f"{name.removeprefix('bench_')}.json"
        bench_args = ["--out", str(target)] + (["--quick"] if args.quick else [])
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            module.main(bench_args)
            summary[name] = {"status": "ok", "seconds": round(time.perf_counter() - t0, 2), "json": str(target)}
        except SystemExit as exc:
            ok = exc.code in (0, None)
            summary[name] = {"status": "ok" if ok else f"exit {exc.code}", "seconds": round(time.perf_counter() - t0, 2)}
        except Exception:  # keep going: one broken benchmark must not hide the others
            summary[name] = {"status": "error", "error": traceback.format_exc(limit=3)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0 if all(v["status"] == "ok" for v in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
