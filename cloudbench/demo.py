"""The offline demo: a synthetic archive served on loopback, then the very commands a user runs.

``run_demo`` renders a seeded synthetic ARCHIVE/ (real file names, formats and layout) into
``OUT/source``, serves it the way the real archives are served (S3 buckets for the imagery, a
CMR-style search with a login for CALIPSO, SFTP for CloudSat; see
:func:`cloudbench.sources.local_servers.serve_archive`) and runs ``download``, ``collocate``,
``build-splits``, ``verify``, ``train-baseline`` and ``evaluate`` through the same Click commands as
the terminal does. Nothing here is a shortcut of a stage: if the demo passes, the chain works.

Why every other day: splits take whole days and keep a guard day between a training day and an
evaluation day; with days two apart no day is lost to a guard, so a few days fill all three splits.
Why one pass per day: an A-Train pass crosses the paper region in about 33 minutes and yields some 70
patches of 16 x 16 pixels at reduction 10; writing the imager slots around it is the demo's main cost.

:func:`build_synthetic_benchmark` is the same chain without servers and training (synthetic archive
-> collocate -> build-splits), for tests that need a DATASET/ made by the real pipeline.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cloudbench.config import REGIONS, Region
from cloudbench.errors import UserError

Echo = Callable[[str], None]

DEMO_IMAGER = "himawari"
DEMO_LABELS = "cldclass-lidar"
PAPER_DAY = date(2018, 10, 1)  # the paper's period (Oct-Dec 2018, CloudSat back with CALIPSO)
DAY_STEP = 2  # days apart: no day is lost to the one-day guard between splits
MIN_DAYS = 3  # train, val and test need one day each
MAX_DAYS = 45  # every other day of three months
MAX_DT_S = 300.0
PASS_MARGIN_S = 60.0
# Bands on the sample grid are cheap to render (finer visible bands cost 4x and 2x more); these
# wavelengths carry the phase signal: 1.6 um reflectance (lower for ice), the 8.6-11 um difference
# and the split window (sign of ice), and the 10.4 um cloud-top temperature. Each imager's nearest
# bands are used (AHI: B05, B11, B13, B14, B15).
DEMO_WAVELENGTHS_UM = (1.6, 8.6, 10.4, 11.2, 12.3)
TINY_WAVELENGTHS_UM = (1.6, 10.4, 11.2)


def bands_near(imager: str, wavelengths_um: Sequence[float]) -> tuple[str, ...]:
    """The imager's band nearest each wavelength (sample-grid bands first: cheaper to render)."""
    from cloudbench.sensors.registry import imager_for_position

    product = imager_for_position(imager)
    out: list[str] = []
    for target in wavelengths_um:
        name = min(product.bands, key=lambda n: (abs(product.bands[n].wavelength_um - target),
                                                 product.bands[n].resolution_km < product.grid_km))
        if name not in out:
            out.append(name)
    return tuple(out)


def demo_region(imager: str) -> Region:
    """The demo's region for an imager: the paper's box for Himawari, else a box of the same size
    around the imager's sub-satellite point."""
    from cloudbench.sensors.registry import imager_for_position, positions

    if imager == DEMO_IMAGER:
        return REGIONS["paper"]
    product = imager_for_position(imager)
    lon = product.sub_lon[positions()[imager][-1].platform]
    return Region(round(lon - 30.0, 1), -60.0, round(lon + 30.0, 1), 60.0, name=f"{imager}-demo", imager=imager)


def _overlap(imager: str, labels: str) -> tuple[date, date | None] | None:
    """The span in which the imager position and the label product both have data (None: never)."""
    from cloudbench.sensors.registry import label_product, positions

    lab_start, lab_end = label_product(labels).operational
    periods = positions()[imager]
    start = max(lab_start, min(p.start for p in periods)).date()
    ends = [e.date() for e in (lab_end, None if any(p.end is None for p in periods) else max(p.end for p in periods))
            if e is not None]
    end = min(ends) if ends else None
    if end is not None and end < start + timedelta(days=31 + DAY_STEP * MIN_DAYS):
        return None
    return start, end


def default_labels(imager: str) -> str:
    """CloudSat for imagers that flew with it (the paper's product), else the first label product that
    flies with the imager (EarthCARE for the imagers launched after 2023)."""
    from cloudbench.sensors.registry import label_choices

    for key in (DEMO_LABELS, *label_choices()):
        if _overlap(imager, key) is not None:
            return key
    raise UserError(f"no label product flies with the {imager} imager")


