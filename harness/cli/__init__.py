"""The ``hazard-harness`` command line: every command and its options, declared once.

Built with click. Command implementations are imported inside each command, so ``--help``
and ``--version`` import nothing heavy. Every project error (bad input, an unreachable
cluster or server, a corrupt file) exits 2 with one line on stderr; an interrupt (SIGINT,
SIGTERM, SIGHUP) exits ``128 + signal`` with one line, after its MLflow run ends KILLED and
its staged output is removed. Options can also come from the environment:
``HAZARD_HARNESS_<COMMAND>_<OPTION>`` (e.g. ``HAZARD_HARNESS_RUN_WORKERS=2``), besides the
documented ``HAZARD_HARNESS_CACHE``, ``HAZARD_HARNESS_TIMEOUT``, ``RAY_ADDRESS`` and
``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from harness.cli import _commands  # noqa: F401  (registers the commands on the group)
from harness.cli._app import PROG, cli
from harness.runtime.errors import HarnessError
from harness.runtime.interrupts import reset, taken


def _command_path(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    return ctx.command_path if ctx is not None else PROG


def _project_errors() -> tuple[type[BaseException], ...]:
    """Error types that mean bad input or an unusable outside system (exit 2, one line)."""
    errors: list[type[BaseException]] = [HarnessError]
    for module, name in (("sim", "SimError"), ("core", "ModelInputError")):
        loaded = sys.modules.get(module)
        if loaded is not None:
            errors.append(getattr(loaded, name))
    return tuple(errors)


def _invoked(args: Sequence[str]) -> str:
    """``hazard-harness COMMAND [SUBCOMMAND]`` as invoked, for one-line errors."""
    words = [a for a in args if not a.startswith("-")]
    path = [PROG]
    group: Any = cli
    for word in words:
        found = group.commands.get(word) if isinstance(group, click.Group) else None
        if found is None:
            break
        path.append(word)
        group = found
    return " ".join(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the command's exit code; 2 with one line on bad input; 128+n on signal n."""
    args = list(sys.argv[1:] if argv is None else argv)
    reset()
    try:
        with cli.make_context(PROG, args) as ctx:
            return int(cli.invoke(ctx) or 0)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # a group without a command: its help
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message(), err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"{_command_path(exc)}: error: {exc.format_message()}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo(f"{PROG}: interrupted", err=True)
        return 130
    except KeyboardInterrupt as exc:
        interrupt = taken(exc)
        if interrupt is None:
            click.echo(f"{PROG}: interrupted", err=True)
            return 130
        click.echo(f"{_invoked(args)}: {interrupt}", err=True)
        return interrupt.exit_code
    except _project_errors() as exc:
        line = " ".join(str(exc).split())
        click.echo(f"{_invoked(args)}: error: {line}", err=True)
        return 2
