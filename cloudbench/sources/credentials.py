"""Credentials for the archives that need them, found the way users already keep them, never shown.

Earthdata (ASDC, CALIPSO): EARTHDATA_TOKEN, else EARTHDATA_USERNAME + EARTHDATA_PASSWORD, else the
``urs.earthdata.nasa.gov`` entry of ~/.netrc (the order earthaccess uses). CloudSat DPC: options, else
CLOUDSAT_DPC_USERNAME + CLOUDSAT_DPC_PASSWORD. EUMETSAT Data Store (Meteosat): EUMETSAT_CONSUMER_KEY +
EUMETSAT_CONSUMER_SECRET. Secrets live in ``Secret`` objects whose repr and str
are masked, so a log line, an error message or a traceback cannot carry them.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cloudbench.errors import CredentialsError

EARTHDATA_LOGIN_HOST = "urs.earthdata.nasa.gov"
DPC_USER_ENV = "CLOUDSAT_DPC_USERNAME"
DPC_PASSWORD_ENV = "CLOUDSAT_DPC_PASSWORD"

EARTHDATA_FIX = (
    "set EARTHDATA_TOKEN to a token from https://urs.earthdata.nasa.gov/profile (Generate Token), "
    "or set EARTHDATA_USERNAME and EARTHDATA_PASSWORD, or add the line "
    f"'machine {EARTHDATA_LOGIN_HOST} login YOUR_USER password YOUR_PASSWORD' to ~/.netrc (chmod 600); "
    "register at https://urs.earthdata.nasa.gov/users/new and approve the 'NASA GESDISC DATA ARCHIVE' "
    "and 'LARC ASDC' applications"
)
EUMETSAT_KEY_ENV = "EUMETSAT_CONSUMER_KEY"
EUMETSAT_SECRET_ENV = "EUMETSAT_CONSUMER_SECRET"
EUMETSAT_API_KEYS_PAGE = "https://api.eumetsat.int/api-key/"
EUMETSAT_FIX = (
    f"set {EUMETSAT_KEY_ENV} and {EUMETSAT_SECRET_ENV} to the consumer key and consumer secret shown on the "
    f"EUMETSAT Data Store's API key page, {EUMETSAT_API_KEYS_PAGE} (sign in with your EUMETSAT Earth "
    "Observation Portal account; registration is free)"
)
DPC_FIX = (
    f"pass --dpc-user and --dpc-password, or set {DPC_USER_ENV} and {DPC_PASSWORD_ENV}, with your "
    "CloudSat DPC account (request one at https://www.cloudsat.cira.colostate.edu/)"
)


class Secret:
    """A string that never shows itself in repr, str or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class EarthdataCredentials:
    """A bearer token, or a username with password; ``origin`` says where they came from."""

    origin: str
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None

    def apply(self, session) -> None:
        """Authorise a requests session without putting the secret anywhere else."""
        if self.token is not None:
            session.headers["Authorization"] = f"Bearer {self.token.reveal()}"
        else:
            session.auth = (self.username or "", self.password.reveal() if self.password else "")


@dataclass(frozen=True)
class EumetsatCredentials:
    """A Data Store consumer key and secret (the pair eumdac trades for an access token)."""

    key: str
    secret: Secret


@dataclass(frozen=True)
class SftpCredentials:
    """A CloudSat DPC account."""

    username: str
    password: Secret


def _netrc_entry(host: str, netrc_path: Path | None) -> tuple[str, str] | None:
    path = netrc_path or Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        raise CredentialsError(
            f"{path} could not be read ({type(exc).__name__})", fix="fix the file's syntax or " + EARTHDATA_FIX
        ) from None
    if not entry or not entry[0] or not entry[2]:
        return None
    return entry[0], entry[2]


def earthdata_credentials(env: Mapping[str, str] | None = None, netrc_path: Path | None = None) -> EarthdataCredentials:
    """Find Earthdata credentials or raise CredentialsError with the exact fix (exit 1).

    Args:
        env: environment to read (defaults to os.environ; tests pass their own).
        netrc_path: netrc file (defaults to $NETRC or ~/.netrc).
    """
    env = os.environ if env is None else env
    token = env.get("EARTHDATA_TOKEN", "").strip()
    if token:
        return EarthdataCredentials("EARTHDATA_TOKEN", token=Secret(token))
    user, password = env.get("EARTHDATA_USERNAME", "").strip(), env.get("EARTHDATA_PASSWORD", "")
    if user and password:
        return EarthdataCredentials("EARTHDATA_USERNAME/EARTHDATA_PASSWORD", username=user, password=Secret(password))
    if user or password:
        missing = "EARTHDATA_PASSWORD" if user else "EARTHDATA_USERNAME"
        raise CredentialsError(f"Earthdata login incomplete: {missing} is not set", fix=EARTHDATA_FIX)
    entry = _netrc_entry(EARTHDATA_LOGIN_HOST, netrc_path)
    if entry:
        return EarthdataCredentials("netrc", username=entry[0], password=Secret(entry[1]))
    raise CredentialsError("no NASA Earthdata credentials found (needed for CALIPSO granules)", fix=EARTHDATA_FIX)


def dpc_credentials(
    username: str | None = None, password: str | None = None, env: Mapping[str, str] | None = None
) -> SftpCredentials:
    """The CloudSat DPC account from options, else the environment; CredentialsError if missing."""
    env = os.environ if env is None else env
    user = username or env.get(DPC_USER_ENV, "").strip()
    secret = password or env.get(DPC_PASSWORD_ENV, "")
    if not user or not secret:
        missing = [n for n, v in (("username", user), ("password", secret)) if not v]
        raise CredentialsError(
            f"no CloudSat DPC {' and '.join(missing)} given (needed for 2B-CLDCLASS-LIDAR)", fix=DPC_FIX
        )
    return SftpCredentials(user, Secret(secret))


def eumetsat_credentials(key: str | None = None, secret: str | None = None,
                         env: Mapping[str, str] | None = None) -> EumetsatCredentials:
    """The Data Store consumer key and secret from arguments, else the environment; CredentialsError if missing."""
    env = os.environ if env is None else env
    key = (key or env.get(EUMETSAT_KEY_ENV, "")).strip()
    secret = (secret or env.get(EUMETSAT_SECRET_ENV, "")).strip()
    if not key or not secret:
        missing = [n for n, v in ((EUMETSAT_KEY_ENV, key), (EUMETSAT_SECRET_ENV, secret)) if not v]
        raise CredentialsError(
            f"no EUMETSAT Data Store credentials: {' and '.join(missing)} not set (needed for Meteosat imagery)",
            fix=EUMETSAT_FIX,
        )
    return EumetsatCredentials(key, Secret(secret))
