"""Small helpers shared by the command modules."""
from __future__ import annotations

import argparse


def group(sub, name: str, help_text: str):
    """Adds a command group (e.g. `keys`) and returns its own subparsers object."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=None, _parser=parser)
    return parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def command(sub, name: str, help_text: str, func) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=func, _parser=parser)
    return parser
