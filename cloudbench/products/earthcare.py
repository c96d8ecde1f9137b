"""EarthCARE level-2 target classifications (AC__TC__2B, ATL_TC__2A, CPR_TC__2A): names, frames,
structure, fills and class tables (no I/O).

The reader, the synthetic writer, the catalog and the docs all import these names, so a synthetic file
has exactly the structure the reader expects and the class tables users read in docs/earthcare.md are
the ones the reader applies. Facts and what is inferred: docs/earthcare.md.

File names: ``ECA_<agency><latency><baseline>_<type>_<sensing start>Z_<processing start>Z_<orbit><frame>``,
e.g. ``ECA_EXAD_AC__TC__2B_20250617T050457Z_20250617T085638Z_05979B``. The second stamp is when the
processing started, not when the sensing ended. The archive keeps the ``.h5`` of each product; the
distribution ZIP and the ``.HDR`` XML header are not needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import NamedTuple

import numpy as np

from cloudbench.config import CLEAR, ICE, MIXED, UNLABELED, WATER

MISSION = "earthcare"  # first ARCHIVE/ folder
H5_SUFFIX = ".h5"

# --- time, fills --------------------------------------------------------------------------------
EPOCH = np.datetime64("2000-01-01T00:00:00", "ns")
"""``time`` is float64 seconds since this instant (UTC; leap seconds are not counted)."""
TIME_UNITS = "seconds since 2000-01-01 00:00:00"
FLOAT_FILL = 9.969209968386869e36  # the netCDF default fill of float variables
FILL_THRESHOLD = 1e36  # a float at or above this is fill (``time`` included)


def seconds_to_datetime64(seconds: np.ndarray) -> np.ndarray:
    """Seconds since :data:`EPOCH` -> datetime64[ns]; fill values and NaN become NaT."""
    s = np.asarray(seconds, dtype=np.float64)
    bad = ~np.isfinite(s) | (np.abs(s) >= FILL_THRESHOLD)
    ns = np.rint(np.where(bad, 0.0, s) * 1e9).astype(np.int64)
    out = EPOCH + ns.astype("timedelta64[ns]")
    out[bad] = np.datetime64("NaT")
    return out


def datetime64_to_seconds(times: np.ndarray) -> np.ndarray:
    """datetime64 -> float64 seconds since :data:`EPOCH` (microsecond resolution kept)."""
    return (np.asarray(times, dtype="datetime64[ns]") - EPOCH).astype(np.int64) / 1e9


# --- file names -------------------------------------------------------------------------------------
AGENCIES = {"E": "ESA", "J": "JAXA"}
LATENCIES = {"X": "offline", "N": "near real time", "O": "other"}
FILENAME_RE = re.compile(
    r"^ECA_(?P<agency>[EJ])(?P<latency>[XNO])(?P<baseline>[A-Z]{2})_(?P<type>[A-Z0-9_]{10})_"
    r"(?P<sensing>\d{8}T\d{6})Z_(?P<processing>\d{8}T\d{6})Z_(?P<orbit>\d{5})(?P<frame>[A-H])"
    r"(?P<suffix>\.h5|\.HDR|\.ZIP|\.zip)?$"
)
_STAMP = "%Y%m%dT%H%M%S"


@dataclass(frozen=True)
class EarthcareName:
    """What an EarthCARE product name says."""

    agency: str  # "E" (ESA) or "J" (JAXA)
    latency: str  # "X", "N" or "O"
    baseline: str  # processor baseline, two letters ("AD", "BA", ...)
    product_type: str  # "AC__TC__2B"
    sensing_start: datetime  # first sample of the frame, aware UTC
    processing_start: datetime  # when the processing started (NOT the sensing end), aware UTC
    orbit: int
    frame: str  # "A".."H"
    suffix: str  # ".h5", ".HDR", ".ZIP" or "" (the bare product name)

    @property
    def product_name(self) -> str:
        """The name without suffix: the product's identifier (and the STAC item id)."""
        return build_filename(self.product_type, self.sensing_start, self.orbit, self.frame,
                              baseline=self.baseline, processing_start=self.processing_start,
                              agency=self.agency, latency=self.latency, suffix="")

    @property
    def orbit_frame(self) -> str:
        return f"{self.orbit:05d}{self.frame}"


