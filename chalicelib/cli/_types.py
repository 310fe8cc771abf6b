"""Argument types: a bad value is refused while the command line is parsed, before anything runs.

Each type raises `argparse.ArgumentTypeError` with a message that names the problem; the parser
prefixes the option (`argument --valid-days: ...`), so an operator reads one line that says what
to change. Paths are checked for what the command will do with them (read a file, write a file
in an existing folder, create a folder), so a typo never ends in a traceback half-way through.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

# Facility and focal agency ids: what `facility cert` names its files after, so the form leaves
# no room for a path (no separators, no leading dot, nothing but ASCII letters, digits, . _ -).
FACILITY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z", re.ASCII)
FACILITY_ID_FORM = "1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
MAX_DAYS = 36500  # 100 years: beyond any certificate, and far from datetime's overflow


def _fail(message: str) -> NoReturn:
    raise argparse.ArgumentTypeError(message)


def whole_number(low: int, high: int | None = None):
    """An int in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            _fail(f"must be a whole number {span}, not {text!r}")
        return value
    parse.__name__ = "whole number"
    return parse


positive_int = whole_number(1)
days = whole_number(1, MAX_DAYS)


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also refuses nan
        _fail(f"must be a number from 0 to 1, not {text!r}")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0.0 < value < math.inf):
        _fail(f"must be a positive number of seconds, not {text!r}")
    return value


def text(value: str) -> str:
    """A name or label: not blank, one line, at most 200 characters."""
    stripped = value.strip()
    if not stripped:
        _fail("must not be empty")
    if len(stripped) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in stripped):
        _fail("must be one line of at most 200 characters")
    return stripped


def province(value: str) -> str:
    from chalicelib.identity import normalise_province_code

    code = normalise_province_code(value)
    if code is None:
        _fail(f"{value!r} is not a province code (the 63 codes of citizen ids, e.g. 001 or 79)")
    return code


def facility_id(value: str) -> str:
    if not FACILITY_ID.match(value):
        _fail(f"{value!r} is not a facility id ({FACILITY_ID_FORM})")
    return value


def country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value):
        _fail(f"{value!r} is not a two-letter upper-case country code (ISO 3166-1 alpha-2)")
    return value


def iso_time(value: str) -> datetime:
    """An ISO 8601 time; without an offset it is read as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{value!r} is not an ISO 8601 time (e.g. 2024-03-01T08:00:00+07:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- paths ------------------------------------------------------------------------------------
def _stat(value: str) -> os.stat_result | None:
    if not value:
        _fail("no path given")
    try:
        return os.stat(value)
    except (FileNotFoundError, NotADirectoryError):  # a/b where a is a file: b does not exist
        return None
    except OSError as e:
        _fail(f"cannot use {value}: {e.strerror}")


def readable_file(value: str) -> Path:
    """An existing file this process can read (a regular file or a pipe, never a device)."""
    st = _stat(value)
    if st is None:
        _fail(f"cannot read {value}: no such file")
    if stat.S_ISDIR(st.st_mode):
        _fail(f"{value} is a folder, not a file")
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        _fail(f"{value} is a device, not a file")
    if not os.access(value, os.R_OK):
        _fail(f"cannot read {value}: permission denied")
    return Path(value)


def readable_path(value: str) -> Path:
    """An existing readable file or folder (certificate files, or folders of them)."""
    st = _stat(value)
    if st is None:
        _fail(f"cannot read {value}: no such file or folder")
    if stat.S_ISDIR(st.st_mode):
        if not os.access(value, os.R_OK | os.X_OK):
            _fail(f"cannot read the folder {value}: permission denied")
        return Path(value)
    return readable_file(value)


def ca_directory(value: str) -> Path:
    """A folder written by `facility ca init`: ca.pem and ca.key.pem, both readable."""
    folder = readable_path(value)
    if not folder.is_dir():
        _fail(f"{value} is a file; give the folder holding ca.pem and ca.key.pem")
    missing = [n for n in ("ca.pem", "ca.key.pem") if not (folder / n).is_file()]
    if missing:
        _fail(f"{value} has no {' and no '.join(missing)} (write them with `vaxpass facility ca init`)")
    for name in ("ca.pem", "ca.key.pem"):
        if not os.access(folder / name, os.R_OK):
            _fail(f"cannot read {folder / name}: permission denied")
    return folder


def _writable_folder(folder: Path, value: str) -> None:
    if not folder.is_dir():
        _fail(f"{folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        _fail(f"cannot write in {folder}: permission denied")


def output_file(value: str) -> Path:
    """A file to write, in a folder that exists (a missing folder is more often a typo)."""
    st = _stat(value)
    path = Path(value)
    if st is not None and stat.S_ISDIR(st.st_mode):
        _fail(f"{value} is a folder; give a file name")
    parent = path.parent
    if not parent.exists():
        _fail(f"the folder {parent} does not exist")
    _writable_folder(parent, value)
    if st is not None and not os.access(value, os.W_OK):
        _fail(f"cannot write {value}: permission denied")
    return path


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def output_dir(value: str) -> Path:
    """A folder to write into: an existing writable folder, or one that can be created."""
    st = _stat(value)
    path = Path(value)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        _fail(f"{value} is a file, not a folder")
    _writable_folder(_nearest_existing(path), value)
    return path


def output_path(value: str) -> Path:
    """A file to write whose missing folders are created (`token jwks` next to a new key)."""
    st = _stat(value)
    if st is not None and stat.S_ISDIR(st.st_mode):
        _fail(f"{value} is a folder; give a file name")
    path = Path(value)
    _writable_folder(_nearest_existing(path.parent), value)
    return path
