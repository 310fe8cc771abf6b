"""Validation of DCC payloads against the EU DCC JSON schema 1.3.3 (bundled in data/).

Two validators with the same verdicts:
- `reference_validator()`: jsonschema's compiled Draft 2020-12 validator over the bundled schema.
  It costs ~320 us per payload (measured), several times an ECDSA P-256 verification, which would
  halve the verifier's throughput.
- `payload_problems()`: a hand-written check of exactly the schema's constraints (required
  fields, types, patterns, lengths, array sizes, oneOf v/t/r, `date` formats) in ~10 us. The
  verifier uses this one; tests/unit/dcc/test_names_uvci_payload.py proves it agrees with the reference
  validator on valid payloads and on many mutations of them.

Like jsonschema without the optional rfc3339 package, neither checks the `date-time` format of a
test's sample time. Versions 1.0.0-1.3.x are accepted: the 1.3.3 schema only relaxed 1.0/1.2
constraints and allows additional properties, so older payloads validate against it.
"""
from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import TypeGuard

from chalicelib.dcc.payload import load_json

SUPPORTED_VERSION = re.compile(r"^1\.[0-3]\.\d+\Z", re.ASCII)

# Patterns copied from the schema. Note `^\d+.\d+.\d+$` uses `.` unescaped, and the country
# pattern is unanchored: both are reproduced as the schema applies them. JSON Schema patterns are
# ECMA-262 regexes, where `$` matches only at the very end and `\d` only ASCII digits; Python's
# `$` also matches before a final newline and its `\d` matches any Unicode digit, so the patterns
# end in `\Z` and use re.ASCII. (jsonschema hands the patterns to Python's re unchanged, so it
# accepts "1990-05-01\n" as a dob; the verifiers of other countries, in JavaScript and Java, do not.)
_VER = re.compile(r"^\d+.\d+.\d+\Z", re.ASCII)
_DOB = re.compile(r"^((19|20)\d\d(-\d\d){0,2}){0,1}\Z", re.ASCII)
_STD_NAME = re.compile(r"^[A-Z<]*\Z")
_COUNTRY = re.compile(r"[A-Z]{1,10}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)

def _str(value: object) -> TypeGuard[str]:
    return isinstance(value, str)


def _str80(value) -> bool:
    return isinstance(value, str) and len(value) <= 80


def _posint(value) -> bool:
    # JSON schema "integer" accepts 2.0 but never booleans.
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value.is_integer() and value >= 1
    return isinstance(value, int) and value >= 1


def _date(value) -> bool:
    if not isinstance(value, str) or not _DATE.match(value) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _country(value) -> bool:
    return isinstance(value, str) and _COUNTRY.search(value) is not None


# Per group: the schema's declared properties with their checks, and the required ones.
# Undeclared properties are allowed by the schema and not checked.
_GROUPS = {
    "v": ({"tg": _str, "vp": _str, "mp": _str, "ma": _str, "dn": _posint, "sd": _posint,
           "dt": _date, "co": _country, "is": _str80, "ci": _str80},
          ("tg", "vp", "mp", "ma", "dn", "sd", "dt", "co", "is", "ci")),
    "t": ({"tg": _str, "tt": _str, "nm": _str80, "ma": _str, "sc": _str, "tr": _str,
           "tc": _str80, "co": _country, "is": _str80, "ci": _str80},
          ("tg", "tt", "sc", "tr", "co", "is", "ci")),
    "r": ({"tg": _str, "fr": _date, "co": _country, "is": _str80, "df": _date, "du": _date,
           "ci": _str80},
          ("tg", "fr", "co", "is", "df", "du", "ci")),
}


@lru_cache(maxsize=1)
def reference_validator():
    """jsonschema validator for the bundled schema, compiled once (the slow, authoritative one)."""
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator(load_json("DCC.combined-schema.json"), format_checker=FormatChecker())


def _name_problems(nam) -> list[str]:
    if not isinstance(nam, dict):
        return ["nam: not an object"]
    problems = []
    if "fnt" not in nam and "gnt" not in nam:
        problems.append("nam: needs fnt or gnt")
    for key in ("fn", "gn"):
        if key in nam and not (_str(nam[key]) and len(nam[key]) <= 80):
            problems.append(f"nam.{key}: not a string of at most 80 characters")
    for key in ("fnt", "gnt"):
        if key in nam and not (_str(nam[key]) and len(nam[key]) <= 80 and _STD_NAME.match(nam[key])):
            problems.append(f"nam.{key}: not ICAO 9303 A-Z< of at most 80 characters")
    return problems


def _entry_problems(group: str, entry) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{group}[0]: not an object"]
    checks, required = _GROUPS[group]
    problems = [f"{group}[0].{k}: missing" for k in required if k not in entry]
    for key, value in entry.items():
        check = checks.get(key)
        if check is not None and not check(value):
            problems.append(f"{group}[0].{key}: invalid")
    return problems


def payload_problems(payload) -> list[str]:
    """Human-readable schema violations of a DCC payload; empty when it is valid."""
    if not isinstance(payload, dict):
        return ["payload: not an object"]
    problems = []
    groups = [g for g in _GROUPS if g in payload]
    if not all(k in payload for k in ("ver", "nam", "dob")) or len(groups) != 1:
        problems.append("payload: needs ver, nam, dob and exactly one of v, t, r")
    ver = payload.get("ver")
    if "ver" in payload and not (_str(ver) and _VER.match(ver)):
        problems.append("ver: not a semantic version")
    if "nam" in payload:
        problems.extend(_name_problems(payload["nam"]))
    dob = payload.get("dob")
    if "dob" in payload and not (_str(dob) and _DOB.match(dob)):
        problems.append("dob: not YYYY[-MM[-DD]] in 1900-2099")
    for group in _GROUPS:
        if group not in payload:
            continue
        entries = payload[group]
        if not isinstance(entries, list) or len(entries) != 1:
            problems.append(f"{group}: must be an array of exactly one entry")
            continue
        problems.extend(_entry_problems(group, entries[0]))
    return problems


def is_supported_version(payload) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("ver"), str) and bool(
        SUPPORTED_VERSION.match(payload["ver"]))
