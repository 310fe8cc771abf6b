"""`RulesService.import_rules` over the fake store: what is stored and what is refused, and why."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from tests.fakes import fake_container

TESTDATA = Path(__file__).resolve().parents[2] / "fixtures" / "business-rules"
AT_RULE = json.loads((TESTDATA / "AT" / "VR-AT-0004" / "rule.json").read_text())


def _rule(**changes):
    document = copy.deepcopy(AT_RULE)
    document.update(changes)
    return document


def test_valid_foreign_rules_are_stored_and_listed_with_their_hash():
    c = fake_container()
    report = c.rules.import_rules([("a.json", _rule()), ("b.json", _rule(Version="1.0.1"))])
    assert report.stored == ["VR-AT-0004 1.0.0", "VR-AT-0004 1.0.1"] and report.refused == []
    listed = [entry for entry in c.rules.rule_list() if entry["country"] == "AT"]
    assert [entry["version"] for entry in listed] == ["1.0.0", "1.0.1"]
    assert json.loads(c.rules.rule_bytes("at", listed[0]["hash"])) == _rule()


def test_attack_import_refuses_each_bad_rule_with_its_reason_and_stores_the_rest():
    c = fake_container()
    report = c.rules.import_rules([
        ("no-type.json", {k: v for k, v in _rule().items() if k != "Type"}),
        ("ours.json", _rule(Country="VN", Identifier="VR-VN-0001")),
        ("bad-logic.json", _rule(Logic={"or": [True]})),
        ("huge.json", _rule(Description=[{"lang": "en", "desc": "x" * 200_000}])),
        ("not-an-object.json", ["VR-AT-0004"]),
        ("good.json", _rule()),
    ])
    reasons = dict(report.refused)
    assert set(reasons) == {"no-type.json", "ours.json", "bad-logic.json", "huge.json", "not-an-object.json"}
    assert "Type" in reasons["no-type.json"] and "our own rules" in reasons["ours.json"]
    assert 'unrecognised operator: "or"' in reasons["bad-logic.json"] and "KB" in reasons["huge.json"]
    assert report.stored == ["VR-AT-0004 1.0.0"]
    # Our own published rule was not replaced by the imported one of the same identifier.
    ours = [entry for entry in c.rules.rule_list() if entry["identifier"] == "VR-VN-0001"]
    assert len(ours) == 1 and json.loads(c.rules.rule_bytes("VN", ours[0]["hash"]))["Country"] == "VN"


def test_attack_a_foreign_rule_named_like_ours_is_refused_and_never_replaces_ours():
    """A DE rule called IR-VN-0001 (with a higher version) would have replaced our own
    invalidation rule of that identifier in a travel check."""
    from datetime import datetime, timezone

    from chalicelib.dcc.rules import applicable_rules, parse_rule

    c = fake_container()
    report = c.rules.import_rules([("spoof.json", _rule(Identifier="IR-VN-0001", Type="Invalidation",
                                                         Country="DE", Version="9.0.0"))])
    assert report.stored == [] and "identifier must look like VR-DE-0001" in dict(report.refused)["spoof.json"]
    ours = parse_rule(_rule(Country="VN", Identifier="IR-VN-0001", Type="Invalidation"))
    theirs = parse_rule(_rule(Identifier="IR-VN-0001", Type="Acceptance", Country="DE", Version="9.0.0"))
    at = datetime(2030, 1, 1, tzinfo=timezone.utc)
    chosen = applicable_rules([ours, theirs], arrival="DE", issuer="VN", certificate_type="Vaccination", at=at)
    assert sorted((r.country, r.type) for r in chosen) == [("DE", "Acceptance"), ("VN", "Invalidation")]