def parse_filename(name: str) -> EarthcareName | None:
    """Parse an EarthCARE product name (folders ignored); None when it is not one."""
    match = FILENAME_RE.match(PurePosixPath(str(name)).name)
    if match is None:
        return None
    sensing = datetime.strptime(match["sensing"], _STAMP).replace(tzinfo=UTC)
    processing = datetime.strptime(match["processing"], _STAMP).replace(tzinfo=UTC)
    return EarthcareName(match["agency"], match["latency"], match["baseline"], match["type"], sensing, processing,
                         int(match["orbit"]), match["frame"], match["suffix"] or "")


def build_filename(product_type: str, sensing_start: datetime, orbit: int, frame: str, *, baseline: str,
                   processing_start: datetime, agency: str = "E", latency: str = "X", suffix: str = H5_SUFFIX) -> str:
    """The product name for a frame; times are truncated to the second."""
    if len(product_type) != 10:
        raise ValueError(f"EarthCARE product types have 10 characters, got {product_type!r}")
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {''.join(FRAMES)}, got {frame!r}")
    if not re.fullmatch(r"[A-Z]{2}", baseline):
        raise ValueError(f"baseline must be two capital letters, got {baseline!r}")

    def stamp(t: datetime) -> str:
        return (t.astimezone(UTC) if t.tzinfo else t).strftime(_STAMP)

    return (f"ECA_{agency}{latency}{baseline}_{product_type}_{stamp(sensing_start)}Z_{stamp(processing_start)}Z_"
            f"{orbit:05d}{frame}{suffix}")


# --- frames -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """One eighth of an orbit, cut at fixed latitudes of the ground track.

    ``lat_from``/``lat_to`` are the latitudes where the frame starts and ends along the track; the polar
    frames C and G start and end at the same latitude (they go over the pole).
    """

    letter: str
    lat_from: float
    lat_to: float
    ascending: bool | None  # None: over the pole

    @property
    def lat_band(self) -> tuple[float, float]:
        """(south, north) of the latitudes the frame covers."""
        if self.letter == "C":
            return (self.lat_from, 90.0)
        if self.letter == "G":
            return (-90.0, self.lat_from)
        return (min(self.lat_from, self.lat_to), max(self.lat_from, self.lat_to))


FRAME_LAT = (22.5, 67.5)  # the band edges (and their negatives)
FRAMES: dict[str, Frame] = {
    f.letter: f
    for f in (
        Frame("A", -22.5, 22.5, True),
        Frame("B", 22.5, 67.5, True),
        Frame("C", 67.5, 67.5, None),
        Frame("D", 67.5, 22.5, False),
        Frame("E", 22.5, -22.5, False),
        Frame("F", -22.5, -67.5, False),
        Frame("G", -67.5, -67.5, None),
        Frame("H", -67.5, -22.5, True),
    )
}
"""An orbit's frames in order; orbit N starts with frame A, which holds its ascending node."""
MAX_FRAME_SPAN = timedelta(minutes=13)  # the longest frame (B, D, F, H: ~11.8 min) plus its margins


def frame_bounds_u(letter: str, inclination_deg: float) -> tuple[float, float]:
    """The frame's span in argument of latitude (radians from the ascending node) for an orbit of
    the given inclination; frame A starts before the node, so its start is negative."""
    sin_i = np.sin(np.radians(inclination_deg))
    u22 = float(np.arcsin(np.sin(np.radians(FRAME_LAT[0])) / sin_i))
    u67 = float(np.arcsin(np.sin(np.radians(FRAME_LAT[1])) / sin_i))
    edges = {
        "A": (-u22, u22), "B": (u22, u67), "C": (u67, np.pi - u67), "D": (np.pi - u67, np.pi - u22),
        "E": (np.pi - u22, np.pi + u22), "F": (np.pi + u22, np.pi + u67), "G": (np.pi + u67, 2 * np.pi - u67),
        "H": (2 * np.pi - u67, 2 * np.pi - u22),
    }
    return edges[letter]


