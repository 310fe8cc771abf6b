"""`access-log`: who was shown whose data (operators, with read access to the access table; the API
itself only appends to it, and reads a citizen's own history for GET /v1/access-log/me).
`access-log --citizen CID`: every read of one citizen's data; `record`, `reader`: cleaning-result
reads by record and any read by one caller."""
from __future__ import annotations

import json
import sys

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError
from chalicelib.cli._util import command, group

ROLES = ("facility", "province", "ministry", "operator")


def register(sub) -> None:
    g = group(sub, "access-log", "who read whose data, and when (--citizen CID: one citizen's history)")
    parser = sub.choices["access-log"]
    parser.add_argument("--citizen", metavar="CID", help="every read of this citizen's data, oldest first "
                                                          "(JSON lines)")
    parser.add_argument("--since", type=t.iso_time, help="with --citizen: only reads at or after this time")
    parser.set_defaults(func=_citizen_or_help)
    p = command(g, "record", "every read of one record's cleaning result, oldest first (JSON lines)", _record)
    p.add_argument("--facility-id", required=True, type=t.facility_id)
    p.add_argument("--record-id", required=True)
    p.add_argument("--since", type=t.iso_time, help="only reads at or after this time (ISO 8601, UTC if no offset)")
    p = command(g, "reader", "every read by one caller, oldest first (JSON lines)", _reader)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--scope", help="the facility id (facility) or province code (province)")
    p.add_argument("--subject", help="the identity provider's subject (ministry, operator)")
    p.add_argument("--since", type=t.iso_time, help="only reads at or after this time (ISO 8601, UTC if no offset)")


def _citizen_or_help(args) -> int:
    from chalicelib.identity import parse_citizen_id
    from chalicelib.wiring import container

    if not args.citizen:
        args._parser.print_help(sys.stderr)
        return 2
    if parse_citizen_id(args.citizen) is None:  # never echoed: a citizen id is personal data
        raise CliError("--citizen", "not a 12-digit citizen id")
    return _print(container().person_access.history(args.citizen, since=args.since))


def _record(args) -> int:
    from chalicelib.wiring import container

    return _print(container().access_log.reads_of_record(args.facility_id, args.record_id, since=args.since))


def _reader(args) -> int:
    from chalicelib.cleaning.access import Reader
    from chalicelib.wiring import container

    national = args.role in ("ministry", "operator")
    needed, given = ("--subject", args.subject) if national else ("--scope", args.scope)
    if not given:
        raise CliError(needed, f"--role {args.role} needs {needed}")
    scope = "" if national else _scope(args.role, args.scope)
    reader = Reader(args.role, args.subject or "", scope)
    return _print(container().access_log.reads_by(reader.key(), since=args.since))


def _scope(role: str, value: str) -> str:
    """A province scope is written as the code the log keeps (79 -> 079); a facility's in its form."""
    import argparse

    try:
        return t.province(value) if role == "province" else t.facility_id(value)
    except argparse.ArgumentTypeError as e:
        raise CliError("--scope", str(e)) from e


def _print(entries) -> int:
    for e in entries:
        print(json.dumps(e.to_dict(), ensure_ascii=False))
    print(json.dumps({"reads": len(entries)}), file=sys.stderr)
    return 0
