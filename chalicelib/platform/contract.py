"""The request contract of a route: its JSON body, parsed once and checked against one JSON Schema.

`platform.http.route(bp, path, body=SCHEMA)` compiles a `BodyContract` when the route is decorated,
checks every request's body with it before the view runs and hands the view the checked body; the
same schema object is the route's OpenAPI `requestBody`, so the document and the check cannot
drift apart, and no view reads the raw request. Pure (jsonschema and the domain errors only), so a
use case can check what it is handed with the same machinery.

What a caller is told (never a value it sent: values can be long, or a citizen's personal data):
- `BODY_TOO_LARGE` (413) over the route's byte cap, before anything is parsed;
- `INVALID_JSON` (400) for text that is not UTF-8 JSON, and also for a key given twice in one
  object (parsers disagree on which one wins, so what is checked and what is used could differ)
  and for NaN or Infinity (not JSON, and nothing downstream can store them);
- `BODY_TOO_DEEP` (400) past `MAX_DEPTH` nested arrays and objects (Python's parser answers deep
  nesting with a RecursionError, which used to be a 500);
- `VALIDATION_ERROR` (400) with `details.field`, the path of the first failing field
  (`reason`, `records[2]`, `changes.phone`; `(body)` for the body itself), and a short reason
  built from the schema alone.

The validator is JSON Schema Draft 2020-12 with one stricter type: an `integer` is a number written
without a fraction (Python's json reads `5.0` as a float, which the draft would call an integer,
and a float reaching a DynamoDB Limit or a range is a 500 waiting to happen). Formats are checked
where a schema uses them; a format this installation cannot check is refused when the contract is
built, rather than silently passing everything.
"""
from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, Iterator, Mapping

from chalicelib import errors

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 16
BODY = "(body)"
# Keys are named in `field` only when they look like field names: an unknown key is input too.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
# Which error to report when several fail at the same place: the most basic first.
_RANK = {"type": 0, "required": 1, "additionalProperties": 2, "propertyNames": 3, "enum": 4, "const": 4}
_ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
            "object": "an object", "array": "an array", "null": "null"}


class InvalidJson(errors.ValidationError):
    code = "INVALID_JSON"


class BodyTooLarge(errors.ValidationError):
    code = "BODY_TOO_LARGE"


class BodyTooDeep(errors.ValidationError):
    code = "BODY_TOO_DEEP"


class _DuplicateKey(ValueError):
    pass


@cache
def _validator_class():
    from jsonschema import Draft202012Validator, validators

    strict = Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _checker, value: type(value) is int)
    return validators.extend(Draft202012Validator, type_checker=strict)


