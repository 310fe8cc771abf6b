"""Command line for operators, provinces and facilities: `vaxpass <command>` (installed by
`pip install -e .`; `python -m chalicelib.cli <command>` is the same program).

Each command group lives in its own module with a `register(subparsers)` function; the parser is
assembled from COMMAND_MODULES so that groups stay independent. Modules import heavy dependencies
inside their handlers, which keeps `--help` fast. Every failure goes through one boundary
(`_errors.py`): an operator's mistake is one line on stderr and exit 2, never a traceback.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import sys
from typing import Sequence

from chalicelib.cli._errors import CliParser, UsageProblem, ValueProblem, parse, report, report_parse_problem

PROG = "vaxpass"
COMMAND_MODULES: tuple[str, ...] = (
    "chalicelib.cli.events_commands",
    "chalicelib.cli.cleaning_commands",
    "chalicelib.cli.registry_commands",
    "chalicelib.cli.upload_commands",
    "chalicelib.cli.dcc_commands",
    "chalicelib.cli.trust_commands",
    "chalicelib.cli.dlq_commands",
    "chalicelib.cli.facility_commands",
    "chalicelib.cli.token_commands",
    "chalicelib.cli.reports_commands",
    "chalicelib.cli.access_commands",
    "chalicelib.cli.audit_commands",
    "chalicelib.cli.revocation_commands",
    "chalicelib.cli.rules_commands",
)


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """Built once per process: main() may run many times in one (in-process callers, the tests: a
    build is some 200 arguments and 3 ms), and a parser keeps no state between parses."""
    parser = CliParser(
        prog=PROG,
        description="vaxpass: vaccination records to verifiable EU DCC passports. A mistake in a "
                    "command's input is reported in one line on stderr with exit status 2.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of any error (also accepted after the command)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parse(parser, argv)
    except (UsageProblem, ValueProblem) as problem:
        return report_parse_problem(problem)
    func = getattr(args, "func", None)
    command_parser = getattr(args, "_parser", parser)
    if func is None:
        # A command group given without its subcommand: show that group's help.
        command_parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except Exception as e:  # noqa: BLE001 - the one boundary: every failure is reported here
        return report(e, command_parser.prog, debug=args.debug)
    except KeyboardInterrupt as e:
        return report(e, command_parser.prog, debug=args.debug)
