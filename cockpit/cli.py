"""The ``cockpit`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cockpit import __version__
from cockpit.config import CockpitConfig, ConfigError, load_config
from cockpit.logging_setup import LEVELS, setup_logging
from cockpit.paths import AppPaths, resolve_paths

log = logging.getLogger("cockpit.cli")

DESCRIPTION = """\
A keyboard-first terminal trading cockpit for Indian markets.

  cockpit --paper      trade a complete simulated market (no account, no network)
  cockpit              trade a live Angel One account through SmartAPI
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cockpit`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    paths = resolve_paths()
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
    if args.paper:
        return _run_paper(args, config, paths)
    print(
        "cockpit: live trading needs the Angel One adapter, which this build does not include "
        "yet.\nRun `cockpit --paper` to trade the simulated market.",
        file=sys.stderr,
    )
    return 2


def _run_paper(args: argparse.Namespace, config: CockpitConfig, paths: AppPaths) -> int:
    from cockpit.app import CockpitApp
    from cockpit.session import PaperSessionOptions

    paper = config.paper
    options = PaperSessionOptions(
        seed=args.seed if args.seed is not None else paper.seed,
        speed=args.speed if args.speed is not None else paper.speed,
        session=paper.session,
        events_per_s=paper.events_per_s,
    )
    app = CockpitApp(config=config, paths=paths, paper=options)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