# --- class tables ---------------------------------------------------------------------------------------
class CodeClass(NamedTuple):
    """One native class code: the product's label, the cloudbench class, other spellings of the
    label seen in the wild, and why the class was chosen where that is not obvious."""

    label: str
    phase: int
    aliases: tuple[str, ...] = ()
    note: str = ""


_CLUTTER = "radar signal inside the surface clutter: not usable"
_AEROSOL = "aerosol is not cloud: the bin is cloud-free"
_PSC = "polar stratospheric cloud, neither of the benchmark's ice/water classes"

AC_TC_CLASSES: Mapping[int, CodeClass] = {
    -1: CodeClass("unknown", UNLABELED, ("Unknown",)),
    0: CodeClass("ground", UNLABELED, ("Surface",), "at or below the surface"),
    1: CodeClass("clear", CLEAR, ("Clear",)),
    2: CodeClass("possible rain (clutter)", UNLABELED, ("Rain in clutter",), _CLUTTER),
    3: CodeClass("possible snow (clutter)", UNLABELED, ("Snow in clutter",), _CLUTTER),
    4: CodeClass("possible cloud (clutter)", UNLABELED, ("Cloud in clutter",), _CLUTTER),
    5: CodeClass("heavy rain", WATER, ("Heavy rain",)),
    6: CodeClass("heavy mixed-phase precipitation", MIXED, ("Heavy mixed-phase precip.",)),
    7: CodeClass("no rain or ice (possible liquid)", UNLABELED, ("Clear (possible liquid)",),
                 "the radar saw nothing and the lidar was blind: liquid cloud cannot be excluded, so the "
                 "bin is neither clear nor water"),
    8: CodeClass("liquid cloud", WATER, ("Liquid cloud",)),
    9: CodeClass("drizzling liquid cloud", WATER, ("Drizzling liquid cloud",)),
    10: CodeClass("warm rain", WATER, ("Warm rain",)),
    11: CodeClass("cold rain", WATER, ("Cold rain",)),
    12: CodeClass("melting snow", MIXED, ("Melting snow",), "ice and liquid together in the melting layer"),
    13: CodeClass("snow (possible liquid)", ICE, ("Snow (possible liquid)",),
                  "the radar saw ice; only the lidar could have seen liquid and it was blind here. Ice is "
                  "what was observed; calling it unlabeled would drop the inside of every deep ice cloud"),
    14: CodeClass("snow (no liquid)", ICE, ("Snow",)),
    15: CodeClass("rimed snow (possible liquid)", MIXED, ("Rimed snow (possible liquid)",),
                  "riming needs supercooled liquid: the bin held both phases"),
    16: CodeClass("rimed snow and supercooled liquid", MIXED, ("Rimed snow + s'cooled liquid",)),
    17: CodeClass("snow and supercooled liquid", MIXED, ("Snow + liquid",)),
    18: CodeClass("supercooled liquid", WATER, ("S'cooled liquid cloud",)),
    19: CodeClass("ice cloud (possible liquid)", ICE, ("Ice cloud (possible liquid)",),
                  "as 13: ice observed by the radar under a lidar that was blind"),
    20: CodeClass("ice and supercooled liquid", MIXED, ("Ice + liquid cloud",)),
    21: CodeClass("ice cloud (no liquid)", ICE, ("Ice cloud",)),
    22: CodeClass("stratospheric ice", ICE, ("Strat. ice",)),
    23: CodeClass("STS (PSC Type I)", UNLABELED, (), _PSC),
    24: CodeClass("NAT (PSC Type II)", UNLABELED, (), _PSC),
    25: CodeClass("insects", UNLABELED, ("Insects",), "a radar target that says nothing about cloud"),
    26: CodeClass("dust", CLEAR, ("Dust",), _AEROSOL),
    27: CodeClass("sea salt", CLEAR, ("Sea salt",), _AEROSOL),
    28: CodeClass("continental pollution", CLEAR, ("Continental pollution",), _AEROSOL),
    29: CodeClass("smoke", CLEAR, ("Smoke",), _AEROSOL),
    30: CodeClass("dusty smoke", CLEAR, ("Dusty smoke",), _AEROSOL),
    31: CodeClass("dusty mix", CLEAR, ("Dusty mix",), _AEROSOL),
    32: CodeClass("stratospheric ash", CLEAR, ("Strat. ash",), _AEROSOL),
    33: CodeClass("stratospheric sulfate", CLEAR, ("Strat. sulfate",), _AEROSOL),
    34: CodeClass("stratospheric smoke", CLEAR, ("Strat. smoke",), _AEROSOL),
}
"""AC__TC__2B ``synergetic_target_classification`` (and its medium/low resolution versions)."""

