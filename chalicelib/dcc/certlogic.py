"""CertLogic: the expression language of the EU DCC business rules, evaluated and validated.

Countries publish their entry and invalidation rules on the EU gateway as CertLogic expressions
(a restricted JsonLogic plus date-time and UCI operations). A verifier that applies those rules
must read them exactly as the reference implementation (certlogic-js) does, or a certificate
that passes in one country's app fails in ours. No maintained Python package implements the
CertLogic specification (json-logic ports lack plusTime / dccDateOfBirth / extractFromUVCI and
use JavaScript's loose truthiness), so this module implements specification 1.3.3 itself and is
held to the specification's own test suites (tests/fixtures/certlogic/).

Pure: no I/O, no clock; the data context carries the validation clock.
"""
from __future__ import annotations

import calendar
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "CertLogicError",
    "DateTime",
    "ValidationIssue",
    "evaluate",
    "is_falsy",
    "is_truthy",
    "validate",
]

_INFIX = frozenset(
    {"===", "!==", "and", ">", "<", ">=", "<=", "in", "+", "after", "before", "not-after", "not-before"}
)
_INT_COMPARISONS = frozenset({">", "<", ">=", "<="})
# The date-time comparisons are the integer ones applied to instants.
_DATE_COMPARISONS = {"after": ">", "before": "<", "not-after": "<=", "not-before": ">="}
_TIME_UNITS = ("year", "month", "day", "hour")
_UNIT_MESSAGE = '"unit" argument (#3) of "plusTime" must be one of year, month, day, hour'
_AMOUNT_MESSAGE = '"amount" argument (#2) of "plusTime" must be an integer'


class CertLogicError(ValueError):
    """The expression is invalid, or it met data of a type its operation does not allow.

    The specification makes such an expression an error rather than a value; a rule that raises
    one is not passed (the reference apps' 'OPEN').
    """


@dataclass(frozen=True)
class DateTime:
    """An instant with millisecond precision: the only date-time value CertLogic has.

    Kept as epoch milliseconds so comparisons are exact and independent of time zones.
    """

    epoch_ms: int

    def isoformat(self) -> str:
        moment = _EPOCH + timedelta(milliseconds=self.epoch_ms)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class ValidationIssue:
    expr: Any
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"expr": self.expr, "message": self.message}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---- values ---------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    # JSON has one number type: 42.0 is the integer 42 for the JavaScript reference.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def _as_int(value: Any) -> int:
    return int(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Truthiness is defined on any JSON number (as certlogic-js does), not only on integers.
def is_truthy(value: Any) -> bool:
    if value is True:
        return True
    if _is_number(value):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return False


def is_falsy(value: Any) -> bool:
    if value is False or value is None:
        return True
    if _is_number(value):
        return value == 0
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    return False


def _strict_equal(left: Any, right: Any) -> bool:
    """JavaScript's `===`: no coercion; arrays, objects and dates only equal themselves."""
    if _is_int(left) and _is_int(right):
        return bool(left == right)
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if left is None or right is None:
        return left is right
    if isinstance(left, float) and isinstance(right, float):
        return left == right
    return left is right


# ---- date-times -----------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(Z|[+-](?:\d{1,2}(?::?\d{2})?))?$"
)
# Messages never repeat the value: it may be a date of birth, and answers reach logs and screens.
_DOB_MESSAGE = "not a valid dccDateOfBirth value (YYYY, YYYY-MM or YYYY-MM-DD)"
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _from_fields(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
                 second: int = 0, millis: int = 0) -> DateTime:
    # Day and month overflow roll over as JavaScript's Date.UTC does (2021-02-29 is 2021-03-01).
    month_index = year * 12 + (month - 1)
    base = datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=UTC)
    moment = base + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second,
                              milliseconds=millis)
    return DateTime(_to_ms(moment))


