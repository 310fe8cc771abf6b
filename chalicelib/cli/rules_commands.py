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
    p = command(rules, "import",
                "Store other countries' rules (gateway-format JSON files under DIR) for travel checks; "
                "every refused file is reported with its reason.", _import)
    p.add_argument("dir", type=t.readable_path, metavar="DIR", help="folder of rule JSON files")


def _json_file(path: Path, option: str) -> Any:
    with about(option):
        text = path.read_text("utf-8-sig")  # files saved by Windows editors start with a BOM
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
        data = json.loads(text.lstrip("\ufeff"))
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


_NOT_UTF8 = "\x00not UTF-8"  # stands for an undecodable line: never valid JSON, so it gets its error answer


def _stdin_lines():
    """Input lines as text; a line that is not UTF-8 still yields (a placeholder), so it is answered."""
    raw_stream = getattr(sys.stdin, "buffer", None)
    if raw_stream is None:  # an in-process caller's text stream
        yield from sys.stdin
        return
    for raw in raw_stream:
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            yield _NOT_UTF8


def _evaluate(args) -> int:
    from chalicelib.cli.dcc_commands import _numbered_lines

    logic = load_rule_logic(args.rule)
    with about("stdin"):
        for _, line in _numbered_lines(_stdin_lines()):
            sys.stdout.write(json.dumps(answer_line(logic, line)) + "\n")
    return 0


__all__ = ["register"]


def _rule_files(folder: Path, option: str) -> list[tuple[Path, Any]]:
    if not folder.is_dir():
        raise CliError(option, f"{folder} is not a directory")
    # The gateway test data keeps test cases ({"payload", "expected", ...}) beside its rules, in
    # tests/ folders or next to rule.json: they are not rules, so they are left out.
    files = []
    for path in sorted(folder.rglob("*.json")):
        if "tests" in path.relative_to(folder).parts[:-1]:
            continue
        document = _json_file(path, option)
        if isinstance(document, dict) and "payload" in document and "expected" in document:
            continue
        files.append((path, document))
    if not files:
        raise CliError(option, f"{folder} holds no rule JSON files")
    return files


def _import(args) -> int:
    from chalicelib.wiring import container

    files = _rule_files(args.dir, "DIR")
    report = container().rules.import_rules((str(path), document) for path, document in files)
    for source, reason in report.refused:
        print(f"refused: {source}: {reason}", file=sys.stderr)
    print(f"imported {len(report.stored)} rules, refused {len(report.refused)}", file=sys.stderr)
    return 1 if report.refused else 0


def load_rules_dir(folder: Path, option: str = "--rules") -> list:
    """Every rule JSON under `folder`, flat or in the gateway test data's layout. A broken rule is
    named and refused."""
    from chalicelib.dcc.rules import RuleFormatError, parse_rule

    rules = []
    for path, document in _rule_files(folder, option):
        try:
            rules.append(parse_rule(document))
        except RuleFormatError as e:
            raise CliError(option, f"{path}: {e}") from e
    return rules


def apply_rules(result, document: dict, rules: list, *, country: str, at) -> None:
    """Adds the business rules' outcomes to one `verify` answer; a FAIL makes it invalid."""
    import base64

    from chalicelib.dcc.rules import check_certificate, passes
    from chalicelib.dcc.valuesets import rule_value_sets

    if result.payload is None or not result.signature_valid:
        document["rules"] = []
        return
    kid = base64.b64encode(result.kid).decode("ascii") if result.kid is not None else None
    outcomes = check_certificate(rules, result.payload, arrival=country, issuer=result.issuer, at=at,
                                 value_sets=rule_value_sets(), issued_at=result.issued_at,
                                 expires_at=result.expires_at, kid=kid)
    document["rules"] = [outcome.to_json() for outcome in outcomes]
    if not passes(outcomes):
        document["valid"] = False
        document["errors"] = [*document["errors"], "BUSINESS_RULE_FAILED"]