ATL_TC_CLASSES: Mapping[int, CodeClass] = {
    -3: CodeClass("missing", UNLABELED, ("Missing", "no data")),
    -2: CodeClass("surface", UNLABELED, ("Surface",)),
    -1: CodeClass("attenuated", UNLABELED, ("Attenuated",),
                  "the beam is gone: never clear, whatever lies below"),
    0: CodeClass("clear", CLEAR, ("Clear",)),
    1: CodeClass("(warm) liquid cloud", WATER, ("liquid cloud", "warm liquid cloud")),
    2: CodeClass("supercooled liquid cloud", WATER, ("S'cooled cloud", "supercooled cloud"),
                 "the lidar has no mixed class: a mixed-phase layer shows as supercooled liquid"),
    3: CodeClass("ice cloud", ICE, ("Ice cloud",)),
    10: CodeClass("dust", CLEAR, ("Dust",), _AEROSOL),
    11: CodeClass("sea salt", CLEAR, ("Sea salt",), _AEROSOL),
    12: CodeClass("continental pollution", CLEAR, ("Continental pollution",), _AEROSOL),
    13: CodeClass("smoke", CLEAR, ("Smoke",), _AEROSOL),
    14: CodeClass("dusty smoke", CLEAR, ("Dusty smoke",), _AEROSOL),
    15: CodeClass("dusty mix", CLEAR, ("Dusty mix",), _AEROSOL),
    20: CodeClass("STS", UNLABELED, ("STS (PSC Type I)",), _PSC),
    21: CodeClass("NAT", UNLABELED, ("NAT (PSC Type II)",), _PSC),
    22: CodeClass("stratospheric ice", ICE, ("Strat. ice",)),
    25: CodeClass("stratospheric ash", CLEAR, ("Strat. ash",), _AEROSOL),
    26: CodeClass("stratospheric sulfate", CLEAR, ("Strat. sulfate",), _AEROSOL),
    27: CodeClass("stratospheric smoke", CLEAR, ("Strat. smoke",), _AEROSOL),
    101: CodeClass("unknown", UNLABELED, ("Unknown",)),
}
"""ATL_TC__2A ``classification`` (and medium/low resolution); also AC__TC__2B ``ATLID_target_classification``.

Codes above 101 that the file's own definition calls "unknown ..." are accepted as unlabeled too
(:data:`ATL_UNKNOWN_CODES`)."""
ATL_UNKNOWN_CODES = range(101, 128)

