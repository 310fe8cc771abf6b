"""A ministry revocation holds its person until the ministry lifts it, and a passport is
re-evaluated when a dose it rests on moves to another person. On LocalStack, through the real
routes (records, corrections, signing, revocations and their lift), the cleaning and countersign
handlers run by the local event runner, and KMS.

- while held, nothing is issued from any attestation; `reports reconcile` lists the person as
  `held`, not stranded; the lift (logged first, under `lift:<uvci>`) removes the hold once and
  queues a re-evaluation, which issues a new passport from the attested doses;
- a re-evaluation recomputes from the store only: a forged `reevaluate` message changes nothing
  for a person whose data did not change, nor for a held one;
- a dose corrected to another citizen leaves the first one's passport re-issued from the doses
  that remain, booked on the facility of the dose it shows.
"""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from tests.integration.helpers import drain_until
from tests.integration.test_attestation import (open_batch, passport, record, sign, staff,  # noqa: F401
                                                submit_verified, world)
from tests.integration.test_audit_anchor import chain  # noqa: F401

pytestmark = pytest.mark.integration


def ministry(bearer):
    return {"Content-Type": "application/json", **bearer(dev_issuer.staff(Role.MINISTRY))}


def revoke(client, bearer, uvci, reason="forged vaccination record"):
    return client.http.post("/v1/revocations", headers=ministry(bearer),
                            body=json.dumps({"uvci": uvci, "reason": reason}, ensure_ascii=False))


def lift(client, headers, uvci, reason="hồ sơ đã được xác minh lại"):
    # A UVCI holds ':' and '#' (and its check character may be '/'): percent-encoded in the path.
    return client.http.post(f"/v1/revocations/{quote(uvci, safe='')}/lift", headers=headers,
                            body=json.dumps({"reason": reason}, ensure_ascii=False))


def error(resp) -> dict:
    return json.loads(resp.body)["error"]


def versions(world, person) -> list:
    Item = _passports(world).Item
    return sorted(Item.query(Item.tables.person_pk(person.citizen_id), Item.sk.startswith("V#"), consistent_read=True),
                  key=lambda i: int(i.version))


def _passports(world):
    from chalicelib.adapters.issuance.passports import DynamoPassportStore

    return DynamoPassportStore(world["tables"])


def counter(world, facility_id: str, name: str) -> int:
    Counter = world["tables"].Counter
    try:
        return int(getattr(Counter.get(f"FAC#{facility_id}", "TOTAL", consistent_read=True), name) or 0)
    except Counter.DoesNotExist:
        return 0


def drifts(world, *facilities) -> list:
    from chalicelib.wiring import Container

    pks = {f"FAC#{f}" for f in facilities}
    return [d for d in Container(world["settings"]).reconciler.run() if d.pk in pks]


def revoked_listed(app_client, world, item) -> bool:
    import base64

    from chalicelib.wiring import container
    from tests.integration.helpers import published_revocations

    listed = published_revocations(container(), app_client)
    return listed.is_revoked(uci=item.uvci, country=world["settings"].country,
                             signature=base64.b64decode(item.signature), alg=item.alg)


def issued_one(app_client, runner, bearer, world, facility, person, record_id="H1"):
    """A passport issued through the pipeline from one attested dose."""
    submit_verified(app_client, runner, bearer, world, facility,
                    [record(facility["id"], person, record_id, 1, date(2021, 9, 1))])
    sign(app_client, bearer, facility, open_batch(app_client, bearer, facility))
    drain_until(runner, lambda: passport(app_client, bearer, person) is not None)
    return passport(app_client, bearer, person)


def correct_to(app_client, runner, bearer, world, facility, record_id, person) -> None:
    """The facility finds it typed the wrong person: it corrects the record to `person`, and the
    cleaning worker verifies the new version."""
    from chalicelib.adapters.dynamo import record_pk

    fields = {"citizen_id": person.citizen_id, "full_name": person.full_name,
              "date_of_birth": person.date_of_birth.isoformat(), "sex": person.sex}
    resp = app_client.http.post(f"/v1/vaccination-records/{record_id}/corrections", headers=staff(bearer, facility),
                                body=json.dumps({"changes": fields}, ensure_ascii=False))
    assert resp.status_code == 200, resp.body
    Record = world["tables"].Record
    drain_until(runner, lambda: Record.get(record_pk(facility["id"], record_id), "REC",
                                           consistent_read=True).state == "VERIFIED")