def _formats(schema: object) -> Iterator[str]:
    if isinstance(schema, Mapping):
        if isinstance(schema.get("format"), str):
            yield schema["format"]
        for value in schema.values():
            yield from _formats(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _formats(value)


class BodyContract:
    """One JSON Schema, compiled once, and the limits of the text it is read from.

    `parse(raw)` reads a request body (bytes) and returns the checked value; `validate(value)`
    checks an already parsed one. An absent body is `{}` when the body is optional."""

    def __init__(self, schema: Mapping, *, required: bool = True, max_bytes: int = MAX_BODY_BYTES,
                 max_depth: int = MAX_DEPTH) -> None:
        cls = _validator_class()
        cls.check_schema(schema)  # a broken schema fails at import, not on the first request
        checker = None
        used = set(_formats(schema))
        if used:
            from jsonschema import FormatChecker

            checker = FormatChecker()
            unchecked = sorted(used - set(checker.checkers))
            if unchecked:
                raise ValueError(f"format(s) {unchecked} cannot be checked by this installation")
        self.schema = schema
        self.required = required
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self._validator = cls(schema, format_checker=checker)

    def parse(self, raw: bytes | str | None) -> Any:
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")
        if len(raw or b"") > self.max_bytes:
            raise BodyTooLarge(f"the body is over {self.max_bytes} bytes", details={"max_bytes": self.max_bytes})
        if not raw or not raw.strip():
            if self.required:
                raise errors.ValidationError("a JSON body is required", details={"field": BODY})
            return {}
        try:
            value = json.loads(raw.decode("utf-8"), object_pairs_hook=_object, parse_constant=_constant)
        except RecursionError as e:
            raise BodyTooDeep(f"the body nests more than {self.max_depth} arrays and objects",
                              details={"max_depth": self.max_depth}) from e
        except _DuplicateKey as e:
            raise InvalidJson("an object in the body gives the same key twice") from e
        except json.JSONDecodeError as e:
            raise InvalidJson("the body is not valid JSON", details={"line": e.lineno, "column": e.colno}) from e
        except ValueError as e:  # not UTF-8, NaN/Infinity, an integer of thousands of digits
            raise InvalidJson("the body is not valid JSON text in UTF-8") from e
        if _deeper_than(value, self.max_depth):
            raise BodyTooDeep(f"the body nests more than {self.max_depth} arrays and objects",
                              details={"max_depth": self.max_depth})
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        first = min(self._validator.iter_errors(value), key=_order, default=None)
        if first is None:
            return value
        field, reason = _explain(first)
        subject = "the body" if field == BODY else field
        raise errors.ValidationError(f"{subject} {reason}", details={"field": field})


def _object(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey()
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _order(error) -> tuple:
    path = [(0, p) if isinstance(p, int) else (1, p) for p in error.absolute_path]
    keyword = "propertyNames" if _about_a_key(error) else error.validator
    return len(path), path, _RANK.get(keyword, 9)


def _about_a_key(error) -> bool:
    """Did a `propertyNames` schema fail (the instance is then a key, not a value)?"""
    where = list(error.absolute_schema_path)
    return any(k == "propertyNames" and (i == 0 or where[i - 1] != "properties") for i, k in enumerate(where))


def _explain(error) -> tuple[str, str]:
    """(field, reason) of one jsonschema error, from the schema and the path alone."""
    path = list(error.absolute_path)
    keyword, value, schema = error.validator, error.validator_value, error.schema
    if _about_a_key(error):
        return _with_key(path, error.instance, "is not a field that can be given here",
                         "has a field that cannot be given here")
    if keyword == "required":
        given = error.instance if isinstance(error.instance, dict) else {}
        missing = next((name for name in value if name not in given), None)
        return _with_key(path, missing, "is required", "lacks a required field")
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        known = set(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extra = sorted(k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns))
        return _with_key(path, extra[0] if extra else None, "is not an accepted field",
                         "has a field that is not accepted")
    return _field(path), _reason(keyword, value, schema)


def _with_key(path: list, key: object, reason: str, unnamed: str) -> tuple[str, str]:
    if isinstance(key, str) and _NAME.fullmatch(key):
        return _field([*path, key]), reason
    return _field(path), unnamed


def _field(path: list) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            break  # a key that is not a field name is not echoed: the path stops at its object
    return out or BODY


def _reason(keyword: str, value: Any, schema: Mapping) -> str:
    if keyword == "type":
        kinds = [_ARTICLE.get(k, k) for k in ([value] if isinstance(value, str) else value)]
        return "must be " + (", ".join(kinds[:-1]) + " or " if len(kinds) > 1 else "") + kinds[-1]
    if keyword == "enum":
        shown = ", ".join(json.dumps(v, ensure_ascii=False) for v in value[:12])
        return f"must be one of {shown}" + (", …" if len(value) > 12 else "")
    if keyword == "const":
        return f"must be {json.dumps(value, ensure_ascii=False)}"
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters"
    if keyword == "maxLength":
        return f"must be at most {value} characters"
    if keyword == "minItems":
        return "must not be empty" if value == 1 else f"must have at least {value} items"
    if keyword == "maxItems":
        return f"must have at most {value} items"
    if keyword == "minProperties":
        return f"must have at least {value} fields"
    if keyword == "maxProperties":
        return f"must have at most {value} fields"
    if keyword == "uniqueItems":
        return "must not list an item twice"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return {"minimum": "must be at least", "maximum": "must be at most", "exclusiveMinimum": "must be more than",
                "exclusiveMaximum": "must be less than"}[keyword] + f" {value}"
    if keyword == "multipleOf":
        return f"must be a multiple of {value}"
    if keyword == "format":
        return f"must be a valid {value}"
    described = schema.get("description") if isinstance(schema, Mapping) else None
    return "is not in the expected form" + (f" ({described})" if described else "")
