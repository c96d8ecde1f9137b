"""The ``cloudbench`` command line: a thin Click group.

Each sub-command lives in its own module under ``cloudbench.cli`` and only parses options and calls
one library function. Errors from the library (``cloudbench.errors``) become exit codes here:
0 ok, 1 user error, 2 data error, 3 partial, 4 internal error (a bug: the traceback goes to the run's
log, never shown as a problem with the data). Tracebacks on screen only with ``--debug``.
A command that needs an optional extra (``cloudbench.extras``) is not even imported when the extra is
missing: it is replaced by a stand-in that answers every invocation, ``--help`` included, with exit 1
and the pip command to run, while ``cloudbench --help`` still lists it.
"""

from __future__ import annotations

import importlib
import logging
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

import click

from cloudbench import __version__, extras
from cloudbench.errors import CloudbenchError
from cloudbench.progress import show_stage_lines

# command name -> module under cloudbench.cli that defines a click command called ``command``
COMMANDS: dict[str, str] = {
    "inspect": "inspect_cmd",
    "download": "download_cmd",
    "collocate": "collocate_cmd",
    "build-splits": "splits_cmd",
    "verify": "verify_cmd",
    "train-baseline": "train_cmd",
    "evaluate": "evaluate_cmd",
    "demo": "demo_cmd",
    "synth": "synth_cmd",
}

# command name -> extras (cloudbench.extras.EXTRAS) it needs beyond the base install
NEEDS_EXTRAS: dict[str, tuple[str, ...]] = {
    "train-baseline": ("train",),
    "evaluate": ("train",),
    "demo": ("train", "demo"),  # the demo trains a model on what its servers delivered
}


def _needs_extra_command(name: str, missing: list[str]) -> click.Command:
    """A stand-in for a command whose extras are missing: any use of it, ``--help`` included, exits 1."""

    def refuse(args) -> None:
        raise extras.extra_error(missing, f"`cloudbench {name}`")

    return click.Command(
        name,
        callback=click.pass_context(lambda ctx: refuse(ctx.args)),
        help=f"Not installed: needs {extras.install_hint(*missing)}.",
        short_help=f"(not installed: {extras.install_hint(*missing)})",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps ``--help`` fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._spec(name) is not None]

    @staticmethod
    def _spec(name: str):
        return importlib.util.find_spec(f"cloudbench.cli.{COMMANDS[name]}")

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or self._spec(name) is None:
            return None
        missing = extras.missing_extras(*NEEDS_EXTRAS.get(name, ()))
        if missing:
            return _needs_extra_command(name, missing)
        module = importlib.import_module(f"cloudbench.cli.{COMMANDS[name]}")
        return module.command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.version_option(version=__version__, prog_name="cloudbench")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """cloudbench: geostationary imagery + CALIPSO/CloudSat cloud phase profiles -> ML benchmark."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    show_stage_lines()  # where bars are off (--no-progress, or output is not a terminal): one line per stage


ERROR_LOG = "cloudbench-error.log"
REPORT_HINT = "report it with that file and the command line on the cloudbench issue tracker (see README.md)"
_run_dir: Path | None = None


def set_run_dir(path: str | Path | None) -> None:
    """The folder a command writes to: an internal error's traceback is logged there."""
    global _run_dir
    _run_dir = None if path is None else Path(path)


def _log_internal_error(exc: BaseException, args: list[str]) -> Path:
    """Write the traceback where the run writes (or a temporary folder) and return the file."""
    text = (f"{datetime.now(UTC).isoformat()} cloudbench {' '.join(args)}\n"
            + "".join(traceback.format_exception(exc)))
    for folder in (_run_dir, Path(tempfile.gettempdir())):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / ERROR_LOG
            with open(path, "a", encoding="utf-8") as f:
                f.write(text + "\n")
            return path
        except OSError:
            continue
    raise exc


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the group and map library errors to exit codes."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="cloudbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1 if exc.exit_code == 2 else exc.exit_code)  # usage errors are user errors
    except CloudbenchError as exc:
        if debug:
            raise
        click.echo(f"error: {exc.render()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: never reported as bad data, never a silent skip
        if debug:
            raise
        log = _log_internal_error(exc, args)
        click.echo(f"internal error (a bug in cloudbench, not a problem with your data): "
                   f"{type(exc).__name__}: {exc}\nThe traceback is in {log}; {REPORT_HINT}.", err=True)
        sys.exit(4)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