# -- Decision A: the hold and its lift ------------------------------------------------------------
def test_a_lifted_person_gets_a_new_passport_from_attested_doses(app_client, runner, bearer, world):
    from chalicelib.adapters.dynamo import record_pk
    from chalicelib.reports.reconcile import Held
    from chalicelib.wiring import container

    fh = world["facility"]()
    [person] = world["people"](1)
    first = issued_one(app_client, runner, bearer, world, fh, person)
    assert revoke(app_client, bearer, first["uvci"]).status_code == 201
    issued_before = counter(world, fh["id"], "passports_issued")

    # The facility corrects the lot number and signs the record again: the person is held
    resp = app_client.http.post("/v1/vaccination-records/H1/corrections", headers=staff(bearer, fh),
                                body=json.dumps({"changes": {"lot_number": "L1-BIS"}}))
    assert resp.status_code == 200, resp.body
    Record = world["tables"].Record
    drain_until(runner, lambda: Record.get(record_pk(fh["id"], "H1"), "REC", consistent_read=True).state == "VERIFIED")
    again = open_batch(app_client, bearer, fh)
    sign(app_client, bearer, fh, again)
    runner.drain(idle_rounds=2, max_seconds=30)
    mine = passport(app_client, bearer, person)
    assert (mine["status"], mine["version"], mine["uvci"]) == ("REVOKED", 1, first["uvci"])
    # its record claim stays as it is (signed in the new batch), and reconcile lists it as held
    assert Record.get(record_pk(fh["id"], "H1"), "REC", consistent_read=True).signed_batch == again["batch_id"]
    later = datetime.now(timezone.utc) + timedelta(days=19)
    listed = [s for s in container().reconciler.unissued(later) if s.batch_id == again["batch_id"]]
    assert [type(s) for s in listed] == [Held] and listed[0].entry_index == 0
    assert not [s for s in container().reconciler.stranded(later) if s.batch_id == again["batch_id"]]

    # A facility cannot lift it; the ministry can
    refused = lift(app_client, staff(bearer, fh), first["uvci"])
    assert refused.status_code == 403, refused.body
    resp = lift(app_client, ministry(bearer), first["uvci"])
    assert resp.status_code == 200, resp.body
    lifted = json.loads(resp.body)
    assert (lifted["uvci"], lifted["status"], lifted["reevaluation"]) == (first["uvci"], "LIFTED", "QUEUED")
    logged = container().audit_log.find(f"lift:{first['uvci']}")
    assert logged.sequence == lifted["audit"]["sequence"] and logged.entry["type"] == "lift"

    # Then the re-evaluation issues a new passport from the attested dose, with no new signature
    drain_until(runner, lambda: passport(app_client, bearer, person)["status"] == "VALID")
    mine = passport(app_client, bearer, person)
    assert mine["version"] == 2 and mine["uvci"] != first["uvci"] and mine["display"]["dose"] == 1
    v1, v2 = versions(world, person)
    assert json.loads(v2.attestation) == {"kind": "re-evaluation", "batches": [again["batch_id"]],
                                          "facility_id": fh["id"], "province_code": "001",
                                          "sequence": json.loads(v1.attestation)["sequence"]}
    # and the revoked UVCI stays revoked, with the ministry's reason, on the list
    assert (v1.status, v1.reason) == ("REVOKED", "forged vaccination record") and revoked_listed(app_client, world, v1)
    assert not revoked_listed(app_client, world, v2)
    # nobody is held or stranded any more, and the counters add up
    assert not [s for s in container().reconciler.unissued(later) if s.batch_id == again["batch_id"]]
    assert counter(world, fh["id"], "passports_issued") == issued_before + 1
    assert drifts(world, fh["id"]) == []


def test_attack_redelivered_lift_does_not_lift_twice(app_client, runner, bearer, world):
    from chalicelib.wiring import container

    fl = world["facility"]()
    [person] = world["people"](1)
    first = issued_one(app_client, runner, bearer, world, fl, person, "L1")
    assert revoke(app_client, bearer, first["uvci"]).status_code == 201
    resp = lift(app_client, ministry(bearer), first["uvci"])
    assert resp.status_code == 200, resp.body
    drain_until(runner, lambda: passport(app_client, bearer, person)["status"] == "VALID")
    second = passport(app_client, bearer, person)
    # The ministry revokes the new passport in turn: a new hold
    assert revoke(app_client, bearer, second["uvci"], reason="forged again").status_code == 201

    # When the first lift is sent again (a retried request, a replayed one)
    for headers in (ministry(bearer), {"Content-Type": "application/json",
                                       **bearer(dev_issuer.staff(Role.OPERATOR))}):
        again = lift(app_client, headers, first["uvci"], reason="once more")
        assert again.status_code == 409 and error(again)["code"] == "HOLD_ALREADY_LIFTED", again.body
        assert error(again)["details"]["audit_sequence"] == json.loads(resp.body)["audit"]["sequence"]
    runner.drain(idle_rounds=2, max_seconds=30)

    # Then the later revocation still holds the person: nothing new was issued, one lift is logged
    mine = passport(app_client, bearer, person)
    assert (mine["status"], mine["version"], mine["uvci"]) == ("REVOKED", 2, second["uvci"])
    assert [int(v.version) for v in versions(world, person)] == [1, 2]
    assert _passports(world).hold(person.citizen_id).uvci == second["uvci"]
    lifts = [e for e in container().audit_log.entries() if e.entry.get("type") == "lift"
             and e.entry.get("uvci") in (first["uvci"], second["uvci"])]
    assert [e.entry["uvci"] for e in lifts] == [first["uvci"]]


