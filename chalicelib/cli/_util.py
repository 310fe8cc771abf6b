"""Small helpers shared by the command modules."""
from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from chalicelib.cli._errors import CliError


def group(sub, name: str, help_text: str):
    """Adds a command group (e.g. `keys`) and returns its own subparsers object."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=None, _parser=parser)
    return parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def command(sub, name: str, help_text: str, func) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=func, _parser=parser)
    # SUPPRESS: given after the command it sets debug; not given, it leaves the top-level value.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the Python traceback of any error")
    return parser


def force_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--force", action="store_true",
                        help=f"replace existing {what}; the old files are kept as timestamped backups "
                             "(NAME.YYYYMMDDTHHMMSSZ.bak)")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def refuse_to_overwrite(option: str, paths: Sequence[Path], force: bool) -> None:
    """Keys and certificates are never replaced by accident: a key replaced orphans everything
    it signed or issued. Checked for the whole set before anything is generated or written."""
    existing = [p for p in paths if os.path.lexists(p)]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise CliError(option, f"{names} already exist(s); refusing to overwrite keys or certificates "
                               "(give --force to replace them and keep the old ones as timestamped backups)")


def backup(path: Path, stamp: str) -> Path:
    """Moves `path` aside to PATH.STAMP.bak, never onto an existing file (a hard link fails if
    the name is taken, unlike a rename), and returns the backup's path."""
    for n in range(1, 1000):
        target = path.with_name(f"{path.name}.{stamp}.bak" if n == 1 else f"{path.name}.{stamp}-{n}.bak")
        try:
            os.link(path, target, follow_symlinks=False)
        except FileExistsError:
            continue
        os.unlink(path)
        return target
    raise CliError(str(path), "too many backups with the same timestamp")


def write_new(path: Path, data: bytes, *, private: bool = False, stamp: str | None = None) -> Path | None:
    """Creates `path` with `data`; private files (keys) are 0600 from their first byte. An
    existing file is an error unless `stamp` is given (--force): then it is backed up first.
    Returns the backup's path, if one was made. O_EXCL also refuses to follow a symlink."""
    saved = backup(path, stamp) if stamp is not None and os.path.lexists(path) else None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    except FileExistsError as e:
        raise CliError(str(path), "appeared while writing; refusing to overwrite it") from e
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return saved


def backup_stamp(force: bool) -> str | None:
    return utc_now().strftime("%Y%m%dT%H%M%SZ") if force else None


def report_backups(saved: Sequence[Path | None]) -> None:
    kept = [str(p) for p in saved if p is not None]
    if kept:
        print(f"kept the replaced files as {', '.join(kept)}", file=sys.stderr)

