"""The ``civicpulse`` command: the top floor. Settings are read here, once, and passed down.

Each command group is a module of this package with an ``add_parser`` function; their heavy
imports happen when a command runs, so ``civicpulse --help`` stays fast. Nothing below this
package imports it.

Errors: every named error (:mod:`civicpulse.errors`) becomes one line on stderr and its exit code
(2 for a mistake the user can fix, 1 for a service that failed). SIGTERM and SIGHUP end a command
the way Ctrl-C does, so that embedded services and workers are stopped on every exit path.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from civicpulse.cli import (
    alerts,
    analytics,
    api,
    broker,
    dashboards,
    db,
    demo,
    doctor,
    ingest,
    quarantine,
    registry,
    services,
    simulate,
    up,
)
from civicpulse.cli.logs import configure
from civicpulse.errors import CivicPulseError, ConfigError
from civicpulse.settings import Settings, load_settings

COMMAND_GROUPS = (
    up,
    demo,
    ingest,
    db,
    doctor,
    services,
    registry,
    quarantine,
    broker,
    simulate,
    alerts,
    analytics,
    api,
    dashboards,
)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (context managers stop what they started)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, _frame: FrameType | None) -> None:
    # Say it at once: unwinding may take a moment (ingest commits the batch it is writing, embedded
    # servers shut down), and silence looks like a hang.
    name = signal.Signals(signum).name
    print(f"civicpulse: {name}: stopping what this command started…", file=sys.stderr, flush=True)
    raise Stopped(signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    # SIGINT too: asyncio's own Ctrl-C handling cancels the main task but then waits for
    # worker threads; ours unwinds everything the same way as SIGTERM does.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    try:
        settings = load_settings()
        _configure_logging(args, settings)
        return int(args.run(settings, args) or 0)
    except CivicPulseError as error:
        print(f"civicpulse: {error}", file=sys.stderr)
        return error.exit_code
    except Stopped as stopped:
        print(f"civicpulse: stopped by {signal.Signals(stopped.signum).name}", file=sys.stderr)
        return 128 + stopped.signum
    except BrokenPipeError:  # `civicpulse devices list | head`
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return 0
    except Exception as error:
        # Storage translates psycopg's errors; one a command let through still gets one line.
        if not type(error).__module__.startswith(("psycopg", "psycopg_pool")):
            raise
        from storage.errors import translate

        translated = translate(error, "database")  # type: ignore[arg-type]
        print(f"civicpulse: {translated}", file=sys.stderr)
        return translated.exit_code


def _configure_logging(args: argparse.Namespace, settings: Settings) -> None:
    level_name = str(args.log_level or settings.log_level).upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise ConfigError("CIVICPULSE_LOG_LEVEL", f"{level_name!r} is not DEBUG, INFO or WARNING")
    # A command whose output is a report (the demo) logs only problems unless asked for more.
    if getattr(args, "quiet_logs", False) and not args.log_level:
        level = max(level, logging.WARNING)
    configure(level, settings.log_format)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civicpulse", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (default: CIVICPULSE_LOG_LEVEL)")
    sub = parser.add_subparsers(metavar="command")
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    return parser
