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


def _issue(workspace_keys, payloads):
    from tests.unit.cli.conftest import ok

    lines = "".join(json.dumps(p) + "\n" for p in payloads)
    return ok(["issue", "--key", workspace_keys / "dsc.key.pem", "--cert", workspace_keys / "dsc.pem"],
              lines).out.splitlines()


@pytest.fixture(scope="module")
def dsc_keys(tmp_path_factory):
    out = tmp_path_factory.mktemp("rules-keys")
    assert run(["keys", "init", "--out", out]).code == 0
    return out


def _rules_dir(tmp_path):
    import shutil

    from chalicelib.dcc.rules import national_rule_documents

    folder = tmp_path / "rules"
    (folder / "VN").mkdir(parents=True)
    for document in national_rule_documents():
        (folder / "VN" / f"{document['Identifier']}.json").write_text(json.dumps(document))
    # A foreign arrival country's acceptance rule, in the gateway test data's layout (its tests/
    # folder holds test cases, which are not rules).
    shutil.copytree(TESTDATA / "AT" / "VR-AT-0004", folder / "AT" / "VR-AT-0004")
    return folder


def test_verify_with_rules_reports_each_rule_and_fails_on_a_failed_rule(tmp_path, dsc_keys):
    from datetime import datetime, timedelta, timezone

    from tests.unit.cli.conftest import dcc_payload

    today = datetime.now(timezone.utc).date()
    old_enough = dcc_payload(dt=(today - timedelta(days=20)).isoformat())
    too_recent = dcc_payload(dt=(today - timedelta(days=3)).isoformat())
    hc1s = _issue(dsc_keys, [old_enough, too_recent])
    rules = _rules_dir(tmp_path)
    done = run(["verify", "--trust-cert", dsc_keys / "dsc.pem", "--rules", rules, "--country", "VN"],
               "\n".join([hc1s[0], hc1s[1], "HC1:garbage"]) + "\n")
    answers = [json.loads(line) for line in done.out.splitlines()]
    assert done.code == 1 and len(answers) == 3
    first, second, garbage = answers
    assert first["valid"] is True
    assert {(r["identifier"], r["result"]) for r in first["rules"]} == {("VR-VN-0001", "PASSED"),
                                                                       ("VR-VN-0002", "PASSED")}
    assert all(r["description"] for r in first["rules"])
    assert second["valid"] is False and "BUSINESS_RULE_FAILED" in second["errors"]
    assert {(r["identifier"], r["result"]) for r in second["rules"]} == {("VR-VN-0001", "FAIL"),
                                                                        ("VR-VN-0002", "PASSED")}
    assert garbage["valid"] is False and garbage["rules"] == []
    # Arriving in Austria, Austria's rules apply, not ours: a complete series passes VR-AT-0004.
    done = run(["verify", "--trust-cert", dsc_keys / "dsc.pem", "--rules", rules, "--country", "AT"], hc1s[1] + "\n")
    answer = json.loads(done.out)
    assert [(r["identifier"], r["result"]) for r in answer["rules"]] == [("VR-AT-0004", "PASSED")]
    assert answer["valid"] is True and done.code == 0


def test_attack_rules_usage_mistakes_are_one_line_errors(tmp_path, dsc_keys):
    rules = _rules_dir(tmp_path)
    done = run(["verify", "--trust-cert", dsc_keys / "dsc.pem", "--rules", rules], "HC1:x\n")
    assert done.code == 2 and "--country" in done.err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "r.json").write_text(json.dumps({"Identifier": "VR-XX-0001", "Logic": True}))
    done = run(["verify", "--trust-cert", dsc_keys / "dsc.pem", "--rules", broken, "--country", "VN"], "HC1:x\n")
    assert done.code == 2 and "r.json" in done.err and "missing" in done.err


def test_rule_folders_in_the_test_data_layout_leave_test_cases_out(tmp_path, dsc_keys):
    import shutil

    folder = tmp_path / "rules"
    shutil.copytree(TESTDATA / "NL" / "TR-NL-0003", folder / "NL" / "TR-NL-0003")
    # Some countries keep a test case next to rule.json instead of in tests/.
    shutil.copy(TESTDATA / "NL" / "TR-NL-0003" / "tests" / "test004.json", folder / "NL" / "TR-NL-0003" / "t.json")
    done = run(["verify", "--trust-cert", dsc_keys / "dsc.pem", "--rules", folder, "--country", "NL"], "HC1:x\n")
    assert done.code == 1 and json.loads(done.out)["rules"] == []


def test_attack_a_line_that_is_not_utf8_gets_its_answer_and_the_next_lines_theirs():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    rule = TESTDATA / "NL" / "GR-NL-0000" / "rule.json"
    stdin = b'{"payload": {"v": [{"tg": "x"}]}}\n{"payload": "\xff\xfe"}\n\xef\xbb\xbf{"payload": {}}\n'
    done = subprocess.run([sys.executable, "-m", "chalicelib.cli", "rules", "evaluate", "--rule", str(rule)],
                          cwd=root, input=stdin, capture_output=True, timeout=60)
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert done.returncode == 0
    assert answers == [{"result": True, "error": None}, {"result": False, "error": "input line is not valid JSON"},
                       {"result": False, "error": None}]
