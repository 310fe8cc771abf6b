"""The CLI as operators start it: `vaxpass` (installed by `make venv`) and `python -m
chalicelib.cli`, from a directory that is not the checkout, one bad input per command group: the
suite's one subprocess smoke test per group (every other CLI test calls `main(argv)` in process).
The processes start as soon as the tests are collected (tests/unit/background.py)."""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from tests.unit import background

ROOT = Path(__file__).resolve().parents[3]


def test_pyproject_installs_the_package_and_the_vaxpass_command():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"vaxpass": "chalicelib.cli:main"}
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["chalicelib*"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install" in makefile and "-e ." in makefile and "pyproject.toml" in makefile


def _vaxpass_from_any_directory() -> tuple[list, list]:
    """`vaxpass keys init` twice in an empty directory: (return codes, [stderr lines of the second])."""
    script = Path(sys.executable).parent / "vaxpass"
    if not script.exists():
        return [f"{script} is missing: `make venv` installs it (pip install -e .)"], []
    # PYTHONPATH: this checkout's code, even if the venv's editable install points at another one.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as cwd:
        first = subprocess.run([str(script), "keys", "init", "--out", "k"], cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=60)
        made = (Path(cwd) / "k" / "dsc.key.pem").exists()
        again = subprocess.run([str(script), "keys", "init", "--out", "k"], cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=60)
    return [first.returncode, first.stderr, made, again.returncode], again.stderr.splitlines()


background.register(__name__, "vaxpass-command", _vaxpass_from_any_directory)


def test_the_vaxpass_command_runs_from_any_directory():
    (code, err, made, again), again_err = background.result("vaxpass-command")
    assert code == 0, err
    assert made
    assert again == 2 and len(again_err) == 1


GROUPS = {
    "synth": (["synth", "--people", "0", "--records", "1", "--out", "s"], "--people"),
    "clean": (["clean", "--registry", "absent.csv", "--records", "r.csv", "--out", "o"], "--registry"),
    "registry": (["registry", "import", "absent.csv"], "absent.csv"),
    "upload": (["upload", "absent.csv", "--province", "001"], "absent.csv"),
    "events": (["events", "run", "--wait", "99"], "--wait"),
    "keys": (["keys", "init", "--out", "k", "--valid-days", "-3"], "--valid-days"),
    "issue": (["issue", "--key", "absent.pem", "--cert", "absent.pem"], "--key"),
    "verify": (["verify", "--trust-list", "absent.json"], "--trust-list"),
    "trust": (["trust", "import", "absent.json", "--anchors", "."], "absent.json"),
    "qr": (["qr", "--format", "png", "--out", "q.png"], "HC1:"),
    "dlq": (["dlq", "list", "cleaning", "--max", "0"], "--max"),
    "facility": (["facility", "cert", "--ca-dir", ".", "--facility-id", "../evil", "--out", "o"], "--ca-dir"),
    "token": (["token", "staff", "--role", "province", "--province", "999"], "--province"),
    "reports": (["reports", "reconcile", "--grace-minutes", "soon"], "--grace-minutes"),
    "access-log": (["access-log", "record", "--facility-id", "a/b", "--record-id", "R"], "--facility-id"),
    "audit": (["audit", "events", "--max", "-1"], "--max"),
    "revocation": (["revocation", "anchor-key", "--out", "no/anchor.pem"], "--out"),
    "rules": (["rules", "evaluate", "--rule", "absent.json"], "--rule"),
}


def _mistake(group: str):
    """`python -m chalicelib.cli` with the group's mistake, from an empty directory: (the process, what
    the directory holds afterwards)."""
    argv, _ = GROUPS[group]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([sys.executable, "-m", "chalicelib.cli", *argv], cwd=cwd, env=env, input="HELLO\n",
                              capture_output=True, text=True, timeout=60)
        return done, sorted(os.listdir(cwd))


for _group in GROUPS:
    background.register(__name__, f"mistake:{_group}", functools.partial(_mistake, _group))


@pytest.mark.parametrize("group", GROUPS)
def test_python_m_from_another_directory_answers_a_mistake_in_one_line(group):
    done, left = background.result(f"mistake:{group}")
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"vaxpass {group}") and GROUPS[group][1] in done.stderr
    assert left == []


def test_every_group_has_its_smoke_test():
    from chalicelib.cli import build_parser

    parser = build_parser()
    groups = next(a for a in parser._actions if a.dest == "command").choices
    assert set(groups) == set(GROUPS)
