"""The ``cockpit`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit import __version__
from cockpit.config import CockpitConfig, ConfigError, load_config
from cockpit.export import EXPORT_KINDS
from cockpit.logging_setup import LEVELS, setup_logging
from cockpit.paths import AppPaths, resolve_paths
from engine.journal import JournalLockedError
from engine.models import Instrument

if TYPE_CHECKING:
    from cockpit.session_base import TradingSession

log = logging.getLogger("cockpit.cli")

DESCRIPTION = """\
A keyboard-first terminal trading cockpit for Indian markets.

  cockpit --paper      trade a complete simulated market (no account, no network)
  cockpit              trade a live Angel One account through SmartAPI
  cockpit --paper --feed angelone   the live Angel One market, orders filled on paper
  cockpit --paper --replay FILE     replay a recorded feed (cockpit record), paper fills
  cockpit --paper --reset   archive the paper account (type RESET) and start a fresh one
  cockpit export orders|trades|audit --format csv   the journal's history for accounting
  cockpit doctor       check config, credentials, login and the live feed (places no order)
  cockpit login        store Angel One credentials in the system keyring
  cockpit record FILE --symbols SBIN NIFTY   record the live Angel One feed to a file
"""

EXPORT_DESCRIPTION = """\
Write an account's journal history as CSV (prices in rupees, times in IST).

  orders   one row per order: final status, filled qty, average price, reason
  trades   one row per fill, with its charges
  audit    every journal event with its hash-chain links