def first_day(imager: str, labels: str) -> date:
    """The paper's first day when both sensors flew then, else the first of a month in which both fly."""
    from cloudbench.sensors.registry import label_product, positions

    label = label_product(labels)
    periods = positions()[imager]
    lab_start, lab_end = label.operational
    im_start = min(p.start for p in periods)
    im_end = None if any(p.end is None for p in periods) else max(p.end for p in periods)
    start = max(lab_start, im_start).date()
    ends = [e.date() for e in (lab_end, im_end) if e is not None]
    if start <= PAPER_DAY and all(PAPER_DAY + timedelta(days=DAY_STEP * MAX_DAYS) <= e for e in ends):
        return PAPER_DAY
    day = date(start.year + (start.month == 12), start.month % 12 + 1, 1)  # the next month's first day
    if ends and day + timedelta(days=DAY_STEP * MIN_DAYS) > min(ends):
        raise UserError(f"{labels} and the {imager} imager never flew together long enough for a demo")
    return day

SOURCE, ARCHIVE, PAIRS, DATASET, RUN = "source", "archive", "pairs", "dataset", "run"
STAMP = ".demo-source.json"  # written last into OUT/source: the archive is complete and reusable
MARKER = ".cloudbench-demo"  # marks OUT as a demo folder, which a rerun may clear


@dataclass(frozen=True)
class DemoSettings:
    """What the demo builds; everything the synthetic source depends on is in :meth:`source_key`.

    Eight days (six for training) and twelve epochs are the smallest default at which the trained
    SGMAGNet clearly beats both reference predictors (test macro F1 0.457 against 0.410 for the
    brightness-temperature rule and 0.243 for the majority class); the whole demo then runs in about
    2.5 minutes on two cores.
    """

    days: int = 8
    bands: tuple[str, ...] = ()  # empty: the imager's bands nearest DEMO_WAVELENGTHS_UM
    labels: str = ""  # empty: default_labels(imager)
    imager: str = DEMO_IMAGER
    reduction: int = 10
    full_size: bool = False
    patch_size: int = 16
    seed: int = 0
    epochs: int = 12
    batch_size: int = 8
    model: str = "sgmagnet"
    size: str = "small"
    first_date: date | None = None  # None: first_day(imager, labels)

    def __post_init__(self) -> None:
        if not MIN_DAYS <= self.days <= MAX_DAYS:
            raise UserError(f"--days must be between {MIN_DAYS} and {MAX_DAYS}, got {self.days}",
                            fix=f"train, val and test each need a day: use --days {MIN_DAYS} or more")
        from cloudbench.sensors.registry import imager_for_position, label_product

        product = imager_for_position(self.imager)
        if not self.labels:
            object.__setattr__(self, "labels", default_labels(self.imager))
        label = label_product(self.labels)  # an unknown product names the known ones
        if self.first_date is not None:
            self._check_both_fly(label.operational, product.positions[self.imager])
        if not self.bands:
            object.__setattr__(self, "bands", bands_near(self.imager, DEMO_WAVELENGTHS_UM))
        unknown = [b for b in self.bands if b not in product.bands]
        if unknown:
            raise UserError(f"--bands: {', '.join(unknown)} not {product.description} bands",
                            fix=f"choose from {','.join(product.band_names)}")
        if self.epochs < 1:
            raise UserError(f"--epochs must be at least 1, got {self.epochs}")

    def _check_both_fly(self, operational, periods) -> None:
        """UserError unless the label product and some platform of the imager position fly on every day."""
        last = self.first_date + timedelta(days=DAY_STEP * (self.days - 1))

        def flies(start: datetime, end: datetime | None, day: date) -> bool:
            return start.date() <= day and (end is None or day < end.date())

        for day in (self.first_date, last):
            if not (flies(*operational, day) and any(flies(p.start, p.end, day) for p in periods)):
                raise UserError(f"--first-day {self.first_date}: {self.labels} and the {self.imager} imager do not "
                                f"both fly on {day}",
                                fix=f"start on or after {first_day(self.imager, self.labels)}, or use fewer --days")

    @property
    def region(self) -> Region:
        return demo_region(self.imager)

    @property
    def region_spec(self) -> str:
        """The ``--region`` argument: a preset name or W,S,E,N."""
        r = self.region
        return r.name if r.name in REGIONS else ",".join(f"{v:g}" for v in r.bbox)

    @property
    def dates(self) -> list[date]:
        first = self.first_date or first_day(self.imager, self.labels)
        return [first + timedelta(days=DAY_STEP * i) for i in range(self.days)]

    @property
    def span(self) -> tuple[date, date]:
        """The download window: the first day to the day after the last (exclusive end)."""
        return self.dates[0], self.dates[-1] + timedelta(days=1)

    def source_key(self) -> dict[str, Any]:
        import cloudbench

        return {"days": [d.isoformat() for d in self.dates], "bands": list(self.bands), "labels": self.labels,
                "reduction": 1 if self.full_size else self.reduction, "full_size": self.full_size,
                "seed": self.seed, "region": self.region_spec, "imager": self.imager, "max_dt_s": MAX_DT_S,
                "cloudbench": cloudbench.__version__}