def test_the_lift_route_refuses_unknown_unheld_and_malformed_requests(app_client, bearer, stack):
    import secrets

    from chalicelib.dcc.uvci import make_uvci
    from tests.integration.test_revocation import _issue_one

    settings, _ = stack
    _, active = _issue_one(settings, f"LR{secrets.token_hex(4)}")
    unknown = lift(app_client, ministry(bearer), make_uvci(secrets.token_bytes))
    assert unknown.status_code == 404, unknown.body
    not_held = lift(app_client, ministry(bearer), active.uvci)
    assert not_held.status_code == 409 and error(not_held)["code"] == "NOT_HELD_BY_THIS_REVOCATION", not_held.body
    bad = lift(app_client, ministry(bearer), active.uvci, reason="ok\u202eevil")
    assert bad.status_code == 400 and error(bad)["details"] == {"field": "reason"}, bad.body
    # a check character that is not the UVCI's own (never the right one by chance)
    wrong = "Q" if active.uvci[-1] != "Q" else "R"
    mangled = app_client.http.post(f"/v1/revocations/{quote(active.uvci[:-1] + wrong, safe='')}/lift",
                                   headers=ministry(bearer), body=json.dumps({"reason": "x"}))
    assert mangled.status_code == 400 and error(mangled)["details"] == {"field": "uvci"}, mangled.body


def test_audit_verify_accepts_a_lifted_revocation_and_reports_a_hold_deleted_without_one(chain, bearer):
    from chalice.test import Client

    from app import app
    from tests.integration.test_audit_anchor import run_cli
    from tests.integration.test_revocation import _issue_one

    c = chain["container"]
    _, lifted = _issue_one(c.settings, f"AL{uuid.uuid4().hex[:8]}")
    held_cid, held = _issue_one(c.settings, f"AL{uuid.uuid4().hex[:8]}")
    with Client(app) as client:
        for p in (lifted, held):
            assert revoke(client, bearer, p.uvci).status_code == 201
        assert lift(client, ministry(bearer), lifted.uvci).status_code == 200
    # The lifted revocation is still in effect: revoked, listed; only its hold is gone
    code, out = run_cli("audit", "verify")
    assert code == 0 and out["ok"] is True, out

    # A writer of the passports table deletes the other person's hold: reported
    c.passports.Item(c.tables.person_pk(held_cid), "HOLD").delete()
    code, out = run_cli("audit", "verify")
    assert code == 1 and "not held by it" in out["reason"] and held.uvci in out["reason"], out


# -- Decision B: re-evaluation -------------------------------------------------------------------
def test_attack_forged_reevaluate_message_issues_nothing_new(app_client, runner, bearer, world, sqs, stack):
    from chalicelib.wiring import container

    _, created = stack
    queue = created.queues["countersign"]
    ff = world["facility"]()
    unchanged, held, nobody = world["people"](3)
    issued_one(app_client, runner, bearer, world, ff, unchanged, "E1")
    held_passport = issued_one(app_client, runner, bearer, world, ff, held, "E2")
    assert revoke(app_client, bearer, held_passport["uvci"]).status_code == 201
    issued = counter(world, ff["id"], "passports_issued")
    before = {p.citizen_id: [(int(v.version), v.uvci, v.status) for v in versions(world, p)]
              for p in (unchanged, held)}

    # When anyone able to send to the countersign queue sends re-evaluations, well-formed or not
    forged = [{"kind": "reevaluate", "citizen_id": p.citizen_id} for p in (unchanged, held, nobody)]
    malformed = {"kind": "reevaluate", "citizen_id": unchanged.citizen_id, "doses": [{"record_id": "E1"}]}
    for body in forged + forged + [malformed]:
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    runner.drain(idle_rounds=2, max_seconds=30)

    # Then nothing changed: the unchanged person keeps their passport, the held one stays held,
    # the one without a passport gets none, and nothing was signed or counted
    for p in (unchanged, held):
        assert [(int(v.version), v.uvci, v.status) for v in versions(world, p)] == before[p.citizen_id]
    assert passport(app_client, bearer, unchanged)["status"] == "VALID"
    assert passport(app_client, bearer, held)["status"] == "REVOKED"
    assert passport(app_client, bearer, nobody) is None
    assert counter(world, ff["id"], "passports_issued") == issued
    # and the malformed one is in the DLQ with its reason
    dead = [m for m in container().dead_letters.peek("countersign", 100) if json.loads(m["body"]) == malformed]
    assert len(dead) == 1 and "re-evaluation message" in dead[0]["error_message"], dead