The journal is read read-only, so this works while a cockpit runs on the account.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="cockpit",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    parser.add_argument(
        "--paper",
        action="store_true",
        help="run the simulated market and a paper account instead of a live broker",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file to use (default: config.toml in the user config dir)",
    )
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        type=str.upper,
        help="log verbosity for this run (logs go to a file, never to the terminal)",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the simulated market (default from config: 42)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        help="speed of the simulated session clock, 1 = real time, 60 = a minute a second",
    )
    parser.add_argument(
        "--feed",
        choices=("sim", "angelone"),
        default="sim",
        help="with --paper: the market to paper-trade, sim (the simulated market, default) or "
        "angelone (the live Angel One feed; needs the Angel One credentials)",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="with --paper: replay a feed recorded with `cockpit record` and paper-trade it",
    )
    parser.add_argument(
        "--replay-speed",
        type=float,
        metavar="X",
        help="with --replay: playback speed, 1 = the recorded pace (default), 10 = ten times "
        "faster",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="with --paper: archive the paper account's journal (after you type RESET) and "
        "start a fresh paper account",
    )
    parser.add_argument(
        "--yes", action="store_true", help="skip the --reset confirmation (for scripts)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    export = commands.add_parser(
        "export",
        help="write the journal's orders, trades or audit log as CSV",
        description=EXPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("what", choices=EXPORT_KINDS, help="what to export")
    export.add_argument("--format", choices=("csv",), default="csv", help="output format")
    export.add_argument(
        "--account", default="paper", help="whose journal to read (default: paper)"
    )
    export.add_argument(
        "--journal", type=Path, metavar="PATH", help="read this journal file instead"
    )
    export.add_argument(
        "--output", type=Path, metavar="FILE", help="write here (default: standard output)"
    )
    export.add_argument(
        "--since", metavar="YYYY-MM-DD", help="only what happened on or after this IST date"
    )
    doctor = commands.add_parser(
        "doctor",
        help="check config, credentials, login, instrument master and the live feed",
        description="Checks everything a live session needs and prints what failed with the "
        "fix. Exits 0 only when every check passed. Places no order.",
    )
    doctor.add_argument("--symbols", nargs="+", metavar="SYMBOL",
                        help="instruments to subscribe for the feed check (default NIFTY, SBIN)")
    doctor.add_argument("--seconds", type=float, default=5.0,
                        help="how long to watch the feed (default 5)")
    login = commands.add_parser(
        "login",
        help="store Angel One credentials in the system keyring",
        description="Asks for the API key, client code, PIN and TOTP secret (nothing is echoed), "
        "checks them with a login, and keeps them in the system keyring, never in a file.",
    )
    login.add_argument("--forget", action="store_true", help="delete the stored credentials")
    login.add_argument("--no-verify", action="store_true",
                       help="store without trying a login first")
    record = commands.add_parser(
        "record",
        help="record the live Angel One feed to a file for replay",
        description="Records raw feed packets with their receive times; stop with Ctrl+C.",
    )
    record.add_argument("file", type=Path, help="where to write the recording (must not exist)")
    record.add_argument("--symbols", nargs="+", required=True, metavar="SYMBOL",
                        help="instruments to record (symbols, EXCH:SYMBOL or tokens)")
    record.add_argument("--seconds", type=float, help="stop after this many seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cockpit`` console script; returns the process exit code."""
    # Textual sleeps one to two repaint periods after each paint; at its default 60 a key pressed
    # in that window waits up to ~33 ms. Frames are still driven by our own frame timer.
    os.environ.setdefault("TEXTUAL_FPS", "120")
    parser = build_parser()
    args = parser.parse_args(argv)
    paths = resolve_paths()
    if args.command == "export":
        return _run_export(args, paths)
    if args.command == "doctor":
        from cockpit.doctor import run_doctor

        paths.ensure()
        setup_logging(paths.log_file, args.log_level or "INFO")
        return run_doctor(args.config or paths.config_file, paths, out=sys.stdout,
                          seconds=args.seconds, symbols=args.symbols)
    config_path: Path = args.config or paths.config_file
    if args.config is not None and not config_path.exists():
        print(f"cockpit: config file {config_path} does not exist", file=sys.stderr)
        return 2
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return 2
    paths.ensure()
    setup_logging(paths.log_file, args.log_level or config.logging.level)
    log.info("cockpit starting", extra={"version": __version__, "paper": args.paper})
    if args.command == "login":
        from cockpit.login import run_login

        return run_login(config, out=sys.stdout, forget=args.forget, verify=not args.no_verify)
    if args.command == "record":
        from cockpit.recording import run_record

        return run_record(args.file, config, paths, symbols=args.symbols, out=sys.stdout,
                          seconds=args.seconds)
    if args.reset and not args.paper:
        print(
            "cockpit: --reset starts a fresh paper account and works only with --paper "
            "(`cockpit --paper --reset`); a live account's history stays with the broker",
            file=sys.stderr,
        )
        return 2
    problem = _session_args_problem(args)
    if problem is not None:
        print(f"cockpit: {problem}", file=sys.stderr)
        return 2
    if args.reset and not _reset_paper(args, paths):
        return 1
    if args.paper and args.replay is not None:
        return _guarded(_run_replay, args, config, paths)
    if args.paper and args.feed == "sim":
        return _guarded(_run_paper, args, config, paths)
    return _guarded(_run_angel, args, config, paths)


def _guarded(
    run: Callable[[argparse.Namespace, CockpitConfig, AppPaths], int],
    args: argparse.Namespace,
    config: CockpitConfig,
    paths: AppPaths,
) -> int:
    """Run a session; a journal held by another cockpit is one clear line, not a traceback."""
    try:
        return run(args, config, paths)
    except JournalLockedError as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return 2


def _session_args_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the session options on the command line (None: nothing)."""
    if args.feed == "angelone" and not args.paper:
        return (
            "--feed angelone paper-trades the live Angel One market and needs --paper "
            "(`cockpit --paper --feed angelone`); `cockpit` alone trades the live account"
        )
    if args.replay is not None and not args.paper:
        return (
            "--replay paper-trades a recording and needs --paper "
            "(`cockpit --paper --replay FILE`)"
        )
    if args.replay is not None and args.feed == "angelone":
        return "--replay and --feed angelone exclude each other: replay a file or stream the feed"
    if args.replay_speed is not None and args.replay is None:
        return "--replay-speed needs --replay FILE"
    if args.replay_speed is not None and not args.replay_speed > 0:
        return f"--replay-speed must be positive (1 = the recorded pace), got {args.replay_speed}"
    if args.reset and (args.replay is not None or args.feed == "angelone"):
        return "--reset archives the simulated paper account; use it with --paper alone"
    return None


def _reset_paper(args: argparse.Namespace, paths: AppPaths) -> bool:
    """``--reset``: True when the paper account is fresh now and the cockpit may start."""
    from cockpit.reset import ResetError, run_reset

    try:
        outcome = run_reset(
            paths.journal_file("paper"), assume_yes=args.yes, stdin=sys.stdin, stdout=sys.stdout
        )
    except (ResetError, OSError) as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return False
    if outcome is None:
        print("cockpit: reset cancelled; the paper account is unchanged", file=sys.stderr)
        return False
    print(f"cockpit: {outcome.message}")
    log.info("paper account reset", extra={"archived": str(outcome.archived or "")})
    return True


def _run_export(args: argparse.Namespace, paths: AppPaths) -> int:
    """``cockpit export``: write the CSV; 0 on success, 2 with a message on bad input."""
    from cockpit.export import ExportError, ExportOptions, export_journal, parse_since

    try:
        since = parse_since(args.since) if args.since is not None else None
        journal = args.journal if args.journal is not None else paths.journal_file(args.account)
        options = ExportOptions(since=since, instruments=_known_instruments(args.account))
        if args.output is None:
            export_journal(args.what, journal, sys.stdout, options)
            sys.stdout.flush()
            return 0
        tmp = args.output.with_name(args.output.name + ".partial")
        with tmp.open("w", encoding="utf-8", newline="") as out:
            rows = export_journal(args.what, journal, out, options)
        tmp.replace(args.output)
    except (ExportError, OSError) as exc:
        print(f"cockpit export: {exc}", file=sys.stderr)
        return 2
    print(f"cockpit export: wrote {rows} {args.what} rows to {args.output}", file=sys.stderr)
    return 0


def _known_instruments(account: str) -> dict[str, Instrument]:
    """Symbols for the export: the bundled paper universe for the paper account."""
    if account != "paper":
        return {}
    from engine.clock import WallClock, ist_date
    from engine.paper_universe import build_paper_universe

    universe = build_paper_universe(ist_date(WallClock().now_ns()))
    return {inst.token: inst for inst in universe.instruments}


def _run_paper(args: argparse.Namespace, config: CockpitConfig, paths: AppPaths) -> int:
    from cockpit.app import CockpitApp
    from cockpit.reset import journal_holder
    from cockpit.session import PaperSessionOptions

    journal = paths.journal_file("paper")
    owner = journal_holder(journal)
    if owner is not None:
        print(
            f"cockpit: the paper account's journal {journal} is in use by {owner.describe()}; "
            "one cockpit per account: switch to that one or quit it first",
            file=sys.stderr,
        )
        return 2
    paper = config.paper
    options = PaperSessionOptions(
        seed=args.seed if args.seed is not None else paper.seed,
        speed=args.speed if args.speed is not None else paper.speed,
        session=paper.session,
        events_per_s=paper.events_per_s,
        tick_ms=paper.tick_ms,
        starting_cash=paper.starting_cash,
        journal_path=paths.journal_file("paper"),
        risk=config.risk,
    )
    app = CockpitApp(config=config, paths=paths, paper=options)
    app.run()
    return app.return_code or 0


def _run_angel(args: argparse.Namespace, config: CockpitConfig, paths: AppPaths) -> int:
    """``cockpit`` (live) or ``cockpit --paper --feed angelone``: log in and load the master
    before the screen starts, so a failure is one clear message and exit code 2."""
    from cockpit.live_session import (
        LiveDataPaperSession,
        LiveSession,
        LiveSessionError,
        LiveSessionOptions,
    )

    kind = LiveDataPaperSession if args.paper else LiveSession
    try:
        options = LiveSessionOptions.from_config(config, paths)
        session: TradingSession = kind(options)
    except LiveSessionError as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return 2
    print("cockpit: logging in to Angel One and loading the instrument master…", file=sys.stderr)
    return _run_app(config, paths, session, LiveSessionError)


def _run_replay(args: argparse.Namespace, config: CockpitConfig, paths: AppPaths) -> int:
    """``cockpit --paper --replay FILE``: a fresh paper account per replay, in
    ``<data dir>/replays``."""
    import time

    from cockpit.recording import RecordingFormatError, read_header
    from cockpit.replay_session import ReplaySession, ReplaySessionOptions
    from cockpit.session import choose_mode
    from engine.sim_config import SessionMode

    stamp = time.strftime("%Y%m%d-%H%M%S")
    journal = paths.data_dir / "replays" / f"journal-replay-{stamp}.sqlite"
    try:
        with args.replay.open("rb") as stream:
            header = read_header(stream, str(args.replay))
        # ``auto`` follows the NSE calendar at the recorded time when the file was recorded in
        # market hours; one recorded outside them trades as an always-open market.
        mode = choose_mode(config.paper.session, header.created_ns)
        journal.parent.mkdir(parents=True, exist_ok=True)
        session = ReplaySession(ReplaySessionOptions(
            path=args.replay,
            journal_path=journal,
            speed=args.replay_speed if args.replay_speed is not None else 1.0,
            market_phase="always_open" if mode is SessionMode.ALWAYS_OPEN else "calendar",
            risk=config.risk,
            starting_cash=config.paper.starting_cash,
            seed=config.paper.seed,
        ))
    except (RecordingFormatError, OSError) as exc:
        print(f"cockpit: cannot replay {args.replay}: {exc}", file=sys.stderr)
        return 2
    log.info("replay journal", extra={"journal": str(journal)})
    return _run_app(config, paths, session, OSError)


def _run_app(
    config: CockpitConfig,
    paths: AppPaths,
    session: TradingSession,
    start_error: type[Exception],
) -> int:
    """Start ``session`` on the loop the app then runs on; a ``start_error`` prints its message
    and returns 2 before the screen starts."""
    import asyncio

    from cockpit.app import CockpitApp

    async def run() -> int:
        try:
            await session.start()
        except start_error as exc:
            print(f"cockpit: {exc}", file=sys.stderr)
            return 2
        app = CockpitApp(config=config, paths=paths, session=session)
        try:
            await app.run_async()
        finally:
            await session.stop()  # done already when the app exits normally; safe twice
        return app.return_code or 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        print("cockpit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
