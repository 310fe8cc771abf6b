"""`vaxpass rules evaluate`: real countries' published rules and their test cases, run through the
command exactly as a caller does (one input line per case), plus hostile input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.conftest import run

TESTDATA = Path(__file__).resolve().parents[2] / "fixtures" / "business-rules"


def _cases():
    for test in sorted(TESTDATA.glob("*/*/tests/*.json")):
        rule = test.parent.parent / "rule.json"
        yield pytest.param(rule, json.loads(test.read_text("utf-8")),
                           id=f"{rule.parent.name}/{test.stem}")


CASES = list(_cases())


def test_testdata_sample_is_present():
    assert len(CASES) >= 4


@pytest.mark.parametrize("rule, case", CASES)
def test_published_rule_test_case(rule, case):
    line = json.dumps({"payload": case["payload"], "external": case["external"]})
    done = run(["rules", "evaluate", "--rule", rule], line + "\n")
    assert done.code == 0, done.err
    assert [json.loads(answer) for answer in done.out.splitlines()] == [
        {"result": case["expected"], "error": None}]


def test_attack_malformed_lines_each_get_their_answer_in_order():
    rule = TESTDATA / "DE" / "TR-DE-0005" / "rule.json"
    rapid_unknown = {"payload": {"t": [{"tt": "LP217198-3", "ma": "9999"}]},
                     "external": {"valueSets": {"covid-19-lab-test-manufacturer-and-name": ["1232"]}}}
    rapid_known = {"payload": {"t": [{"tt": "LP217198-3", "ma": "1232"}]},
                   "external": {"valueSets": {"covid-19-lab-test-manufacturer-and-name": ["1232"]}}}
    lines = [json.dumps(rapid_known), "{not json", "", "[1, 2]", '{"external": {}}',
             json.dumps({"payload": rapid_known["payload"], "external": "x"}),
             json.dumps(rapid_unknown), json.dumps({"payload": rapid_known["payload"], "external": {}})]
    done = run(["rules", "evaluate", "--rule", rule], "\n".join(lines) + "\n")
    answers = [json.loads(answer) for answer in done.out.splitlines()]
    assert done.code == 0
    assert len(answers) == len(lines)
    assert answers[0] == {"result": True, "error": None}
    assert all(answer["result"] is False and answer["error"] for answer in answers[1:6])
    assert answers[6] == {"result": False, "error": None}
    # No value sets given: `in` on null is an error, so the rule is not passed (OPEN in verify).
    assert answers[7]["result"] is False and "array" in answers[7]["error"]


def test_attack_rule_that_is_not_a_rule_is_a_usage_error(tmp_path):
    bad = tmp_path / "rule.json"
    bad.write_text('{"Identifier": "VR-XX-0001"}')
    done = run(["rules", "evaluate", "--rule", bad], "{}\n")
    assert done.code == 2 and "Logic" in done.err and done.out == ""
    bad.write_text("{oops")
    done = run(["rules", "evaluate", "--rule", bad], "{}\n")
    assert done.code == 2 and "not valid JSON" in done.err
