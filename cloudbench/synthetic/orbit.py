"""Sun-synchronous orbits: the ground tracks the active sensors fly (the A-Train's and EarthCARE's).

Synthetic granules need tracks that look like the real ones (the A-Train ascending in daylight at
~13:30 local time, ~7 km/s, 98.2 deg inclination; EarthCARE lower and later, descending at ~14:00) so
that collocation meets the same geometry it meets on real data: steep tracks across a geostationary
disk, day and night halves, granules that start mid-region.

Model: a circular orbit of fixed period whose plane precesses with the mean Sun. Measured from the
ascending-node crossing, the argument of latitude ``u`` grows uniformly, and the sub-satellite point is

    lat = asin(sin i * sin u)
    lon = 15 * (node_hours - UTC hours) + atan2(cos i * sin u, cos u)

(the plane keeps a fixed local solar time ``node_hours`` at the ascending node; the Earth turns under
it at 360 deg per mean solar day). The equation of time and orbit eccentricity are ignored: they move
the track by less than a pixel of what tests check.

:class:`SunSyncOrbit` holds one orbit's parameters; :data:`A_TRAIN` (CALIPSO, CloudSat) and
:data:`EARTHCARE` are the two instances. The module-level functions and constants are the A-Train's,
as they always were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from cloudbench.config import Region

INCLINATION_DEG = 98.2
PERIOD_S = 98.8 * 60.0
ASCENDING_NODE_LOCAL_HOURS = 13.5
EARTH_RADIUS_KM = 6371.0
# Ascending-node crossing of orbit 1; granule numbers count whole orbits from here (a granule starts a
# quarter orbit earlier, at the southernmost point).
ORBIT_EPOCH = np.datetime64("2006-06-07T00:00:00", "ns")
CALIPSO_SHOT_SPACING_KM = 0.333
CLOUDSAT_RAY_INTERVAL_S = 0.16

_NS = 1_000_000_000


def _to_ns(when: datetime | np.datetime64 | str) -> np.datetime64:
    """UTC datetime64[ns]; timezone-aware datetimes are converted, naive ones are taken as UTC."""
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(when, "ns")
    return np.datetime64(when, "ns")


@dataclass(frozen=True)
class SunSyncOrbit:
    """A circular sun-synchronous orbit: what the ground-track model needs of it.

    Attributes:
        name: for messages.
        inclination_deg: orbit inclination (> 90: retrograde, as every sun-synchronous orbit).
        period_s: nodal period, ascending node to ascending node.
        node_local_hours: mean local solar time at the ascending node (the descending node is 12 h off).
        epoch: ascending-node crossing of orbit ``epoch_orbit`` (UTC).
        epoch_orbit: the number of the orbit starting at ``epoch``; orbits count up by one per period.
        altitude_km: mean height above the Earth (for the instruments' geometry, not the track).
    """

    name: str
    inclination_deg: float
    period_s: float
    node_local_hours: float
    epoch: np.datetime64
    epoch_orbit: int = 1
    altitude_km: float = 705.0

    def orbit_phase(self, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(orbit number, argument of latitude u in radians, 0 at the ascending node) at each time."""
        t = (np.asarray(time, dtype="datetime64[ns]") - self.epoch).astype(np.int64) / _NS
        orbits = np.floor(t / self.period_s)
        u = 2 * np.pi * (t / self.period_s - orbits)
        return orbits.astype(np.int64) + self.epoch_orbit, u

    def subpoint(self, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sub-satellite (lat, lon) in degrees at the given UTC times (datetime64)."""
        time = np.asarray(time, dtype="datetime64[ns]")
        _, u = self.orbit_phase(time)
        inc = np.radians(self.inclination_deg)
        lat = np.degrees(np.arcsin(np.sin(inc) * np.sin(u)))
        day_ns = (time - time.astype("datetime64[D]")).astype(np.int64)
        utc_hours = day_ns / (3600.0 * _NS)
        lon = 15.0 * (self.node_local_hours - utc_hours) + np.degrees(np.arctan2(np.cos(inc) * np.sin(u), np.cos(u)))
        lon = ((lon + 180.0) % 360.0) - 180.0
        return lat, lon

    def time_at(self, orbit: int, u_rad: float) -> np.datetime64:
        """When orbit ``orbit`` passes argument of latitude ``u_rad`` (may be negative: before its node)."""
        seconds = (orbit - self.epoch_orbit) * self.period_s + u_rad / (2 * np.pi) * self.period_s
        return self.epoch + np.timedelta64(int(round(seconds * _NS)), "ns")

    def argument_of_latitude(self, lat_deg: float) -> float:
        """The u (radians, in [-pi/2, pi/2], ascending side) at which the track reaches ``lat_deg``."""
        ratio = np.sin(np.radians(lat_deg)) / np.sin(np.radians(self.inclination_deg))
        return float(np.arcsin(np.clip(ratio, -1.0, 1.0)))

    def ground_speed_km_s(self) -> float:
        """Mean speed of the sub-satellite point over a rotating Earth (km/s)."""
        # angular rate of the satellite in its plane, combined with the Earth's rotation relative to it
        n = 2 * np.pi / self.period_s
        we = 2 * np.pi / 86400.0
        inc = np.radians(self.inclination_deg)
        # mean over an orbit of |d(position)/dt| on the sphere
        u = np.linspace(0, 2 * np.pi, 721)[:-1]
        dlat = n * np.sin(inc) * np.cos(u) / np.sqrt(1 - (np.sin(inc) * np.sin(u)) ** 2)
        lat = np.arcsin(np.sin(inc) * np.sin(u))
        dlam = n * np.cos(inc) / (np.cos(u) ** 2 + (np.cos(inc) * np.sin(u)) ** 2) - we
        return float(np.mean(EARTH_RADIUS_KM * np.hypot(dlat, dlam * np.cos(lat))))

    def track(self, start, end, spacing_km: float | None = None, *, interval_s: float | None = None) -> Track:
        """Ground track sampled every ``spacing_km`` (at the mean ground speed) or every ``interval_s``."""
        if (spacing_km is None) == (interval_s is None):
            raise ValueError("give exactly one of spacing_km or interval_s")
        if interval_s is None:
            interval_s = spacing_km / self.ground_speed_km_s()
        times = sample_times(start, end, interval_s)
        lat, lon = self.subpoint(times)
        return Track(times, lat, lon)


A_TRAIN = SunSyncOrbit("A-Train", INCLINATION_DEG, PERIOD_S, ASCENDING_NODE_LOCAL_HOURS, ORBIT_EPOCH, 1, 705.0)
"""CALIPSO and CloudSat, 705 km, ascending node at 13:30 local solar time."""

EARTHCARE = SunSyncOrbit(
    "EarthCARE",
    inclination_deg=97.05,
    period_s=25 * 86400.0 / 389,  # 389 orbits in the 25-day repeat cycle
    node_local_hours=2.0,  # descending node at 14:00 local solar time
    # orbit 5979 crossed the ascending node at 04:59:09.465 UTC on 2025-06-17 (a product's metadata);
    # with this period orbit 1 then falls just after the launch of 2024-05-28, as it should
    epoch=np.datetime64("2025-06-17T04:59:09.465", "ns"),
    epoch_orbit=5979,
    altitude_km=393.0,
)
"""EarthCARE, about 393 km, descending node at 14:00 local solar time (ascending at 02:00)."""


def ground_speed_km_s() -> float:
    """Mean speed of the A-Train's sub-satellite point over a rotating Earth (km/s), about 6.9-7 km/s."""
    return A_TRAIN.ground_speed_km_s()


def orbit_phase(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(orbit number counting from 1 at ORBIT_EPOCH, argument of latitude u in radians) at each time."""
    return A_TRAIN.orbit_phase(time)


def subpoint(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A-Train sub-satellite (lat, lon) in degrees at the given UTC times (datetime64)."""
    return A_TRAIN.subpoint(time)


@dataclass
class Track:
    """Samples along the ground track."""

    time: np.ndarray  # datetime64[ns]
    latitude: np.ndarray
    longitude: np.ndarray

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def subset(self, index) -> Track:
        return Track(self.time[index], self.latitude[index], self.longitude[index])


def sample_times(start, end, interval_s: float) -> np.ndarray:
    """Times start, start + interval, ... strictly before end (datetime64[ns])."""
    start_ns, end_ns = _to_ns(start), _to_ns(end)
    step = int(round(interval_s * _NS))
    n = max(0, int(np.ceil((end_ns - start_ns).astype(np.int64) / step)))
    return start_ns + np.arange(n, dtype=np.int64) * np.timedelta64(step, "ns")


def track(start, end, spacing_km: float | None = None, *, interval_s: float | None = None) -> Track:
    """A-Train ground track sampled every ``spacing_km`` (at the mean ground speed) or every ``interval_s``."""
    return A_TRAIN.track(start, end, spacing_km, interval_s=interval_s)


def calipso_shot_interval_s() -> float:
    """Time between CALIPSO laser shots so that they land 333 m apart."""
    return CALIPSO_SHOT_SPACING_KM / ground_speed_km_s()


# --- granules -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Granule:
    """One active-sensor granule: a whole orbit (CloudSat) or a day/night half orbit (CALIPSO)."""

    start: np.datetime64
    end: np.datetime64
    orbit: int  # orbit / granule number counted from ORBIT_EPOCH
    day_night: str  # "D" (ascending, sunlit half) / "N" (descending) for CALIPSO halves; "" for whole orbits


def _epoch_plus(seconds: float) -> np.datetime64:
    return ORBIT_EPOCH + np.timedelta64(int(round(seconds * _NS)), "ns")


def cloudsat_granules(start, end) -> list[Granule]:
    """Whole orbits overlapping [start, end), from the orbit's southernmost point to the next.

    Starting at the southern turning point keeps the sunlit ascending pass in one granule, the part
    that crosses the geostationary disks' tropics.
    """
    start_ns, end_ns = _to_ns(start), _to_ns(end)
    t0 = (start_ns - ORBIT_EPOCH).astype(np.int64) / _NS
    k = int(np.floor((t0 + PERIOD_S / 4) / PERIOD_S)) + 1
    out = []
    while True:
        g0 = _epoch_plus((k - 1) * PERIOD_S - PERIOD_S / 4)
        if g0 >= end_ns:
            break
        g1 = _epoch_plus(k * PERIOD_S - PERIOD_S / 4)
        if g1 > start_ns:
            out.append(Granule(g0, g1, k, ""))
        k += 1
    return out


def calipso_granules(start, end) -> list[Granule]:
    """Half orbits overlapping [start, end): day (ZD) from the southernmost point northwards, night (ZN) after.

    Real CALIPSO granules switch at the terminator; with a 13:30 ascending node the ascending half is
    the sunlit one, so splitting at the orbit's extreme latitudes is a close, deterministic stand-in.
    """
    start_ns, end_ns = _to_ns(start), _to_ns(end)
    t0 = (start_ns - ORBIT_EPOCH).astype(np.int64) / _NS
    half = PERIOD_S / 2
    k = int(np.floor((t0 + PERIOD_S / 4) / half))  # halves start at u = -90 deg (day) and +90 deg (night)
    out = []
    while True:
        s = k * half - PERIOD_S / 4
        g0 = _epoch_plus(s)
        if g0 >= end_ns:
            break
        g1 = _epoch_plus(s + half)
        if g1 > start_ns:
            orbit = int(np.floor((s + PERIOD_S / 4) / PERIOD_S)) + 1
            out.append(Granule(g0, g1, orbit, "D" if k % 2 == 0 else "N"))
        k += 1
    return out


def passes_over(region: Region, start, end, *, step_s: float = 10.0,
                orbit: SunSyncOrbit = A_TRAIN) -> list[tuple[np.datetime64, np.datetime64]]:
    """Time intervals [enter, leave] during which the sub-satellite point of ``orbit`` is inside ``region``."""
    times = sample_times(start, end, step_s)
    if times.size == 0:
        return []
    lat, lon = orbit.subpoint(times)
    inside = region.contains(lon, lat)
    out = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        out.append((times[a], times[b - 1]))
    return out
