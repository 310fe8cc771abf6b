"""Small helpers shared by the command modules."""
from __future__ import annotations

import argparse
import functools
import sys
from datetime import datetime, timezone
from pathlib import Path


def group(sub, name: str, help_text: str):
    """Adds a command group (e.g. `keys`) and returns its own subparsers object."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=None, _parser=parser)
    return parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def command(sub, name: str, help_text: str, func) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=func, _parser=parser)
    return parser


def reports_domain_errors(func):
    """Bad input (unknown vaccine, expired DSC, unreadable trust list, a bad token scope) is an
    operator error: print its safe message and exit 2 instead of a traceback. Other errors still
    propagate."""
    @functools.wraps(func)
    def wrapper(args) -> int:
        from chalicelib.errors import DomainError

        try:
            return func(args)
        except DomainError as e:
            print(f"error [{e.code}]: {e.message}", file=sys.stderr)
            return 2
    return wrapper


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def write_file(path: Path, data: bytes, private: bool = False) -> None:
    """Writes `data`; private files (keys) are readable by their owner only."""
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