CPR_TC_CLASSES: Mapping[int, CodeClass] = {
    -1: CodeClass("no data", UNLABELED, ("No data",)),
    0: CodeClass("surface", UNLABELED, ("Surface",)),
    1: CodeClass("clear", UNLABELED, ("Clear",),
                 "no radar echo is not clear sky: the radar misses non-drizzling liquid and thin cirrus, "
                 "exactly the clouds where a wrong clear label hurts; use earthcare-ac-tc for clear labels"),
    2: CodeClass("liquid cloud", WATER, ("Liquid cloud",)),
    3: CodeClass("drizzling liquid clouds", WATER, ("Drizzling liquid clouds", "drizzling liquid cloud")),
    4: CodeClass("warm rain", WATER, ("Warm rain",)),
    5: CodeClass("cold rain", WATER, ("Cold rain",)),
    6: CodeClass("melting snow", MIXED, ("Melting snow",), "ice and liquid together in the melting layer"),
    7: CodeClass("rimed snow", MIXED, ("Rimed snow",), "riming needs supercooled liquid"),
    8: CodeClass("snow", ICE, ("Snow",)),
    9: CodeClass("ice", ICE, ("Ice",)),
    10: CodeClass("stratospheric ice", ICE, ("Stratospheric ice", "Strat. ice")),
    11: CodeClass("insects", UNLABELED, ("Insects",), "a radar target that says nothing about cloud"),
    12: CodeClass("heavy rain likely", WATER, ("Heavy rain likely",)),
    13: CodeClass("mixed-phase precipitation likely", MIXED, ("Mixed-phase precip. likely",)),
    14: CodeClass("heavy rain", WATER, ("Heavy rain",)),
    15: CodeClass("heavy mixed-phase precipitation", MIXED, ("Heavy mixed-phase precip.",)),
    16: CodeClass("rain in clutter", UNLABELED, ("Rain in clutter",), _CLUTTER),
    17: CodeClass("snow in clutter", UNLABELED, ("Snow in clutter",), _CLUTTER),
    18: CodeClass("cloud in clutter", UNLABELED, ("Cloud in clutter",), _CLUTTER),
    19: CodeClass("clear likely", UNLABELED, ("Clear likely",), _CLUTTER),
    20: CodeClass("uncertain", UNLABELED, ("Uncertain",)),
}
"""CPR_TC__2A ``hydrometeor_classification``; also AC__TC__2B ``CPR_target_classification``."""


def label_key(text: str) -> str:
    """A label reduced to what its meaning rests on: case, punctuation and common abbreviations dropped."""
    t = text.lower().strip()
    for short, full in (("s'cooled", "supercooled"), ("strat.", "stratospheric"), ("precip.", "precipitation"),
                        ("poss.", "possible"), ("+", " and "), ("&", " and ")):
        t = t.replace(short, full)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", t).split())


def label_matches(table_entry: CodeClass, file_label: str) -> bool:
    """Whether a file's label for a code says what the table's entry says."""
    key = label_key(file_label)
    return key in {label_key(s) for s in (table_entry.label, *table_entry.aliases)}


# --- the three products -----------------------------------------------------------------------------------
SCIENCE = "ScienceData"
HEADER = "HeaderData"
FIXED_HEADER = "HeaderData/FixedProductHeader"
MAIN_HEADER = "HeaderData/VariableProductHeader/MainProductHeader"
SPECIFIC_HEADER = "HeaderData/VariableProductHeader/SpecificProductHeader"
ALONG_TRACK = "along_track"
TIME, LATITUDE, LONGITUDE, HEIGHT, GEOID_OFFSET = "time", "latitude", "longitude", "height", "geoid_offset"


@dataclass(frozen=True)
class ProductType:
    """What differs between the three products.

    Attributes:
        code: the 10-character product type of names and headers.
        key: the ``--labels`` choice.
        description: one line for messages.
        vertical_dim: the height dimension's name.
        elevation_var: the surface height above the ellipsoid (m).
        class_var: the variable read into phase.
        tables: every class variable of the file and its table; each one's ``definition`` attribute is
            checked against its table.
        definition_style: how the writer spells ``definition``: "lines" (``code: label`` per line) or
            "pairs" (``code=label`` separated by commas). The reader parses either.
        quality_var, bad_quality: cells whose quality flag is in ``bad_quality`` are unlabeled.
        n_levels, top_km, step_km: the synthetic vertical grid (inferred: see docs/earthcare.md).
        baseline: the baseline synthetic files are written with.
    """

    code: str
    key: str
    description: str
    vertical_dim: str
    elevation_var: str
    class_var: str
    tables: Mapping[str, Mapping[int, CodeClass]]
    definition_style: str
    quality_var: str
    bad_quality: tuple[int, ...]
    n_levels: int
    top_km: float
    step_km: float
    baseline: str = "BA"

    @property
    def table(self) -> Mapping[int, CodeClass]:
        return self.tables[self.class_var]

    @property
    def collection(self) -> str:
        """The archive folder under ``earthcare/``: the product type."""
        return self.code


