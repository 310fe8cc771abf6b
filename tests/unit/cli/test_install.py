"""The CLI as operators start it: `vaxpass` (installed by `make venv`) and `python -m
chalicelib.cli`, from a directory that is not the checkout, one bad input per command group."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_pyproject_installs_the_package_and_the_vaxpass_command():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"vaxpass": "chalicelib.cli:main"}
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["chalicelib*"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install" in makefile and "-e ." in makefile and "pyproject.toml" in makefile


def test_the_vaxpass_command_runs_from_any_directory(tmp_path):
    script = Path(sys.executable).parent / "vaxpass"
    if not script.exists():
        pytest.fail(f"{script} is missing: `make venv` installs it (pip install -e .)")
    # PYTHONPATH: this checkout's code, even if the venv's editable install points at another one.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(script), "keys", "init", "--out", "k"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "k" / "dsc.key.pem").exists()
    again = subprocess.run([str(script), "keys", "init", "--out", "k"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and len(again.stderr.splitlines()) == 1


GROUPS = {
    "synth": (["synth", "--people", "0", "--records", "1", "--out", "s"], "--people"),
    "clean": (["clean", "--registry", "absent.csv", "--records", "r.csv", "--out", "o"], "--registry"),
    "registry": (["registry", "import", "absent.csv"], "absent.csv"),
    "upload": (["upload", "absent.csv", "--province", "001"], "absent.csv"),
    "events": (["events", "run", "--wait", "99"], "--wait"),
    "keys": (["keys", "init", "--out", "k", "--valid-days", "-3"], "--valid-days"),
    "issue": (["issue", "--key", "absent.pem", "--cert", "absent.pem"], "--key"),
    "verify": (["verify", "--trust-list", "absent.json"], "--trust-list"),
    "qr": (["qr", "--format", "png", "--out", "q.png"], "HC1:"),
    "dlq": (["dlq", "list", "cleaning", "--max", "0"], "--max"),
    "facility": (["facility", "cert", "--ca-dir", ".", "--facility-id", "../evil", "--out", "o"], "--ca-dir"),
    "token": (["token", "staff", "--role", "province", "--province", "999"], "--province"),
    "reports": (["reports", "reconcile", "--grace-minutes", "soon"], "--grace-minutes"),
    "access-log": (["access-log", "record", "--facility-id", "a/b", "--record-id", "R"], "--facility-id"),
    "audit": (["audit", "events", "--max", "-1"], "--max"),
}


@pytest.mark.parametrize("group", GROUPS)
def test_python_m_from_another_directory_answers_a_mistake_in_one_line(tmp_path, group):
    argv, expect = GROUPS[group]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "chalicelib.cli", *argv], cwd=tmp_path, env=env, input="HELLO\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"vaxpass {group}") and expect in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_group_has_its_smoke_test():
    from chalicelib.cli import build_parser

    parser = build_parser()
    groups = next(a for a in parser._actions if a.dest == "command").choices
    assert set(groups) == set(GROUPS)