def test_dose_moved_away_leaves_the_other_doses_on_a_reissued_passport(app_client, runner, bearer, world):
    from chalicelib.wiring import container

    fa, fb = world["facility"](), world["facility"]()
    first, second = world["people"](2)
    # Given dose 1 attested at facility A and dose 2 at facility B: the passport shows dose 2
    submit_verified(app_client, runner, bearer, world, fa, [record(fa["id"], first, "M1", 1, date(2021, 7, 1))])
    batch_a = open_batch(app_client, bearer, fa)
    sign(app_client, bearer, fa, batch_a)
    drain_until(runner, lambda: passport(app_client, bearer, first) is not None)
    submit_verified(app_client, runner, bearer, world, fb, [record(fb["id"], first, "M2", 2, date(2021, 10, 1))])
    batch_b = open_batch(app_client, bearer, fb)
    sign(app_client, bearer, fb, batch_b)
    drain_until(runner, lambda: passport(app_client, bearer, first)["display"]["dose"] == 2)
    shown = passport(app_client, bearer, first)
    counts = {(f, n): counter(world, f, n) for f in (fa["id"], fb["id"])
              for n in ("passports_issued", "passports_revoked")}

    # When facility B finds dose 2 was the second citizen's and corrects the record
    correct_to(app_client, runner, bearer, world, fb, "M2", second)
    drain_until(runner, lambda: passport(app_client, bearer, first)["uvci"] != shown["uvci"])

    # Then the first citizen's passport is re-issued from dose 1, attested at facility A
    mine = passport(app_client, bearer, first)
    assert (mine["status"], mine["version"], mine["display"]["dose"]) == ("VALID", shown["version"] + 1, 1)
    assert mine["display"]["doses_on_record"] == 1
    *_, old, new = versions(world, first)
    assert json.loads(new.attestation)["kind"] == "re-evaluation"
    assert json.loads(new.attestation)["batches"] == [batch_a["batch_id"]]
    assert (old.status, revoked_listed(app_client, world, old)) == ("REVOKED", True)
    # booked on facility A (the dose it shows): one issued there, and the re-issue's revocation
    assert counter(world, fa["id"], "passports_issued") == counts[(fa["id"], "passports_issued")] + 1
    assert counter(world, fa["id"], "passports_revoked") == counts[(fa["id"], "passports_revoked")] + 1
    assert counter(world, fb["id"], "passports_issued") == counts[(fb["id"], "passports_issued")]
    assert drifts(world, fa["id"], fb["id"]) == []
    # the second citizen gets nothing until facility B's head signs the corrected record
    assert passport(app_client, bearer, second) is None
    # and nobody of either batch is stranded
    later = datetime.now(timezone.utc) + timedelta(days=19)
    assert not [s for s in container().reconciler.unissued(later)
                if s.batch_id in (batch_a["batch_id"], batch_b["batch_id"])]


def test_the_last_attested_dose_moved_away_revokes_the_passport(app_client, runner, bearer, world):
    fz = world["facility"]()
    first, second = world["people"](2)
    shown = issued_one(app_client, runner, bearer, world, fz, first, "Z1")
    revoked_before = counter(world, fz["id"], "passports_revoked")
    correct_to(app_client, runner, bearer, world, fz, "Z1", second)
    drain_until(runner, lambda: passport(app_client, bearer, first)["status"] == "REVOKED")

    mine = passport(app_client, bearer, first)
    assert (mine["version"], mine["uvci"], mine["hc1"]) == (1, shown["uvci"], None)
    assert mine["revocation"]["reason"] == "no attested dose remains"
    [v1] = versions(world, first)
    assert revoked_listed(app_client, world, v1)
    # revoked without a hold: the ministry has nothing to lift, and it counts once
    assert _passports(world).hold(first.citizen_id) is None
    assert lift(app_client, ministry(bearer), shown["uvci"]).status_code == 409
    again = revoke(app_client, bearer, shown["uvci"])
    assert again.status_code == 409 and error(again)["details"]["reason"] == "no attested dose remains", again.body
    assert counter(world, fz["id"], "passports_revoked") == revoked_before + 1
    assert drifts(world, fz["id"]) == []
