"""Credentials for the archives that need them, found the way users already keep them, never shown.

Earthdata (ASDC, CALIPSO): EARTHDATA_TOKEN, else EARTHDATA_USERNAME + EARTHDATA_PASSWORD, else the
``urs.earthdata.nasa.gov`` entry of ~/.netrc (the order earthaccess uses). CloudSat DPC: the user from
``--dpc-user`` or CLOUDSAT_DPC_USERNAME; an SSH private key from ``--dpc-key`` or CLOUDSAT_DPC_KEY if
one is given, else the password from CLOUDSAT_DPC_PASSWORD, the DPC host's entry of ~/.netrc, or a
hidden prompt when a person is at the terminal. A password is never a
command-line option: those end up in shell history and in every user's ``ps`` listing. EUMETSAT Data
Store (Meteosat): EUMETSAT_CONSUMER_KEY + EUMETSAT_CONSUMER_SECRET. Secrets live in
``Secret`` objects whose repr and str are masked, so a log line, an error message or a traceback cannot
carry them.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cloudbench.errors import CredentialsError

EARTHDATA_LOGIN_HOST = "urs.earthdata.nasa.gov"
DPC_USER_ENV = "CLOUDSAT_DPC_USERNAME"
DPC_PASSWORD_ENV = "CLOUDSAT_DPC_PASSWORD"
DPC_KEY_ENV = "CLOUDSAT_DPC_KEY"  # path of an SSH private key registered with the DPC account

EARTHDATA_FIX = (
    "set EARTHDATA_TOKEN to a token from https://urs.earthdata.nasa.gov/profile (Generate Token), "
    "or set EARTHDATA_USERNAME and EARTHDATA_PASSWORD, or add the line "
    f"'machine {EARTHDATA_LOGIN_HOST} login YOUR_USER password YOUR_PASSWORD' to ~/.netrc (chmod 600); "
    "register at https://urs.earthdata.nasa.gov/users/new; CALIPSO files also need the 'LARC ASDC' "
    "application approved in your profile (Applications > Authorized Apps)"
)
EUMETSAT_KEY_ENV = "EUMETSAT_CONSUMER_KEY"
EUMETSAT_SECRET_ENV = "EUMETSAT_CONSUMER_SECRET"
EUMETSAT_API_KEYS_PAGE = "https://api.eumetsat.int/api-key/"
EUMETSAT_FIX = (
    f"set {EUMETSAT_KEY_ENV} and {EUMETSAT_SECRET_ENV} to the consumer key and consumer secret shown on the "
    f"EUMETSAT Data Store's API key page, {EUMETSAT_API_KEYS_PAGE} (sign in with your EUMETSAT Earth "
    "Observation Portal account; registration is free)"
)


def dpc_fix(host: str) -> str:
    """How to give the CloudSat DPC login for ``host`` (the fix of every DPC credentials error)."""
    return (
        f"give the user with --dpc-user or {DPC_USER_ENV}, and either an SSH private key with --dpc-key or "
        f"{DPC_KEY_ENV}, or the password in {DPC_PASSWORD_ENV} or as the line "
        f"'machine {host} login YOUR_USER password YOUR_PASSWORD' in ~/.netrc (chmod 600), or run the command in a "
        "terminal to be asked for it; the account is the one of https://www.cloudsat.cira.colostate.edu/ "
        "(docs/user-guide.md, 'Accounts and credentials')"
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
    """A CloudSat DPC account: a password or an SSH private key file; ``origin`` says where it came from."""

    username: str
    password: Secret | None
    origin: str = "given"
    key_file: Path | None = None


def _netrc_entry(host: str, netrc_path: Path | None, fix: str) -> tuple[str, str] | None:
    path = netrc_path or Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        raise CredentialsError(f"{path} could not be read ({type(exc).__name__})", fix="fix the file's syntax, or " + fix) from None
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
    entry = _netrc_entry(EARTHDATA_LOGIN_HOST, netrc_path, EARTHDATA_FIX)
    if entry:
        return EarthdataCredentials("netrc", username=entry[0], password=Secret(entry[1]))
    raise CredentialsError("no NASA Earthdata credentials found (needed for CALIPSO granules)", fix=EARTHDATA_FIX)


def dpc_credentials(
    username: str | None = None,
    *,
    host: str,
    key_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    netrc_path: Path | None = None,
    prompt: Callable[[str], str] | None = None,
) -> SftpCredentials:
    """The CloudSat DPC login for ``host``, or CredentialsError (exit 1) saying how to give it.

    Args:
        username: from ``--dpc-user``; else CLOUDSAT_DPC_USERNAME, else the login of the netrc entry.
        host: the SFTP host (the netrc ``machine``).
        key_file: an SSH private key (``--dpc-key``); else CLOUDSAT_DPC_KEY; used instead of a password.
        env: environment to read (defaults to os.environ; tests pass their own).
        netrc_path: netrc file (defaults to $NETRC or ~/.netrc).
        prompt: asks a person for the password (hidden input), given the question; the CLI passes one
            only when stdin is a terminal, so scripts and CI fail fast instead of waiting.
    """
    env = os.environ if env is None else env
    fix = dpc_fix(host)
    user = (username or env.get(DPC_USER_ENV, "")).strip()
    key = key_file or env.get(DPC_KEY_ENV, "").strip()
    if key:
        key_path = Path(key).expanduser()
        if not user:
            raise CredentialsError("an SSH key is given but no CloudSat DPC user", fix=fix)
        if not key_path.is_file():
            raise CredentialsError("SSH key file not found", path=key_path, fix=fix)
        return SftpCredentials(user, None, "--dpc-key" if key_file else DPC_KEY_ENV, key_path)
    password = env.get(DPC_PASSWORD_ENV, "")
    if password:
        if not user:
            raise CredentialsError(f"{DPC_PASSWORD_ENV} is set but no CloudSat DPC user is given", fix=fix)
        return SftpCredentials(user, Secret(password), DPC_PASSWORD_ENV)
    entry = _netrc_entry(host, netrc_path, fix)
    if entry and (not user or entry[0] == user):
        return SftpCredentials(entry[0], Secret(entry[1]), "netrc")
    if user and prompt is not None:
        typed = prompt(f"CloudSat DPC password for {user} at {host}")
        if typed:
            return SftpCredentials(user, Secret(typed), "prompt")
    missing = "password" if user else "user and password"
    raise CredentialsError(f"no CloudSat DPC {missing} found (needed for 2B-CLDCLASS-LIDAR)", fix=fix)


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
