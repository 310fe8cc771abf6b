"""Business rules on LocalStack: our rules and value sets published in the gateway's shapes,
other countries' rules imported with `vaxpass rules import`, and a citizen's travel check of a
passport issued through the real pipeline (upload, cleaning, attestation, KMS countersigning)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.cli import main as cli
from tests.integration.helpers import drain_until
from tests.integration.test_countersign import make_verified_people, passport_versions, sign_a_batch

pytestmark = pytest.mark.integration

TESTDATA = Path(__file__).resolve().parents[1] / "fixtures" / "business-rules"


@pytest.fixture(scope="module")
def people(stack, tmp_path_factory):
    return make_verified_people(stack, tmp_path_factory, seed=47)


def _foreign_rules(folder: Path) -> Path:
    shutil.copytree(TESTDATA / "AT" / "VR-AT-0004", folder / "AT" / "VR-AT-0004")
    refuses_everything = {
        "Identifier": "VR-FR-0001", "Type": "Acceptance", "Country": "FR", "Version": "1.0.0",
        "SchemaVersion": "1.0.0", "Engine": "CERTLOGIC", "EngineVersion": "1.3.3", "CertificateType": "Vaccination",
        "Description": [{"lang": "en", "desc": "Only vaccines on France's own list are accepted."}],
        "ValidFrom": "2021-06-01T00:00:00Z", "ValidTo": "2030-06-01T00:00:00Z", "AffectedFields": ["v.0.mp"],
        "Logic": {"if": [{"var": "payload.v.0"}, {"in": [{"var": "payload.v.0.mp"}, ["NOT-OURS"]]}, True]}}
    (folder / "VR-FR-0001.json").write_text(json.dumps(refuses_everything))
    return folder


def test_rules_valuesets_import_and_travel_check(stack, sqs, region, people, app_client, bearer, tmp_path):
    from app import app
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    runner = EventRunner(app, sqs, region=region, wait_time_s=0)
    # Given a citizen holding a passport issued through the pipeline
    (cid,) = sign_a_batch(settings, people, limit=1)
    drain_until(runner, lambda: passport_versions(settings, cid))
    me = bearer(dev_issuer.citizen(cid))

    # and France's and Austria's rules imported by an operator (a broken file is refused by name)
    folder = _foreign_rules(tmp_path / "rules")
    (folder / "broken.json").write_text(json.dumps({"Identifier": "VR-XX-0001", "Logic": True}))
    (folder / "ours.json").write_text((Path("chalicelib/dcc/data/rules/VR-VN-0001.json")).read_text())
    set_container(Container(settings))
    assert cli(["rules", "import", str(folder)]) == 1  # two refused, reported; the rest stored

    # Then the rule list has the gateway's shape and each hash is the SHA-256 of the rule's body
    listed = json.loads(app_client.http.get("/v1/rules").body)
    by_id = {entry["identifier"]: entry for entry in listed}
    assert {"VR-VN-0001", "VR-VN-0002", "VR-AT-0004", "VR-FR-0001"} <= set(by_id)
    assert "VR-XX-0001" not in by_id and [e["identifier"] for e in listed].count("VR-VN-0001") == 1
    for identifier in ("VR-VN-0001", "VR-FR-0001"):
        entry = by_id[identifier]
        resp = app_client.http.get(f"/v1/rules/{entry['country']}/{entry['hash']}")
        assert resp.status_code == 200
        assert hashlib.sha256(resp.body).hexdigest() == entry["hash"]
        assert json.loads(resp.body)["Identifier"] == identifier
    assert app_client.http.get(f"/v1/rules/FR/{by_id['VR-VN-0001']['hash']}").status_code == 404
    sets = json.loads(app_client.http.get("/v1/valuesets").body)
    names = next(s for s in sets if s["id"] == "vaccines-covid-19-names")
    body = app_client.http.get(f"/v1/valuesets/{names['hash']}").body
    assert hashlib.sha256(body).hexdigest() == names["hash"]

    # When the citizen checks a trip to France, the rule France's list fails is named
    fr = app_client.http.get("/v1/passports/me/travel-check?country=FR", headers=me)
    assert fr.status_code == 200, fr.body
    fr_body = json.loads(fr.body)
    assert fr_body["passes"] is False and fr_body["failed"] == ["VR-FR-0001"]
    assert fr_body["rules"][0]["description"].startswith("Only vaccines")
    # and a trip to Austria and home are judged by those countries' rules
    at = json.loads(app_client.http.get("/v1/passports/me/travel-check?country=at", headers=me).body)
    assert [r["identifier"] for r in at["rules"]] == ["VR-AT-0004"] and at["country"] == "AT"
    vn = json.loads(app_client.http.get("/v1/passports/me/travel-check?country=VN", headers=me).body)
    assert {r["identifier"] for r in vn["rules"]} == {"VR-VN-0001", "VR-VN-0002"}
    assert vn["passes"] == all(r["result"] != "FAIL" for r in vn["rules"])
    # A country without rules: nothing fails, and the answer says no rules are known
    none = json.loads(app_client.http.get("/v1/passports/me/travel-check?country=JP", headers=me).body)
    assert none["rules_known"] is False and none["rules"] == []


def test_attack_travel_check_input_and_access(stack, app_client, bearer):
    me = bearer(dev_issuer.citizen("001090000001"))
    for country in ("", "FRA", "../", "F1", "%00%00"):
        resp = app_client.http.get(f"/v1/passports/me/travel-check?country={country}", headers=me)
        assert resp.status_code == 400, country
        assert json.loads(resp.body)["error"]["code"] == "COUNTRY_INVALID"
    assert app_client.http.get("/v1/passports/me/travel-check?country=FR").status_code == 401
    # A citizen without a passport gets a 404, not someone else's answer
    assert app_client.http.get("/v1/passports/me/travel-check?country=FR", headers=me).status_code == 404
    # Unknown rule and value set hashes, and a malformed country, are refused cleanly
    assert app_client.http.get("/v1/rules/FR/" + "0" * 64).status_code == 404
    assert app_client.http.get("/v1/rules/F-/abc").status_code == 400
    assert app_client.http.get("/v1/valuesets/" + "0" * 64).status_code == 404
