"""Vietnam's own business rules (chalicelib/dcc/data/rules/): the gateway's upload constraints,
checked against the publication log, and what the rules decide on our own certificates."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.dcc.rules import (Outcome, check_certificate, gateway_problems, national_rule_documents, parse_rule,
                                  publication_log, rule_hash)
from chalicelib.dcc.valuesets import rule_value_sets
from tests.unit.cli.conftest import dcc_payload

UTC = timezone.utc
RULES = [parse_rule(document) for document in national_rule_documents()]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_national_rules_exist_for_both_requirements():
    assert {rule.identifier for rule in RULES} >= {"VR-VN-0001", "VR-VN-0002"}
    assert all(rule.country == "VN" for rule in RULES)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.identifier)
def test_national_rule_meets_gateway_constraints_as_uploaded(rule):
    log = [entry for entry in publication_log() if entry["identifier"] == rule.identifier]
    assert log, f"{rule.identifier} is not in published.json: record its upload there"
    versions = [tuple(int(part) for part in entry["version"].split(".")) for entry in log]
    assert versions == sorted(set(versions)), "versions in the publication log must increase"
    latest = log[-1]
    assert latest["version"] == rule.version_text
    # A rule edited after its upload must be uploaded as a new version.
    assert latest["hash"] == rule_hash(rule.document), f"{rule.identifier} changed: give it a new Version"
    assert gateway_problems(rule, uploaded_at=_instant(latest["uploaded_at"])) == []


def _document(**changes):
    document = copy.deepcopy(national_rule_documents()[0])
    document.update(changes)
    return document


UPLOAD = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_attack_identifier_format_is_enforced():
    for identifier in ("VR-VN-1", "VR-DE-0001", "vr-vn-0001", "XX-VN-0001", "TR-VN-0001"):
        problems = gateway_problems(parse_rule(_document(Identifier=identifier)), uploaded_at=UPLOAD)
        assert problems, identifier


def test_attack_acceptance_rule_effective_within_48_hours_is_refused():
    soon = (UPLOAD + timedelta(hours=47, minutes=59)).isoformat()
    assert any("48 hours" in p for p in gateway_problems(parse_rule(_document(ValidFrom=soon)), uploaded_at=UPLOAD))
    later = (UPLOAD + timedelta(hours=48)).isoformat()
    assert gateway_problems(parse_rule(_document(ValidFrom=later)), uploaded_at=UPLOAD) == []


def test_attack_version_must_increase_over_the_previous_upload():
    previous = parse_rule(_document())
    same = parse_rule(_document(ValidFrom="2026-12-01T00:00:00Z"))
    assert any("Version" in p for p in gateway_problems(same, uploaded_at=UPLOAD, previous=previous))
    newer = parse_rule(_document(Version="1.0.1", ValidFrom="2026-12-01T00:00:00Z"))
    assert gateway_problems(newer, uploaded_at=UPLOAD, previous=previous) == []


def test_attack_invalid_logic_is_refused():
    broken = parse_rule(_document(Logic={"or": [True, {"var": "payload.v.0."}]}))
    assert any("Logic" in p for p in gateway_problems(broken, uploaded_at=UPLOAD))


def _outcomes(payload, at):
    results = check_certificate(RULES, payload, arrival="VN", issuer="VN", at=at, value_sets=rule_value_sets())
    return {result.rule.identifier: result.outcome for result in results}


AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_complete_series_fourteen_days_old_passes_both_rules():
    payload = dcc_payload(dt=(AT - timedelta(days=14)).date().isoformat())
    assert _outcomes(payload, AT) == {"VR-VN-0001": Outcome.PASSED, "VR-VN-0002": Outcome.PASSED}


def test_series_thirteen_days_old_fails():
    payload = dcc_payload(dt=(AT - timedelta(days=13)).date().isoformat())
    assert _outcomes(payload, AT)["VR-VN-0001"] is Outcome.FAIL


def test_incomplete_series_fails():
    payload = dcc_payload(dt="2026-01-01")
    payload["v"][0]["dn"] = 1
    assert _outcomes(payload, AT)["VR-VN-0001"] is Outcome.FAIL


def test_attack_product_outside_the_value_set_fails():
    payload = dcc_payload(dt="2026-01-01")
    payload["v"][0]["mp"] = "Sputnik-Light-Unlisted"
    assert _outcomes(payload, AT)["VR-VN-0002"] is Outcome.FAIL


def test_missing_dose_numbers_are_open_not_passed():
    payload = dcc_payload(dt="2026-01-01")
    del payload["v"][0]["dn"]
    assert _outcomes(payload, AT)["VR-VN-0001"] is Outcome.OPEN


def test_rules_not_yet_valid_are_not_applied():
    payload = dcc_payload(dt="2020-01-01")
    assert _outcomes(payload, datetime(2026, 11, 22, tzinfo=UTC)) == {}
