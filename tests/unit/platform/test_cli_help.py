"""Every CLI command and subcommand answers --help (exit 0, usage on stdout)."""
from __future__ import annotations

import argparse

import pytest

from chalicelib.cli import build_parser, main


def command_paths(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from command_paths(sub, prefix + (name,))


PATHS = list(command_paths(build_parser()))


def test_the_cli_has_the_commands_the_issues_name():
    names = {" ".join(p) for p in PATHS}
    assert {"synth", "clean", "registry import", "upload", "events run", "keys init", "issue", "verify",
            "qr"} <= names


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_help(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    assert "usage: vaxpass " + " ".join(path) in capsys.readouterr().out
