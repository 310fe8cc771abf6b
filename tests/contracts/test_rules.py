"""The business rule store (RuleStore), fake and DynamoDB: rules are kept per country, a re-import
of the same identifier and version overwrites it, and the listing covers every country."""
from __future__ import annotations

import pytest

from chalicelib.rules.service import StoredRule
from tests.contracts.conftest import BOTH, FAKE, real
from tests.fakes import FakeRuleStore


@pytest.fixture(params=BOTH)
def rule_store(request):
    return FakeRuleStore() if request.param == FAKE else real(request).rule_store


def _rule(country, identifier, version, marker="a"):
    document = {"Identifier": identifier, "Country": country, "Version": version, "Logic": {"var": marker},
                "Description": [{"lang": "en", "desc": "Phải tiêm đủ liều · complete series"}]}
    return StoredRule(country, identifier, version, f"hash-{identifier}-{version}-{marker}", document)


class TestRuleStoreContract:
    def test_rules_are_kept_per_country_and_reimport_overwrites(self, rule_store, unique):
        # Country codes are two letters; the unique run keeps LocalStack runs apart by identifier.
        mine = [_rule("QA", f"VR-QA-{unique}", "1.0.0"), _rule("QA", f"VR-QA-{unique}", "1.0.1"),
                _rule("QB", f"TR-QB-{unique}", "1.0.0")]
        rule_store.put_many(mine)
        rule_store.put_many([_rule("QA", f"VR-QA-{unique}", "1.0.1", marker="b")])
        qa = {(r.identifier, r.version): r for r in rule_store.for_country("QA") if unique in r.identifier}
        assert set(qa) == {(f"VR-QA-{unique}", "1.0.0"), (f"VR-QA-{unique}", "1.0.1")}
        assert qa[(f"VR-QA-{unique}", "1.0.1")].document["Logic"] == {"var": "b"}
        assert qa[(f"VR-QA-{unique}", "1.0.1")].hash == f"hash-VR-QA-{unique}-1.0.1-b"
        assert qa[(f"VR-QA-{unique}", "1.0.0")].document["Description"][0]["desc"].startswith("Phải")
        assert all(r.country == "QB" for r in rule_store.for_country("QB"))
        listed = {(r.country, r.identifier, r.version) for r in rule_store.all() if unique in r.identifier}
        assert listed == {("QA", f"VR-QA-{unique}", "1.0.0"), ("QA", f"VR-QA-{unique}", "1.0.1"),
                          ("QB", f"TR-QB-{unique}", "1.0.0")}
        assert rule_store.for_country("QZ") == []
