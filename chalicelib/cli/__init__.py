"""Command line for operators, provinces and facilities: `python -m chalicelib.cli <command>`.

Each command group lives in its own module with a `register(subparsers)` function; the parser is
assembled from COMMAND_MODULES so that groups stay independent. Modules import heavy dependencies
inside their handlers, which keeps `--help` fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "chalicelib.cli.events_commands",
    "chalicelib.cli.cleaning_commands",
    "chalicelib.cli.registry_commands",
    "chalicelib.cli.upload_commands",
    "chalicelib.cli.dcc_commands",
    "chalicelib.cli.dlq_commands",
    "chalicelib.cli.facility_commands",
    "chalicelib.cli.token_commands",
    "chalicelib.cli.reports_commands",
    "chalicelib.cli.access_commands",
    "chalicelib.cli.audit_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.cli",
        description="vaxpass: vaccination records to verifiable EU DCC passports.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        # A command group given without its subcommand: show that group's help.
        args._parser.print_help(sys.stderr)
        return 2
    return int(func(args) or 0)
