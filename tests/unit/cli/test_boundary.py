"""The CLI's error boundary: usage problems show the subcommand's usage, a bug shows its
traceback and says it is a bug, --debug shows the traceback of an expected failure."""
from __future__ import annotations

import argparse

from chalicelib.cli import build_parser

from .conftest import run


def command_paths(parser: argparse.ArgumentParser | None = None, prefix=()) -> list[str]:
    """Every runnable command ("keys init", "verify", ...)."""
    parser = parser or build_parser()
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = prefix + (name,)
                inner = command_paths(sub, path)
                found += inner or [" ".join(path)]
    return found


def test_an_unknown_flag_prints_the_subcommands_usage_not_the_top_level_one(tmp_path):
    result = run(["keys", "init", "--out", tmp_path, "--bogus"])
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.startswith("usage: vaxpass keys init ")
    assert result.err_lines[-1] == "vaxpass keys init: error: unrecognized arguments: --bogus"
    assert not any(tmp_path.iterdir())


def test_an_unknown_flag_of_every_command_names_that_command():
    for path in command_paths():
        result = run([*path.split(), "--no-such-flag"])
        assert result.code == 2 and "Traceback" not in result.err, path
        assert result.err.startswith(f"usage: vaxpass {path} "), (path, result.err)
        assert result.err_lines[-1].startswith(f"vaxpass {path}: error: "), path


def test_a_missing_required_option_shows_the_usage(tmp_path):
    result = run(["facility", "cert", "--out", tmp_path])
    assert result.code == 2 and result.err.startswith("usage: vaxpass facility cert ")
    assert "--ca-dir" in result.err_lines[-1] and "--facility-id" in result.err_lines[-1]


def test_a_bug_shows_its_traceback_and_says_it_is_a_bug(monkeypatch, tmp_path):
    import chalicelib.dcc.qr as qr

    def broken(*_a, **_k):
        return {}["a bug"]  # a KeyError nobody expected

    monkeypatch.setattr(qr, "render_qr_svg", broken)
    result = run(["qr", "--format", "svg", "--out", tmp_path / "q.svg"], "HC1:ABC\n")
    assert result.code == 70
    assert "Traceback" in result.err and "KeyError" in result.err
    assert result.err_lines[-1].startswith("vaxpass qr: internal error (KeyError): this is a bug in vaxpass")


def test_debug_shows_the_traceback_of_an_expected_failure_before_or_after_the_command(tmp_path):
    for argv in (["--debug", "qr", "--format", "png", "--out", tmp_path / "q.png"],
                 ["qr", "--format", "png", "--out", tmp_path / "q.png", "--debug"]):
        result = run(argv, "HELLO WORLD\n")
        assert result.code == 2 and "Traceback" in result.err
        assert result.err_lines[-1] == ("vaxpass qr: error: stdin: is not an HC1: string (a DCC from "
                                        "`vaxpass issue`); give --raw to encode other text")


def test_a_domain_error_keeps_its_code_and_the_argument_it_belongs_to(ws):
    result = run(["facility", "sign", "--key", ws / "fac" / "HCM-CDC.p12", "--password", "nope",
                  "--batch", ws / "batch.json"])
    assert result.code == 2
    assert result.err_lines == ["vaxpass facility sign: error [KEY_MATERIAL_INVALID]: --key: cannot read the "
                                "PKCS#12 file (wrong password or not PKCS#12)"]


def test_a_bad_configuration_variable_is_one_line(monkeypatch, ws):
    from chalicelib.wiring import set_container

    monkeypatch.setenv("VAXPASS_DCC_VALIDITY_DAYS", "soon")
    from chalicelib.settings import get_settings

    get_settings.cache_clear()
    set_container(None)
    try:
        result = run(["token", "staff", "--role", "ministry"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        set_container(None)
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err_lines == ["vaxpass token staff: error: configuration: VAXPASS_DCC_VALIDITY_DAYS='soon': "
                                "invalid literal for int() with base 10: 'soon'"]
