"""The CertLogic specification's own test suites, one pytest case per assertion.

The suites are the specification's definition of conformance; the files are copied unmodified
(tests/fixtures/certlogic/NOTICE) so a reader can diff them against upstream.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.dcc.certlogic import CertLogicError, evaluate, validate

SUITES = Path(__file__).resolve().parents[2] / "fixtures" / "certlogic"


def _evaluation_cases() -> list[Any]:
    cases = []
    for path in sorted((SUITES / "testSuite").glob("*.json")):
        suite = json.loads(path.read_text())
        for case_number, case in enumerate(suite["cases"]):
            for number, assertion in enumerate(case["assertions"]):
                expr = assertion.get("certLogicExpression", case.get("certLogicExpression"))
                case_id = f"{path.stem}:{case_number}:{case['name']}:{number}"
                # Four assertions are marked "skip" by the specification itself: they expect `in`
                # on null to be false, which its text makes an error. The patched-reduce file is
                # marked skip as a whole, but we implement the `data` key it tests, so it runs.
                marks = [pytest.mark.skip(reason="skip directive in the suite")] \
                    if assertion.get("directive") == "skip" else []
                cases.append(pytest.param(expr, assertion["data"], assertion["expected"], id=case_id,
                                          marks=marks))
    return cases


def _validation_cases() -> list[Any]:
    cases = []
    for path in sorted((SUITES / "validation-testSuite").glob("*.json")):
        suite = json.loads(path.read_text())
        for number, case in enumerate(suite["cases"]):
            case_id = f"{path.stem}:{number}:{json.dumps(case['certLogicExpression'])}"
            cases.append(pytest.param(case["certLogicExpression"], case["issues"], id=case_id))
    return cases


EVALUATION_CASES = _evaluation_cases()


def test_every_evaluation_assertion_is_collected():
    # The specification's suite has 232 assertions; a lost file or case must not pass silently.
    assert len(EVALUATION_CASES) == 232


@pytest.mark.parametrize("expr, data, expected", EVALUATION_CASES)
def test_evaluation_suite(expr, data, expected):
    result = evaluate(expr, data)
    # json.dumps keeps JSON's distinctions (true vs 1, 0 vs false) that Python's == would erase.
    assert json.dumps(result, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize("expr, issues", _validation_cases())
def test_validation_suite(expr, issues):
    assert [issue.as_dict() for issue in validate(expr)] == issues


def test_invalid_expression_raises_certlogic_error_only():
    with pytest.raises(CertLogicError):
        evaluate({"in": ["a", "not an array"]}, {})