@dataclass
class DemoResult:
    """Where everything went, what evaluate measured, and which loopback ports the servers used."""

    out: Path
    settings: DemoSettings
    evaluation: dict[str, Any]  # the metrics.json document written by ``evaluate``
    figures: list[Path]
    ports: tuple[int, ...]
    commands: list[str] = field(default_factory=list)  # as a user would type them
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # this process's CPU time per stage

    @property
    def source(self) -> Path:
        return self.out / SOURCE

    @property
    def archive(self) -> Path:
        return self.out / ARCHIVE

    @property
    def pairs(self) -> Path:
        return self.out / PAIRS

    @property
    def dataset(self) -> Path:
        return self.out / DATASET

    @property
    def run(self) -> Path:
        return self.out / RUN

    @property
    def table(self) -> str:
        return metrics_table(self.evaluation)


# --- the synthetic source ---------------------------------------------------------------------------
def _passes(region: Region, subpoint, start: np.datetime64, step_s: float = 10.0):
    """Intervals [enter, leave] of a day in which the label platform's ground track is in the region."""
    from cloudbench.synthetic import orbit

    times = orbit.sample_times(start, start + np.timedelta64(1, "D"), step_s)
    lat, lon = subpoint(times)
    inside = region.contains(lon, lat)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
    return [(times[a], times[b - 1]) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def daytime_pass(day: date, settings: DemoSettings | None = None) -> tuple[datetime, datetime]:
    """The longest daytime pass of the label platform on ``day`` over the demo region, as aware datetimes.

    Daytime (local solar time 06-18 at the pass centre) keeps the 1.6 um band meaningful and matches
    CloudSat's daylight-only operation since 2011.
    """
    from cloudbench.sensors.registry import label_product
    from cloudbench.synthetic.archive import _aware

    settings = settings or DemoSettings()
    subpoint = label_product(settings.labels).synthetic_subpoint
    start = np.datetime64(day.isoformat(), "ns")
    best = None
    for enter, leave in _passes(settings.region, subpoint, start):
        mid = enter + (leave - enter) // 2
        _, lon = subpoint(np.array([mid]))
        hours = (mid - start) / np.timedelta64(1, "h")
        local = (hours + float(lon[0]) / 15.0) % 24.0
        if 6.0 <= local <= 18.0 and (best is None or leave - enter > best[1] - best[0]):
            best = (enter, leave)
    if best is None:
        raise UserError(f"no daytime pass of {settings.labels} over the {settings.imager} demo region on {day}")
    margin = timedelta(seconds=PASS_MARGIN_S)
    return _aware(best[0]) - margin, _aware(best[1]) + margin


def write_demo_source(source: str | Path, settings: DemoSettings, *, progress: bool = False) -> bool:
    """Write the synthetic ARCHIVE/ for ``settings`` into ``source``; reuse it if already complete.

    The archive is seeded, so the same settings give the same files: a rerun of the demo skips this,
    its slowest step. Returns True when it wrote the archive, False when it reused one.
    """
    from cloudbench.synthetic.archive import write_archive

    source = Path(source)
    key = settings.source_key()
    stamp = source / STAMP
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == key:
        return False
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    days = settings.dates
    bar = _bar(len(days), "synthetic archive", "day", progress)
    try:
        for day in days:
            start, end = daytime_pass(day, settings)
            write_archive(source, start=start, end=end, region=settings.region, imager=settings.imager,
                          labels=(settings.labels,), bands=list(settings.bands), reduction=settings.reduction,
                          seed=settings.seed, max_dt_s=MAX_DT_S, full_size=settings.full_size)
            bar.update(1)
    finally:
        bar.close()
    (source / "cloudsat").mkdir(exist_ok=True)  # the SFTP server serves this folder, even if empty
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(key, indent=2), encoding="utf-8")
    os.replace(tmp, stamp)
    return True