AC_TC = ProductType(
    code="AC__TC__2B",
    key="earthcare-ac-tc",
    description="EarthCARE AC__TC__2B ATLID-CPR synergetic target classification (netCDF-4/HDF5)",
    vertical_dim="JSG_height",
    elevation_var="elevation",
    class_var="synergetic_target_classification",
    tables={
        "synergetic_target_classification": AC_TC_CLASSES,
        "synergetic_target_classification_medium_resolution": AC_TC_CLASSES,
        "synergetic_target_classification_low_resolution": AC_TC_CLASSES,
        "ATLID_target_classification": ATL_TC_CLASSES,
        "CPR_target_classification": CPR_TC_CLASSES,
    },
    definition_style="lines",
    quality_var="quality_status",
    bad_quality=(16,),  # 16: no data
    n_levels=242,
    top_km=23.6,
    step_km=0.1,
)
ATL_TC = ProductType(
    code="ATL_TC__2A",
    key="earthcare-atl-tc",
    description="EarthCARE ATL_TC__2A ATLID target classification (netCDF-4/HDF5)",
    vertical_dim="JSG_height",
    elevation_var="elevation",
    class_var="classification",
    tables={
        "classification": ATL_TC_CLASSES,
        "classification_medium_resolution": ATL_TC_CLASSES,
        "classification_low_resolution": ATL_TC_CLASSES,
    },
    definition_style="lines",
    quality_var="quality_status",
    bad_quality=(),
    n_levels=242,
    top_km=23.6,
    step_km=0.1,
)
CPR_TC = ProductType(
    code="CPR_TC__2A",
    key="earthcare-cpr-tc",
    description="EarthCARE CPR_TC__2A CPR hydrometeor classification (netCDF-4/HDF5)",
    vertical_dim="CPR_height",
    elevation_var="surface_elevation",
    class_var="hydrometeor_classification",
    tables={"hydrometeor_classification": CPR_TC_CLASSES},
    definition_style="pairs",
    quality_var="quality_status",
    bad_quality=(1,),  # 0 good, 1 bad
    n_levels=218,
    top_km=21.2,
    step_km=0.1,
)
PRODUCT_TYPES: dict[str, ProductType] = {p.code: p for p in (AC_TC, ATL_TC, CPR_TC)}


def entry_for(table: Mapping[int, CodeClass], code: int) -> CodeClass | None:
    """The table's entry for a code, or None when the table does not know it.

    The ATLID table's "unknown" codes above 101 (the product numbers its unknown sub-kinds) all read
    as the entry of 101: unlabeled, with a label that must say "unknown".
    """
    if code in table:
        return table[code]
    if table is ATL_TC_CLASSES and code in ATL_UNKNOWN_CODES:
        return table[101]
    return None


def label_matches_code(table: Mapping[int, CodeClass], code: int, file_label: str) -> bool:
    """Whether a file's label for ``code`` agrees with the table (see :func:`entry_for`)."""
    entry = entry_for(table, code)
    if entry is None:
        return False
    if code not in table:  # an ATLID unknown sub-kind: its label names the sub-kind
        return "unknown" in label_key(file_label).split()
    return label_matches(entry, file_label)


def class_lookup(table: Mapping[int, CodeClass]) -> np.ndarray:
    """(256,) uint8: cloudbench class for every int8 code (index ``code & 0xFF``); codes the table lacks
    map to UNLABELED (the reader refuses data holding them before it looks them up)."""
    lut = np.full(256, UNLABELED, dtype=np.uint8)
    for code, entry in table.items():
        lut[code & 0xFF] = entry.phase
    return lut


def archive_relpath(name: str) -> str:
    """Path inside ARCHIVE/: ``earthcare/<product type>/YYYY/MM/DD/<name>`` (day of the sensing start)."""
    info = parse_filename(name)
    if info is None:
        raise ValueError(f"not an EarthCARE product name: {name!r}")
    base = PurePosixPath(str(name)).name
    t = info.sensing_start
    return f"{MISSION}/{info.product_type}/{t:%Y}/{t:%m}/{t:%d}/{base}"
