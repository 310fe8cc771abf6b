"""A small IAM policy evaluator: would this identity policy allow this request?

LocalStack does not enforce IAM, so the tests evaluate each recorded AWS call (infra/aws_calls.py)
against the function's rendered policy themselves. The policies infra/cloudformation.py renders
use a small part of the language, and this implements that part the way AWS documents it
(policy evaluation logic, identity policies of one account): an explicit Deny wins, then any
Allow, else the implicit deny; Action/NotAction (case-insensitive `*`/`?` wildcards),
Resource/NotResource (case-sensitive wildcards), and the condition operators StringEquals,
StringLike, ArnEquals, ArnLike (each with ForAnyValue:/ForAllValues: set qualifiers and negated
forms StringNotEquals/StringNotLike). A condition key missing from the request makes its
condition false (ForAllValues: true), as in AWS. An operator it does not know is an error, never a
silent match.

Why not a library: the kept Python options (policyuniverse, parliament, policy_sentry) lint or
expand policies; none decides whether a request is allowed, and botocore has no evaluator either.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Sids of the Allow statements that matched (for the unused-grants report).
    allowed_by: tuple[str, ...] = ()
    denied_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ask:
    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def wildcard_match(pattern: str, value: str, *, case: bool) -> bool:
    # IAM wildcards: `*` any run of characters (across `:` and `/`), `?` one character.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _matches_any(patterns: Iterable[str], value: str, *, case: bool) -> bool:
    return any(wildcard_match(p, value, case=case) for p in patterns)


def _value_matches(op: str, pattern: str, value: str) -> bool:
    if op in ("StringEquals", "ArnEquals"):
        return pattern == value
    if op in ("StringEqualsIgnoreCase",):
        return pattern.lower() == value.lower()
    if op in ("StringLike", "ArnLike"):
        return wildcard_match(pattern, value, case=True)
    raise ValueError(f"condition operator {op} is not supported by infra/iam.py")


_NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals",
            "ArnNotLike": "ArnLike"}


def _condition_holds(operator: str, key: str, patterns: list[str], context: Mapping[str, Sequence[str]]) -> bool:
    qualifier, _, op = operator.rpartition(":")
    negated = op in _NEGATED
    base = _NEGATED.get(op, op)
    values = list(context.get(key, []))
    match = lambda v: any(_value_matches(base, p, v) for p in patterns)  # noqa: E731
    if qualifier == "ForAnyValue":
        result = any(match(v) for v in values)
    elif qualifier == "ForAllValues":
        result = all(match(v) for v in values)
    elif qualifier:
        raise ValueError(f"condition qualifier {qualifier} is not supported by infra/iam.py")
    else:
        if not values:
            return False
        result = match(values[0])
    return not result if negated else result


def _statement_applies(st: Mapping, ask: Ask) -> bool:
    if "Action" in st:
        if not _matches_any(_list(st["Action"]), ask.action, case=False):
            return False
    elif _matches_any(_list(st.get("NotAction")), ask.action, case=False):
        return False
    if "Resource" in st:
        if not _matches_any(_list(st["Resource"]), ask.resource, case=True):
            return False
    elif _matches_any(_list(st.get("NotResource")), ask.resource, case=True):
        return False
    for operator, clauses in (st.get("Condition") or {}).items():
        for key, patterns in clauses.items():
            if not _condition_holds(operator, key, [str(p) for p in _list(patterns)], ask.context):
                return False
    return True


def evaluate(policy: Mapping, ask: Ask) -> Decision:
    allows: list[str] = []
    denies: list[str] = []
    for i, st in enumerate(policy.get("Statement", [])):
        if _statement_applies(st, ask):
            (allows if st["Effect"] == "Allow" else denies).append(st.get("Sid", str(i)))
    if denies:
        return Decision(False, denied_by=tuple(denies))
    return Decision(bool(allows), allowed_by=tuple(allows))
