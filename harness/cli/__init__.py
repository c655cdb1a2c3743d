"""The ``hazard-harness`` command line: every command and its options, declared once.

Built with click. Command implementations are imported inside each command, so ``--help``
and ``--version`` import nothing heavy. Every project error (bad input, an unreachable
cluster or server, a corrupt file) exits 2 with one line on stderr; an interrupt (SIGINT,
SIGTERM, SIGHUP) exits ``128 + signal`` with one line, after its MLflow run ends KILLED and
its staged output is removed — from the first instruction: the signal handlers are installed
before anything else is imported. Options can also come from the environment:
``HAZARD_HARNESS_<COMMAND>_<OPTION>`` (e.g. ``HAZARD_HARNESS_RUN_WORKERS=2``), besides the
documented ``HAZARD_HARNESS_CACHE``, ``HAZARD_HARNESS_TIMEOUT``, ``RAY_ADDRESS`` and
``MLFLOW_TRACKING_URI``. ``hazard-harness``, ``python -m harness`` and ``python -m
harness.cli`` are the same entry point.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.runtime import interrupts

PROG = "hazard-harness"


def _project_errors() -> tuple[type[BaseException], ...]:
    """Error types that mean bad input or an unusable outside system (exit 2, one line)."""
    from harness.runtime.errors import HarnessError

    errors: list[type[BaseException]] = [HarnessError]
    for module, name in (("sim", "SimError"), ("core", "ModelInputError")):
        loaded = sys.modules.get(module)
        if loaded is not None:
            errors.append(getattr(loaded, name))
    return tuple(errors)


def _invoked(args: Sequence[str]) -> str:
    """``hazard-harness COMMAND [SUBCOMMAND]`` as invoked, for one-line errors."""
    app = sys.modules.get("harness.cli._app")
    group = getattr(app, "cli", None)
    if group is None:  # interrupted before the commands were declared
        return PROG
    import click

    words = [a for a in args if not a.startswith("-")]
    path = [PROG]
    for word in words:
        found = group.commands.get(word) if isinstance(group, click.Group) else None
        if found is None:
            break
        path.append(word)
        group = found
    return " ".join(path)


def _echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the command's exit code; 2 with one line on bad input; 128+n on signal n."""
    args = list(sys.argv[1:] if argv is None else argv)
    with interrupts.handle_signals():  # first: an interrupt at any moment is 128 + n
        try:
            interrupts.checkpoint("start")
            return _dispatch(args)
        except KeyboardInterrupt as exc:
            interrupt = interrupts.taken(exc)
            if interrupt is None:
                _echo(f"{PROG}: interrupted")
                return 130
            _echo(f"{_invoked(args)}: {interrupt}")
            return interrupt.exit_code
        except _project_errors() as exc:
            line = " ".join(str(exc).split())
            _echo(f"{_invoked(args)}: error: {line}")
            return 2


def _dispatch(args: list[str]) -> int:
    """Parse ``args`` and run the command (click's own errors: exit 2, one line)."""
    import click

    from harness.cli import _commands  # noqa: F401  (registers the commands on the group)
    from harness.cli._app import cli

    try:
        with cli.make_context(PROG, args) as ctx:
            return int(cli.invoke(ctx) or 0)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # a group without a command: its help
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message(), err=True)
        return 2
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else PROG
        click.echo(f"{where}: error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
