"""Optional parts of the install, and the one place that asks for them.

The base install builds datasets: ``inspect``, ``download``, ``collocate``, ``build-splits``,
``verify`` and ``synth``. Training and evaluation need torch (about 750 MB, and users with a GPU bring
their own CUDA build), and the offline demo needs the loopback archive servers (moto's S3 server with
Flask, boto3), so both are extras that a dataset builder does not pay for. Whatever needs an extra
asks for it here, so a missing one always ends the same way: exit 1 (``UserError``) with the pip
command that installs it, never an ImportError traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from cloudbench.errors import UserError

DISTRIBUTION = "cloudphasebench"  # the name on the package index; the import name stays ``cloudbench``

# extra -> (top-level modules it provides, what it is for); pyproject.toml declares the packages
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "train": (("torch",), "training and evaluating models"),
    "demo": (("moto", "flask", "flask_cors", "boto3"), "the loopback archive servers of the offline demo"),
}


def install_hint(*extras: str) -> str:
    """The pip command that installs ``extras`` (quoted for the shell)."""
    return f"pip install '{DISTRIBUTION}[{','.join(extras)}]'"


def missing_modules(extra: str) -> list[str]:
    """Modules of ``extra`` that cannot be found (cheap: nothing is imported)."""
    modules, _ = EXTRAS[extra]
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or blocked package counts as absent
            found = False
        if not found:
            missing.append(name)
    return missing


def missing_extras(*extras: str) -> list[str]:
    """Those of ``extras`` that are not (completely) installed."""
    return [extra for extra in extras if missing_modules(extra)]


def extra_error(extras: list[str] | tuple[str, ...], what: str) -> UserError:
    """The error for ``what`` (a command or a feature) when ``extras`` are missing."""
    names = " and ".join(f"'{e}'" for e in extras)
    purposes = "; ".join(f"{e}: {EXTRAS[e][1]}" for e in extras)
    noun, verb = ("extra", "is") if len(extras) == 1 else ("extras", "are")
    return UserError(f"{what} needs the {names} {noun} of {DISTRIBUTION} ({purposes}), which {verb} not installed",
                     fix=install_hint(*extras))


def require(*extras: str, what: str) -> None:
    """Raise UserError naming the extras to install if any of ``extras`` is missing."""
    missing = missing_extras(*extras)
    if missing:
        raise extra_error(missing, what)


def import_from_extra(module: str, extra: str, what: str) -> ModuleType:
    """``import module``, or UserError naming ``extra`` when it (or something it needs) is missing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top in EXTRAS[extra][0] or top == module.split(".")[0]:
            raise extra_error([extra], what) from exc
        raise
