"""A span written day by day (``cloudbench synth``) holds the very files ``write_archive`` writes, and resumes.

The span crosses midnight with a pass over the region at 23:51-00:01, so one day holds granules whose
last profiles fall in the next day, and the next day holds a slot chosen only because of that pass.

HDF4 files record the path they were created under (here the temporary ``<name>.part`` beside the
final file), so byte equality holds between archives written at the same path: the reference is
written, moved aside, and the streamed archive is written where it was.
"""

import hashlib
from datetime import date
from pathlib import Path

import pytest

from cloudbench.config import Region
from cloudbench.synthetic import stream
from cloudbench.synthetic.archive import write_archive
from cloudbench.synthetic.day_ledger import LEDGER_NAME
from cloudbench.synthetic.stream import SynthSettings, plan_days, stream_archive

ARGS = dict(start="2018-10-01T23:00", end="2018-10-02T01:00", region=Region(-165, -15, -150, 20),
            imager="himawari", bands=["B13"], max_dt_s=300, seed=5)
DAY1, DAY2 = date(2018, 10, 1), date(2018, 10, 2)
NOT_DATA = {LEDGER_NAME, ".cloudbench.lock"}


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in NOT_DATA}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream") / "ARCHIVE"
    reference = write_archive(root, **ARGS)
    expected = digests(root)
    root.rename(root.with_name("reference"))
    report = stream_archive(root, SynthSettings.create(**ARGS))
    return root, expected, reference, report


def test_plan_crosses_midnight():
    days = plan_days(SynthSettings.create(**ARGS))
    assert [d.day for d in days] == [DAY1, DAY2]
    assert sorted(g.product for g in days[0].granules) == ["cldclass-lidar", "vfm"]
    assert all(str(g.last) >= "2018-10-02" for g in days[0].granules)  # the pass runs past midnight
    assert days[1].granules == [] and len(days[1].slots) == 1  # a slot of day 2 near a pass of day 1


def test_streamed_files_are_write_archive_s_bytes(written):
    root, expected, reference, report = written
    assert len(expected) == len(reference.files["imager"]) + 2
    assert digests(root) == expected
    assert [(d.day, d.skipped, d.slots) for d in report.days] == [(DAY1, False, 2), (DAY2, False, 1)]
    assert sorted(p.name for p in report.files["imager"]) == sorted(p.name for p in reference.files["imager"])


def test_rerun_skips_complete_days_and_redoes_a_damaged_one(written):
    root, expected, _, _ = written
    settings = SynthSettings.create(**ARGS)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*.DAT.bz2")}
    assert len(stamps) == 3 * 10  # three slots of ten segments
    again = stream_archive(root, settings)
    assert [d.skipped for d in again.days] == [True, True]
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.DAT.bz2")} == stamps
    assert again.slots == 3 and len(again.files["imager"]) == len(written[3].files["imager"])

    day2_file = next(p for p in again.days[1].files["imager"])
    day2_file.write_bytes(day2_file.read_bytes()[:-10])  # damaged after the day was recorded
    redo = stream_archive(root, settings)
    assert [d.skipped for d in redo.days] == [True, False]
    assert digests(root) == expected

    other = SynthSettings.create(**{**ARGS, "seed": 6})  # other settings never trust these days
    assert all(stream.DayLedger(root).complete(d, other.key()) is None for d in (DAY1, DAY2))


def test_interrupted_run_resumes_to_the_same_bytes(written, monkeypatch):
    root, expected, _, _ = written
    (root / LEDGER_NAME).unlink()
    real = stream.write_slot
    calls = []

    def dies_on_second_slot(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # stands for a kill in the middle of day 1
        return real(*args, **kwargs)

    monkeypatch.setattr(stream, "write_slot", dies_on_second_slot)
    with pytest.raises(KeyboardInterrupt):
        stream_archive(root, SynthSettings.create(**ARGS))
    assert not (root / LEDGER_NAME).exists()  # day 1 is not complete: nothing may be trusted

    monkeypatch.setattr(stream, "write_slot", real)
    some = next(root.rglob("*.DAT.bz2"))
    stale = some.with_name(f".{some.name}.4242.part")
    stale.write_bytes(b"half a file")
    with (root / LEDGER_NAME).open("w") as f:
        f.write('{"day": "2018-10-01", "settings": {"torn')  # a line cut by a kill
    resumed = stream_archive(root, SynthSettings.create(**ARGS))
    assert [d.skipped for d in resumed.days] == [False, False]
    assert not stale.exists() and not list(root.rglob("*.part"))
    assert digests(root) == expected
    assert [d.skipped for d in stream_archive(root, SynthSettings.create(**ARGS)).days] == [True, True]


def test_bad_settings_raise_value_error():
    for bad, words in (({"imager": "meteosat"}, "imager"), ({"labels": ("radar",)}, "label"),
                       ({"bands": ["C13"]}, "AHI"), ({"end": "2018-10-01T22:00"}, "after")):
        with pytest.raises(ValueError, match=words):
            SynthSettings.create(**{**ARGS, **bad})

