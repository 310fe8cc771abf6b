"""Business rule commands: `rules evaluate` (one rule over many DCC payloads) and `rules import`.

`rules evaluate` is line-oriented like `verify`: input line N is answered by output line N, a
malformed line included, so a caller can zip inputs and answers without bookkeeping.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError, about
from chalicelib.cli._util import command, group


def register(sub) -> None:
    rules = group(sub, "rules", "EU DCC business rules (CertLogic): evaluate, import.")
    p = command(rules, "evaluate",
                'Evaluate one gateway-format rule over {"payload": ..., "external": ...} lines on stdin; '
                'one {"result", "error"} line per input line.', _evaluate)
    p.add_argument("--rule", required=True, type=t.readable_file, help="rule JSON (gateway format)")


def _json_file(path: Path, option: str) -> Any:
    with about(option):
        text = path.read_text("utf-8")
    try:
        return json.loads(text)
    except ValueError as e:
        raise CliError(option, f"{path} is not valid JSON") from e


def load_rule_logic(path: Path) -> Any:
    """The rule's Logic. Only Logic is needed to evaluate; a rule whose metadata breaks the
    gateway's format is still evaluated (the note on stderr says what is wrong)."""
    from chalicelib.dcc.certlogic import validate
    from chalicelib.dcc.rules import RuleFormatError, parse_rule

    document = _json_file(path, "--rule")
    if not isinstance(document, dict) or "Logic" not in document:
        raise CliError("--rule", f"{path} is not a rule: a JSON object with a Logic field")
    try:
        parse_rule(document)
    except RuleFormatError as e:
        print(f"rules: note: {e}", file=sys.stderr)
    for issue in validate(document["Logic"])[:5]:
        print(f"rules: note: Logic: {issue.message}", file=sys.stderr)
    return document["Logic"]


def answer_line(logic: Any, text: str) -> dict[str, Any]:
    from chalicelib.dcc.rules import evaluate_logic

    try:
        data = json.loads(text)
    except ValueError:
        return {"result": False, "error": "input line is not valid JSON"}
    if not isinstance(data, dict) or "payload" not in data:
        return {"result": False, "error": 'input line is not an object {"payload": ..., "external": ...}'}
    external = data.get("external")
    if external is None:
        external = {}
    if not isinstance(external, dict):
        return {"result": False, "error": "external is not a JSON object"}
    passed, error = evaluate_logic(logic, {"payload": data["payload"], "external": external})
    return {"result": passed, "error": error}


def _evaluate(args) -> int:
    from chalicelib.cli.dcc_commands import _numbered_lines

    logic = load_rule_logic(args.rule)
    with about("stdin"):
        for _, line in _numbered_lines(sys.stdin):
            sys.stdout.write(json.dumps(answer_line(logic, line)) + "\n")
    return 0


__all__ = ["register"]