def _bar(total: int, desc: str, unit: str, progress: bool):
    from cloudbench.progress import progress_bar

    return progress_bar(total, desc, unit, enabled=progress)


# --- the commands -------------------------------------------------------------------------------------
def collocate_args(archive: Path, pairs: Path, settings: DemoSettings, progress: bool) -> list[str]:
    args = ["collocate", "--archive", str(archive), "--region", settings.region_spec, "--out", str(pairs),
            "--labels", settings.labels, "--imager", settings.imager, "--bands", ",".join(settings.bands),
            "--patch-size", str(settings.patch_size), "--max-dt", f"{MAX_DT_S:g}"]
    return args + _no_progress(progress)


def build_splits_args(pairs: Path, dataset: Path, settings: DemoSettings, progress: bool = False) -> list[str]:
    return ["build-splits", "--pairs", str(pairs), "--out", str(dataset), "--seed", str(settings.seed),
            *_no_progress(progress)]


def _no_progress(progress: bool) -> list[str]:
    return [] if progress else ["--no-progress"]


def run_command(args: Sequence[str], echo: Echo | None = None) -> str:
    """Run ``cloudbench ARGS`` in this process through the CLI group; return (and echo) what it printed.

    Errors propagate as the command raised them (CloudbenchError, click exceptions, KeyboardInterrupt),
    so the caller's exit code is the command's. Progress bars go to stderr, untouched.
    """
    from cloudbench.cli import cli

    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            cli.main(args=list(args), prog_name="cloudbench", standalone_mode=False)
    finally:
        text = buffer.getvalue().rstrip("\n")
        if echo is not None and text:
            echo(text)
    return text