def _to_ms(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _parse_offset_minutes(text: str | None) -> int:
    if text is None or text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    body = text[1:]
    if ":" in body:
        hours, minutes = body.split(":")
    elif len(body) <= 2:
        hours, minutes = body, "0"
    else:
        hours, minutes = body[:-2], body[-2:]
    return sign * (int(hours) * 60 + int(minutes))


def dcc_date_of_birth(text: str) -> DateTime:
    """The last instant consistent with a DCC `dob` (YYYY, YYYY-MM or YYYY-MM-DD)."""
    match = _PARTIAL_DATE.match(text)
    if match is None:
        raise CertLogicError(_DOB_MESSAGE)
    year = int(match.group(1))
    if match.group(2) is None:
        return _from_fields(year, 12, 31)
    month = int(match.group(2))
    if not 1 <= month <= 12:
        raise CertLogicError(_DOB_MESSAGE)
    if match.group(3) is None:
        return _from_fields(year, month, _last_day(year, month))
    return _from_fields(year, month, int(match.group(3)))


def parse_date_time(text: str) -> DateTime:
    """One of the date(-time) formats the specification allows, normalised to UTC milliseconds."""
    if _PARTIAL_DATE.match(text):
        return dcc_date_of_birth(text)
    match = _DATE_TIME.match(text)
    if match is None:
        raise CertLogicError("not an allowed date or date-time format")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    # Decimals beyond the millisecond are cut, not rounded (the specification says so).
    millis = int((match.group(7) or "0")[:3].ljust(3, "0"))
    local = _from_fields(year, month, day, hour, minute, second, millis)
    return DateTime(local.epoch_ms - _parse_offset_minutes(match.group(8)) * 60_000)


def plus_time(text: str, amount: int, unit: str) -> DateTime:
    start = parse_date_time(text)
    if unit == "hour":
        return DateTime(start.epoch_ms + amount * 3_600_000)
    if unit == "day":
        return DateTime(start.epoch_ms + amount * 86_400_000)
    moment = _EPOCH + timedelta(milliseconds=start.epoch_ms)
    months = amount * 12 if unit == "year" else amount
    return _from_fields(moment.year, moment.month + months, moment.day, moment.hour,
                        moment.minute, moment.second, moment.microsecond // 1000)


# ---- evaluation -----------------------------------------------------------------------------


def _js_parse_int(fragment: str) -> int | None:
    match = re.match(r"^\s*([+-]?\d+)", fragment)
    return int(match.group(1)) if match else None


def _evaluate_var(path: Any, data: Any) -> Any:
    if not isinstance(path, str):
        raise CertLogicError('not of the form { "var": "<path>" }')
    if path == "":
        return data
    # certlogic-js: `acc[isNaN(parseInt(f)) ? f : parseInt(f)]`, undefined read as null. So "01"
    # reads key "1" of an object, and an array's or string's "length" is its length.
    current = data
    for fragment in path.split("."):
        if current is None:
            return None
        index = _js_parse_int(fragment)
        if isinstance(current, dict):
            current = current.get(fragment if index is None else str(index))
        elif isinstance(current, (list, str)):
            if index is not None:
                current = current[index] if 0 <= index < len(current) else None
            else:
                current = len(current) if fragment == "length" else None
        else:
            current = None
    return current


def _compare(operator: str, left: Any, right: Any) -> bool:
    if operator == ">":
        return bool(left > right)
    if operator == "<":
        return bool(left < right)
    if operator == ">=":
        return bool(left >= right)
    return bool(left <= right)


def _compare_chain(operator: str, values: list[Any]) -> bool:
    if len(values) == 2:
        return _compare(operator, values[0], values[1])
    return _compare(operator, values[0], values[1]) and _compare(operator, values[1], values[2])


def _evaluate_infix(operator: str, operands: list[Any], data: Any) -> Any:
    if operator == "and":
        if len(operands) < 2:
            raise CertLogicError('an "and" operation must have at least 2 operands')
        result: Any = True
        for operand in operands:
            if is_falsy(result):
                return result
            if not is_truthy(result):
                raise CertLogicError('all operands of an "and" operation must be either truthy or falsy')
            result = _evaluate(operand, data)
        return result
    if operator in _INT_COMPARISONS or operator in _DATE_COMPARISONS:
        if len(operands) not in (2, 3):
            raise CertLogicError(f'an operation with operator "{operator}" must have 2 or 3 operands')
    elif len(operands) != 2:
        raise CertLogicError(f'an operation with operator "{operator}" must have 2 operands')
    values = [_evaluate(operand, data) for operand in operands]
    if operator == "===":
        return _strict_equal(values[0], values[1])
    if operator == "!==":
        return not _strict_equal(values[0], values[1])
    if operator == "in":
        haystack = values[1]
        if not isinstance(haystack, list):
            raise CertLogicError('right-hand side of an "in" operation must be an array')
        return any(_strict_equal(values[0], item) for item in haystack)
    if operator == "+":
        if not all(_is_int(value) for value in values):
            raise CertLogicError('operands of a "+" operation must be integers')
        return _as_int(values[0]) + _as_int(values[1])
    if operator in _INT_COMPARISONS:
        if not all(_is_int(value) for value in values):
            raise CertLogicError("all operands of a comparison operation must be of integer type")
        return _compare_chain(operator, values)
    if not all(isinstance(value, DateTime) for value in values):
        raise CertLogicError("all operands of a date-time comparison must be date-times")
    return _compare_chain(_DATE_COMPARISONS[operator], [value.epoch_ms for value in values])


# As in certlogic-js, an operation reads the operands it needs and ignores any beyond them; too
# few is an error. (The validator reports both.)
def _evaluate_if(operands: list[Any], data: Any) -> Any:
    if len(operands) < 3:
        raise CertLogicError("an if-operation must have a guard, a then and an else (3 operands)")
    guard = _evaluate(operands[0], data)
    if is_truthy(guard):
        return _evaluate(operands[1], data)
    if is_falsy(guard):
        return _evaluate(operands[2], data)
    raise CertLogicError("if-guard evaluates to something neither truthy, nor falsy")


def _evaluate_not(operands: list[Any], data: Any) -> bool:
    if len(operands) < 1:
        raise CertLogicError('a "!" operation must have exactly 1 operand')
    value = _evaluate(operands[0], data)
    if is_falsy(value):
        return True
    if is_truthy(value):
        return False
    raise CertLogicError("operand of ! evaluates to something neither truthy, nor falsy")


def _evaluate_plus_time(operands: list[Any], data: Any) -> DateTime:
    if len(operands) < 3:
        raise CertLogicError('a "plusTime" operation must have 3 operands')
    amount, unit = operands[1], operands[2]
    if not _is_int(amount):
        raise CertLogicError(_AMOUNT_MESSAGE)
    if unit not in _TIME_UNITS:
        raise CertLogicError(_UNIT_MESSAGE)
    text = _evaluate(operands[0], data)
    if not isinstance(text, str):
        raise CertLogicError('date argument of "plusTime" must be a string')
    return plus_time(text, _as_int(amount), unit)


def _evaluate_reduce(operands: list[Any], data: Any) -> Any:
    if len(operands) < 3:
        raise CertLogicError('a "reduce" operation must have 3 operands')
    items = _evaluate(operands[0], data)
    accumulator = _evaluate(operands[2], data)
    if items is None:
        return accumulator
    if not isinstance(items, list):
        raise CertLogicError("operand of reduce evaluated to a non-null non-array")
    for current in items:
        accumulator = _evaluate(operands[1], {"accumulator": accumulator, "current": current, "data": data})
    return accumulator


def _evaluate_extract_from_uvci(operands: list[Any], data: Any) -> Any:
    if len(operands) < 2:
        raise CertLogicError('an "extractFromUVCI" operation must have 2 operands')
    index = operands[1]
    if not _is_int(index):
        raise CertLogicError('"index" argument (#2) of "extractFromUVCI" must be an integer')
    uci = _evaluate(operands[0], data)
    if uci is None:
        return None
    if not isinstance(uci, str):
        raise CertLogicError("\"UVCI\" argument (#1) of \"extractFromUVCI\" must be either a string or null")
    prefix = "URN:UVCI:"
    fragments = re.split(r"[/#:]", uci[len(prefix):] if uci.startswith(prefix) else uci)
    position = _as_int(index)
    return fragments[position] if 0 <= position < len(fragments) else None


def _evaluate_dcc_date_of_birth(operands: list[Any], data: Any) -> DateTime:
    if len(operands) < 1:
        raise CertLogicError('a "dccDateOfBirth" operation must have 1 operand')
    value = _evaluate(operands[0], data)
    if not isinstance(value, str):
        raise CertLogicError("operand of dccDateOfBirth must be a string")
    return dcc_date_of_birth(value)


# Published rules take a few hundred steps; nested reductions over long literal arrays could take
# billions, so one evaluation stops (an error: the rule is not passed) after this many.
MAX_STEPS = 200_000
_STEPS: ContextVar[list[int]] = ContextVar("certlogic_steps")


def evaluate(expr: Any, data: Any, *, max_steps: int = MAX_STEPS) -> Any:
    """The value of a CertLogic expression on a data context; raises CertLogicError, nothing else.

    Rules come from other countries and data from certificate holders: a nesting deep enough to
    exhaust the stack, a date pushed past year 9999 or an evaluation that does not end in
    `max_steps` is an invalid rule, not a crash or a stuck worker.
    """
    token = _STEPS.set([max_steps])
    try:
        return _evaluate(expr, data)
    except (RecursionError, OverflowError, ValueError) as e:
        if isinstance(e, CertLogicError):
            raise
        raise CertLogicError(f"expression cannot be evaluated: {type(e).__name__}") from e
    finally:
        _STEPS.reset(token)


def _evaluate(expr: Any, data: Any) -> Any:
    remaining = _STEPS.get()
    remaining[0] -= 1
    if remaining[0] < 0:
        raise CertLogicError("evaluation takes too many steps")
    if isinstance(expr, (str, bool)) or _is_int(expr):
        return expr
    if isinstance(expr, list):
        return [_evaluate(item, data) for item in expr]
    if isinstance(expr, dict):
        if len(expr) != 1:
            raise CertLogicError("unrecognised expression object encountered")
        ((operator, operands),) = expr.items()
        if operator == "var":
            return _evaluate_var(operands, data)
        if not isinstance(operands, list) or not operands:
            raise CertLogicError('operation not of the form { "<operator>": [ <values...> ] }')
        if operator == "if":
            return _evaluate_if(operands, data)
        if operator in _INFIX:
            return _evaluate_infix(operator, operands, data)
        handler = _OPERATIONS.get(operator)
        if handler is None:
            raise CertLogicError(f'unrecognised operator: "{operator}"')
        return handler(operands, data)
    raise CertLogicError("invalid CertLogic expression")


_OPERATIONS = {
    "!": _evaluate_not,
    "plusTime": _evaluate_plus_time,
    "reduce": _evaluate_reduce,
    "extractFromUVCI": _evaluate_extract_from_uvci,
    "dccDateOfBirth": _evaluate_dcc_date_of_birth,
}


# ---- validation -----------------------------------------------------------------------------

_OPERAND_COUNTS: dict[str, tuple[int, int | None]] = {
    "if": (3, 3), "===": (2, 2), "!==": (2, 2), "in": (2, 2), "+": (2, 2), "and": (2, None),
    "!": (1, 1), "plusTime": (3, 3), "reduce": (3, 3), "extractFromUVCI": (2, 2),
    "dccDateOfBirth": (1, 1),
    **{operator: (2, 3) for operator in (*_INT_COMPARISONS, *_DATE_COMPARISONS)},
}


def validate(expr: Any) -> list[ValidationIssue]:
    """Every format problem in an expression, without evaluating it (empty list: valid)."""
    try:
        return _validate(expr)
    except RecursionError:
        return [ValidationIssue(None, "expression is nested too deeply")]


def _validate(expr: Any) -> list[ValidationIssue]:
    if isinstance(expr, (str, bool)) or _is_int(expr):
        return []
    if expr is None:
        return [ValidationIssue(expr, "invalid CertLogic expression")]
    if isinstance(expr, float):
        return [ValidationIssue(expr, f"{expr} is a non-integer number")]
    if isinstance(expr, list):
        return [issue for item in expr for issue in _validate(item)]
    if not isinstance(expr, dict):
        return [ValidationIssue(expr, "invalid CertLogic expression")]
    if len(expr) != 1:
        return [ValidationIssue(expr, f"expression object must have exactly one key, but it has {len(expr)}")]
    ((operator, operands),) = expr.items()
    if operator == "var":
        return _validate_var(expr, operands)
    if not isinstance(operands, list):
        return [ValidationIssue(expr, 'operation not of the form { "<operator>": [ <values...> ] }')]
    counts = _OPERAND_COUNTS.get(operator)
    if counts is None:
        return [ValidationIssue(expr, f'unrecognised operator: "{operator}"')]
    low, high = counts
    issues: list[ValidationIssue] = []
    if len(operands) < low or (high is not None and len(operands) > high):
        expected = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
        issues.append(ValidationIssue(expr, f'an operation with operator "{operator}" must have {expected} operands'))
    issues.extend(issue for operand in operands for issue in _validate(operand))
    issues.extend(_validate_literal_arguments(expr, operator, operands))
    return issues


def _validate_var(expr: Any, path: Any) -> list[ValidationIssue]:
    if not isinstance(path, str):
        return [ValidationIssue(expr, 'not of the form { "var": "<path>" }')]
    if path != "" and any(fragment == "" for fragment in path.split(".")):
        return [ValidationIssue(expr, f"data access path doesn't have a valid format: {path}")]
    return []


def _validate_literal_arguments(expr: Any, operator: str, operands: list[Any]) -> list[ValidationIssue]:
    if operator == "plusTime" and len(operands) == 3:
        issues = []
        if not _is_int(operands[1]):
            issues.append(ValidationIssue(expr, _AMOUNT_MESSAGE))
        if operands[2] not in _TIME_UNITS:
            issues.append(ValidationIssue(expr, _UNIT_MESSAGE))
        return issues
    if operator == "extractFromUVCI" and len(operands) == 2 and not _is_int(operands[1]):
        return [ValidationIssue(expr, '"index" argument (#2) of "extractFromUVCI" must be an integer')]
    return []
