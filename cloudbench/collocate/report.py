"""The run report: what every job did, summed from the ledger, as JSON and as readable text.

It is rebuilt from the ledger (not from the jobs that ran this time), so a resumed run reports the
whole dataset, including jobs finished or skipped by an earlier, killed run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cloudbench.collocate.pairs_store import write_json_atomic, write_text_atomic

REPORT_JSON = "report.json"
REPORT_TXT = "report.txt"

DROP_RULES = (
    "invalid_position", "region", "day_night", "off_disk", "sat_zenith", "time", "not_in_patch", "imager_file",
)  # fmt: skip
"""Why a profile does not end up in a sample, in the order the rules are applied."""


def build_report(ledger: dict[str, dict], *, resumed: int = 0) -> dict:
    """Sum the ledger's lines: jobs done and skipped (reason, file), pairs, drops per rule."""
    done = [e for e in ledger.values() if e.get("status") == "done"]
    skipped = [e for e in ledger.values() if e.get("status") == "skipped"]
    dropped: Counter = Counter({rule: 0 for rule in DROP_RULES})
    for entry in done:
        dropped.update(entry.get("dropped", {}))
    return {
        "jobs_total": len(ledger),
        "jobs_done": len(done),
        "jobs_skipped": len(skipped),
        "jobs_resumed_from_ledger": resumed,
        "pairs": sum(int(e.get("n_samples", 0)) for e in done),
        "profiles_read": sum(int(e.get("n_profiles", 0)) for e in done),
        "profiles_in_pairs": sum(int(e.get("n_profiles_used", 0)) for e in done),
        "profiles_hidden": sum(int(e.get("n_profiles_hidden", 0)) for e in done),
        "dropped": dict(dropped),
        "skipped": sorted(
            ({"job_id": e["job_id"], "file": e.get("file"), "reason": e.get("reason")} for e in skipped),
            key=lambda d: d["job_id"],
        ),
        "bad_imager_files": sorted(
            ({"job_id": e["job_id"], **bad} for e in done for bad in e.get("bad_files", [])),
            key=lambda d: (d["job_id"], d["file"]),
        ),
    }


def render_text(report: dict) -> str:
    """A short human summary of :func:`build_report`'s dict."""
    lines = [
        f"jobs: {report['jobs_done']} done, {report['jobs_skipped']} skipped "
        f"({report['jobs_resumed_from_ledger']} already finished before this run)",
        f"pairs made: {report['pairs']}",
        f"profiles read: {report['profiles_read']}, in pairs: {report['profiles_in_pairs']} "
        f"({report.get('profiles_hidden', 0)} of them under a higher cloud's image in their pixel, not voting)",
        "profiles dropped by rule:",
    ]
    dropped = report["dropped"]
    rules = [r for r in DROP_RULES if r in dropped] + sorted(set(dropped) - set(DROP_RULES))
    lines += [f"  {rule:<18} {dropped[rule]}" for rule in rules]  # in the order the rules apply
    if report["skipped"]:
        lines.append("skipped jobs:")
        lines += [f"  {s['job_id']}: {s['file']}: {s['reason']}" for s in report["skipped"]]
    if report.get("quicklook"):
        lines.append(f"quick look: {report['quicklook']} (the cloudiest samples, track drawn on the IR patch)")
    if report.get("bad_imager_files"):
        lines.append("unreadable imager files (their slot was left out, its profiles count under 'time', or under "
                     "'imager_file' when found while cutting patches; replace them and rerun into the same --out):")
        lines += [f"  {b['job_id']}: {b['file']}: {b['reason']}" for b in report["bad_imager_files"]]
    return "\n".join(lines) + "\n"


def write_report(root: str | Path, report: dict) -> tuple[str | Path, str | Path]:
    """report.json and report.txt in PAIRS/ (a folder or a URL); returns where they are."""
    from cloudbench.storage import join

    paths = join(root, REPORT_JSON), join(root, REPORT_TXT)
    write_json_atomic(paths[0], report)
    write_text_atomic(paths[1], render_text(report))
    return paths