def shell_line(args: Sequence[str]) -> str:
    import shlex

    return "cloudbench " + " ".join(shlex.quote(a) for a in args)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block and restore the previous values afterwards."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _prepare_out(out: Path) -> None:
    """OUT must be new, empty, or a previous demo's folder (whose stage outputs are then cleared)."""
    if out.exists() and not out.is_dir():
        raise UserError("is not a folder", path=out, fix="give --out a new folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UserError("exists and is not a cloudbench demo folder", path=out,
                        fix="give --out a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()
    for name in (ARCHIVE, PAIRS, DATASET, RUN):
        if (out / name).exists():
            shutil.rmtree(out / name)


class _Stages:
    """Numbers the stages, echoes each command as typed, and times it (wall clock and this process's CPU
    time: on a shared machine the wall clock says more about the neighbours than about the demo)."""

    def __init__(self, total: int, echo: Echo | None):
        self.total, self.echo, self.n = total, echo, 0
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self.commands: list[str] = []

    @contextlib.contextmanager
    def stage(self, name: str, what: str) -> Iterator[None]:
        self.n += 1
        self.say(f"\n[{self.n}/{self.total}] {name}: {what}")
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        self.seconds[name] = round(time.perf_counter() - t0, 2)
        self.cpu_seconds[name] = round(time.process_time() - c0, 2)
        self.say(f"[{self.n}/{self.total}] {name} done in {self.seconds[name]:.1f} s "
                 f"(CPU {self.cpu_seconds[name]:.1f} s)")

    def command(self, name: str, args: Sequence[str]) -> str:
        line = shell_line(args)
        self.commands.append(line)
        with self.stage(name, line):
            return run_command(args, self.echo)

    def say(self, text: str) -> None:
        if self.echo is not None:
            self.echo(text)


def run_demo(
    out: str | Path,
    days: int = DemoSettings.days,
    full_size: bool = False,
    epochs: int = DemoSettings.epochs,
    progress: bool = True,
    *,
    bands: Sequence[str] = (),
    labels: str = "",
    imager: str = DEMO_IMAGER,
    seed: int = 0,
    first_date: date | None = None,
    echo: Echo | None = None,
    on_servers: Callable[[Any], None] | None = None,
) -> DemoResult:
    """Build, train and evaluate the benchmark offline; the servers stop when this returns or raises.

    Args:
        out: Demo folder: ``source/`` (synthetic archive, kept for reruns), ``archive/``, ``pairs/``,
            ``dataset/``, ``run/``. Must be new, empty or an earlier demo folder.
        days: Days of data (every other day from 2018-10-01, or the first month both sensors fly; one
            daytime pass each); at least 3.
        full_size: Real 5500 x 5500 disks instead of the reduced geometry (slow, gigabytes).
        epochs: Training epochs of SGMAGNet (small).
        progress: Progress bars on stderr.
        bands: Imager bands to write, download and collocate (default: the phase-signal bands).
        labels: A label product (``cldclass-lidar``: CloudSat over SFTP; ``vfm``: CALIPSO over the
            CMR-style server; ...).
        imager: An imager position (``himawari``, ``goes-east``, ...).
        seed: Seeds the synthetic scene, the splits and the training.
        first_date: The first day (default: :func:`first_day`, as ``days`` says).
        echo: Receives every line to show (stages, commands, their output); None shows nothing.
        on_servers: Called with the served endpoints once the servers are up (tests use the ports).

    Raises:
        CloudbenchError: the error of the stage that failed (its exit code is the demo's).
    """
    from cloudbench.sources.local_servers import serve_archive

    settings = DemoSettings(days=days, bands=tuple(b.upper() for b in bands), labels=labels, imager=imager,
                            full_size=full_size, seed=seed, epochs=epochs, first_date=first_date)
    out = Path(out)
    _prepare_out(out)
    stages = _Stages(8, echo)
    source, archive, pairs, dataset, run = (out / n for n in (SOURCE, ARCHIVE, PAIRS, DATASET, RUN))
    first, stop = settings.span
    with stages.stage("synthetic archive", f"{settings.days} days from {first} (every other day), "
                      f"{settings.region_spec} region, {settings.imager} {','.join(settings.bands)}, "
                      f"{settings.labels} -> {source}"):
        wrote = write_demo_source(source, settings, progress=progress)
        if not wrote:
            stages.say(f"reusing the complete synthetic archive in {source}")

    with contextlib.ExitStack() as servers:  # the servers stop when this block ends, however it ends
        with stages.stage("serve", f"{source} on loopback: S3, CMR-style HTTP, SFTP, STAC and Data Store servers"):
            endpoints = servers.enter_context(serve_archive(source))
            stages.say(f"S3 (NOAA buckets) {endpoints.s3_endpoint}, CMR/ASDC {endpoints.cmr_url}, "
                       f"SFTP (CloudSat DPC) {endpoints.dpc_host}:{endpoints.dpc_port}, STAC (ESA MAAP) {endpoints.maap_url}, "
                       f"EUMETSAT Data Store {endpoints.datastore_url}; "
                       f"logins in {', '.join(endpoints.env())}")
        if on_servers is not None:
            on_servers(endpoints)
        download = ["download", "--start", first.isoformat(), "--end", stop.isoformat(),
                    "--region", settings.region_spec, "--imager", settings.imager, "--labels", settings.labels,
                    "--bands", ",".join(settings.bands),
                    "--geometry-reduction", str(1 if full_size else settings.reduction), "--out", str(archive),
                    *endpoints.download_args(), *_no_progress(progress)]
        with _environment(endpoints.env()):
            stages.command("download", download)
    stages.say(f"servers stopped (ports {', '.join(map(str, endpoints.ports))} closed)")

    stages.command("collocate", collocate_args(archive, pairs, settings, progress))
    stages.command("build-splits", build_splits_args(pairs, dataset, settings, progress))
    stages.command("verify", ["verify", str(dataset)])
    stages.command("train-baseline", ["train-baseline", "--dataset", str(dataset), "--model", settings.model,
                                      "--size", settings.size, "--epochs", str(settings.epochs),
                                      "--batch-size", str(settings.batch_size), "--seed", str(settings.seed),
                                      "--out", str(run), *_no_progress(progress)])
    checkpoint = run / "checkpoints" / "best.pt"
    stages.command("evaluate", ["evaluate", "--dataset", str(dataset), "--checkpoint", str(checkpoint),
                                "--split", "test", *_no_progress(progress)])
    evaluation_dir = run / "eval-test"
    doc = json.loads((evaluation_dir / "metrics.json").read_text(encoding="utf-8"))
    figures = [evaluation_dir / f for f in doc.get("figures", [])]
    figures.append(dataset / "summary.png")
    result = DemoResult(out, settings, doc, [f for f in figures if f.exists()], tuple(endpoints.ports),
                        stages.commands, stages.seconds, stages.cpu_seconds)
    (out / "demo.json").write_text(json.dumps(
        {"settings": asdict(settings), "commands": result.commands, "seconds": result.seconds,
         "cpu_seconds": result.cpu_seconds,
         "figures": [str(f) for f in result.figures], "ports": list(result.ports)}, indent=2, default=str),
        encoding="utf-8")
    return result


# --- the metrics table ------------------------------------------------------------------------------
def _f(value: Any) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def metrics_table(doc: dict[str, Any]) -> str:
    """A terminal table of an ``evaluate`` document: per class, the averages, the reference predictors.

    Every number comes from the one confusion matrix in the document (see ``train.metrics``).
    """
    m = doc["metrics"]
    name = doc.get("model", {}).get("name", "model")
    lines = [f"{name} on the {doc.get('split', 'test')} split: {doc.get('samples')} samples, "
             f"{m['labeled_voxels']} labelled voxels",
             f"{'':<14}{'precision':>10}{'recall':>8}{'F1':>8}{'IoU':>8}{'support':>10}"]
    for cls, s in m["per_class"].items():
        lines.append(f"{cls:<14}{_f(s['precision']):>10}{_f(s['recall']):>8}{_f(s['f1']):>8}{_f(s['iou']):>8}"
                     f"{s['support']:>10}")
    for key in ("macro_all", "macro_cloud", "micro_all", "cloud_mask"):
        s = m[key]
        lines.append(f"{key:<14}{_f(s['precision']):>10}{_f(s['recall']):>8}{_f(s['f1']):>8}{_f(s['iou']):>8}")
    lines.append(f"{'accuracy':<14}{_f(m['accuracy']):>10}")
    lines += ["", f"{'predictor':<24}{'macro F1':>10}{'cloud F1':>10}{'mask F1':>10}{'accuracy':>10}"]
    rows = [(name, m)] + [(k, b["metrics"]) for k, b in (doc.get("baselines") or {}).items()]
    for label, bm in rows:
        lines.append(f"{label:<24}{_f(bm['macro_all']['f1']):>10}{_f(bm['macro_cloud']['f1']):>10}"
                     f"{_f(bm['cloud_mask']['f1']):>10}{_f(bm['accuracy']):>10}")
    return "\n".join(lines)


# --- for tests: the pipeline without servers --------------------------------------------------------
def build_synthetic_benchmark(
    out: str | Path,
    *,
    days: int = MIN_DAYS + 1,
    bands: Sequence[str] = (),
    labels: str = "",
    imager: str = DEMO_IMAGER,
    reduction: int = 10,
    patch_size: int = 16,
    seed: int = 0,
    levels: str | None = None,
    first_date: date | None = None,
    progress: bool = False,
) -> Path:
    """Synthetic archive -> collocate -> build-splits into ``out`` (no servers, no training); returns DATASET/.

    The archive goes to ``out/source`` with the demo's layout and stamp, so a demo with the same
    days, bands, labels and seed can reuse it; collocate and build-splits run through the CLI group
    exactly as the demo runs them. ``levels`` ("START:STOP:STEP" in km, collocate's ``--levels``)
    replaces the default height grid, e.g. a coarser grid for a benchmark that must train in seconds.
    ``first_date`` starts the days elsewhere than :func:`first_day` (e.g. after a platform hand-over).
    """
    settings = DemoSettings(days=days, bands=tuple(bands) or bands_near(imager, TINY_WAVELENGTHS_UM), labels=labels,
                            imager=imager, reduction=reduction, patch_size=patch_size, seed=seed,
                            first_date=first_date)
    out = Path(out)
    source, pairs, dataset = out / SOURCE, out / PAIRS, out / DATASET
    write_demo_source(source, settings, progress=progress)
    for path in (pairs, dataset):
        if path.exists():
            shutil.rmtree(path)
    grid_args = [] if levels is None else ["--levels", levels]
    run_command(collocate_args(source, pairs, settings, progress) + grid_args)
    run_command(build_splits_args(pairs, dataset, settings, progress))
    return dataset


__all__ = [
    "DEMO_WAVELENGTHS_UM",
    "DemoResult",
    "DemoSettings",
    "build_synthetic_benchmark",
    "daytime_pass",
    "metrics_table",
    "run_demo",
    "write_demo_source",
]
