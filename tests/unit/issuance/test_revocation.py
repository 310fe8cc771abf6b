"""Ministry revocation rules over the fakes (tests/fakes/): the request contract, the audit-log-first order
and its roll forward, the hold a revocation puts on its person and its lift, and what they mean
for later countersigning. The DynamoDB transaction and the routes have their tests on LocalStack
(tests/integration/test_revocation.py, tests/integration/test_hold_and_reevaluation.py); the fakes'
contract with the DynamoDB store is tests/contracts/test_passports.py."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from chalicelib import errors
from chalicelib.dcc.uvci import make_uvci
from chalicelib.issuance.revocation import (LIFT_REQUEST_SCHEMA, REQUEST_SCHEMA, Actor, AlreadyLifted, AlreadyRevoked,
                                            Hold, NotHeld, lift_key, parse_lift, parse_request, revocation_key)
from tests.fakes import FakeAuditLog, FakeCountersignQueue, FakePassports, fake_container
from tests.unit.issuance.test_countersign import all_doses, chain, request, world  # noqa: F401 (fixtures)

NOW = datetime(2026, 11, 1, 8, 30, tzinfo=timezone.utc)
UVCI = make_uvci(lambda n: bytes(range(n)))
MINISTRY = Actor("ministry", "m-1")


# -- the request contract -----------------------------------------------------------------------
def test_a_valid_request_is_read_with_its_reason_trimmed():
    assert parse_request({"uvci": UVCI, "reason": "  giả mạo hồ sơ  "}) == (UVCI, "giả mạo hồ sơ")


@pytest.mark.parametrize("body, field", [
    ({"uvci": UVCI}, "reason"),
    ({"reason": "x"}, "uvci"),
    ({"uvci": UVCI, "reason": ""}, "reason"),
    ({"uvci": UVCI, "reason": "   "}, "reason"),
    ({"uvci": UVCI, "reason": "x" * 501}, "reason"),
    ({"uvci": UVCI, "reason": 7}, "reason"),
    ({"uvci": UVCI.lower(), "reason": "x"}, "uvci"),
    ({"uvci": "URN:UVCI:01:VN:" + "A" * 80 + "#B", "reason": "x"}, "uvci"),
    ({"uvci": UVCI[:-1] + ("A" if UVCI[-1] != "A" else "B"), "reason": "x"}, "uvci"),  # wrong check character
    ({"uvci": UVCI + "\n", "reason": "x"}, "uvci"),
    ({"uvci": UVCI, "reason": "x", "citizen_id": "001090012345"}, "citizen_id"),
])
def test_a_malformed_request_is_refused_naming_the_field(body, field):
    with pytest.raises(errors.ValidationError) as e:
        parse_request(body)
    assert e.value.details == {"field": field}


@pytest.mark.parametrize("reason", ["ok\n", "line\nbreak", "nul\x00", "esc\x1b[31m", "c1\x85", "del\x7f",
                                    "ok\u202eevil", "iso\u2066late", "sep\u2028", "lone\ud800"])
def test_attack_control_bidi_and_surrogate_characters_in_the_reason_are_refused(reason):
    with pytest.raises(errors.ValidationError) as e:
        parse_request({"uvci": UVCI, "reason": reason})
    assert e.value.details == {"field": "reason"}
    assert reason not in e.value.message  # the message never echoes the input


@pytest.mark.parametrize("body", [None, [], "revoke", 3])
def test_a_body_that_is_not_an_object_is_refused(body):
    with pytest.raises(errors.ValidationError):
        parse_request(body)


def test_the_published_schema_is_the_one_that_validates():
    assert REQUEST_SCHEMA["additionalProperties"] is False and REQUEST_SCHEMA["required"] == ["uvci", "reason"]
    json.dumps(REQUEST_SCHEMA)  # goes into /v1/openapi.json as is


# -- the use case over fakes ----------------------------------------------------------------------
CID = "001090012345"
SUPERSEDED_UVCI = make_uvci(lambda n: bytes([7] * n))


def store_with(*uvcis: str, cls=FakePassports) -> FakePassports:
    """The person's passport versions 1, 2, ... with these UVCIs (each a re-issue of the one before)."""
    store = cls()
    for version, uvci in enumerate(uvcis, start=1):
        store.issue(CID, version, uvci)
    return store


class OrderedPassports(FakePassports):
    """Records the order of the store's writes with the audit log's and the queue's."""

    calls: list

    def lift(self, hold):
        self.calls.append("lift")
        return super().lift(hold)


class OrderedAudit(FakeAuditLog):
    def __init__(self, calls):
        super().__init__()
        self.calls = calls

    def append(self, entry, *, unique_key):
        self.calls.append(f"log {entry['type']}")
        return super().append(entry, unique_key=unique_key)


class OrderedQueue(FakeCountersignQueue):
    def __init__(self, calls):
        super().__init__()
        self.calls = calls

    def reevaluate(self, citizen_ids):
        self.calls.append("reevaluate")
        return super().reevaluate(citizen_ids)


def service(store, audit=None, queue=None):
    """The real RevocationService from the composition root, over these fakes."""
    return fake_container(passports=store, audit_chain=audit or FakeAuditLog(), clock=lambda: NOW,
                          reevaluations=queue if queue is not None else FakeCountersignQueue()).revocations


def test_a_revocation_is_logged_then_applied_with_all_three_list_hashes():
    store, audit = store_with(UVCI), FakeAuditLog()
    out = service(store, audit).revoke({"uvci": UVCI, "reason": "forged"}, MINISTRY)
    assert out["status"] == "REVOKED" and out["audit"]["sequence"] == 1
    logged = audit.find(revocation_key(UVCI))
    assert logged.entry == {"type": "revocation", "uvci": UVCI, "version": 1, "reason": "forged",
                            "revoked_by": {"role": "ministry", "id": "m-1"}, "revoked_at": "2026-11-01T08:30:00+00:00"}
    version = store.status(CID, 1)
    assert (version["status"], version["revocation_sequence"], version["reason"]) == ("REVOKED", 1, "forged")
    assert sorted(t for t, _ in store.list_entries) == ["COUNTRYCODEUCI", "SIGNATURE", "UCI"]


def test_unknown_revoked_and_superseded_uvcis_are_refused_before_anything_is_logged():
    store = store_with(SUPERSEDED_UVCI, UVCI)
    audit = FakeAuditLog()
    with pytest.raises(errors.NotFound):
        service(store, audit).revoke({"uvci": make_uvci(lambda n: bytes([3] * n)), "reason": "x"}, MINISTRY)
    with pytest.raises(AlreadyRevoked) as e:
        service(store, audit).revoke({"uvci": SUPERSEDED_UVCI, "reason": "x"}, MINISTRY)
    assert e.value.details["reason"] == "superseded by a new passport version"
    assert audit.entries() == []


def test_a_revocation_logged_by_a_request_that_died_is_applied_by_the_next_one():
    # Given a request that logged its revocation and died before the passport store saw it
    store, audit = store_with(UVCI), FakeAuditLog()
    audit.append({"type": "revocation", "uvci": UVCI, "version": 1, "reason": "first",
                  "revoked_by": {"role": "operator", "id": "o-1"}, "revoked_at": "2026-11-01T08:00:00+00:00"},
                 unique_key=revocation_key(UVCI))
    # When it is retried (or anyone revokes the same UVCI)
    with pytest.raises(AlreadyRevoked) as e:
        service(store, audit).revoke({"uvci": UVCI, "reason": "second"}, MINISTRY)
    # Then the logged revocation is the one applied, and nothing new is logged
    assert store.find_by_uvci(UVCI).reason == "first" and e.value.details["reason"] == "first"
    assert len(audit.entries()) == 1


def test_the_request_whose_revocation_is_logged_answers_201_even_if_another_applied_it():
    class AppliedByAnother(FakePassports):
        """Another request applies the logged entry between this one's append and its write."""

        def revoke(self, target, **kw):
            super().revoke(target, **kw)
            return False

    store = store_with(UVCI, cls=AppliedByAnother)
    out = service(store).revoke({"uvci": UVCI, "reason": "forged"}, MINISTRY)
    assert out["reason"] == "forged" and store.find_by_uvci(UVCI).revocation_sequence == out["audit"]["sequence"]


# -- the hold ------------------------------------------------------------------------------------
def test_a_revocation_holds_its_person_in_the_same_write():
    store = store_with(UVCI)
    out = service(store).revoke({"uvci": UVCI, "reason": "forged"}, MINISTRY)
    assert store.hold(CID) == Hold(CID, UVCI, out["audit"]["sequence"])


def revoked_and_held():
    calls: list = []
    store = store_with(UVCI, cls=OrderedPassports)
    store.calls = calls
    audit, queue = OrderedAudit(calls), OrderedQueue(calls)
    svc = service(store, audit, queue)
    revocation = svc.revoke({"uvci": UVCI, "reason": "forged"}, MINISTRY)
    calls.clear()
    return store, audit, queue, svc, revocation


def test_a_lift_is_logged_then_the_hold_removed_then_the_person_queued():
    store, audit, queue, svc, revocation = revoked_and_held()
    out = svc.lift(UVCI, {"reason": "  hồ sơ đã xác minh lại "}, Actor("operator", "o-1"))
    assert store.calls == ["log lift", "lift", "reevaluate"]
    assert store.hold(CID) is None and queue.reevaluated == [CID]
    assert (out["status"], out["reason"], out["revocation"]) == ("LIFTED", "hồ sơ đã xác minh lại",
                                                                   {"audit_sequence": revocation["audit"]["sequence"]})
    logged = audit.find(lift_key(UVCI))
    assert logged.sequence == out["audit"]["sequence"] and logged.entry == {
        "type": "lift", "uvci": UVCI, "revocation_sequence": revocation["audit"]["sequence"],
        "reason": "hồ sơ đã xác minh lại", "lifted_by": {"role": "operator", "id": "o-1"},
        "lifted_at": "2026-11-01T08:30:00+00:00"}
    # The revoked version stays revoked: only the hold is gone
    assert store.find_by_uvci(UVCI).status == "REVOKED"


def test_attack_a_replayed_lift_never_lifts_a_later_revocations_hold():
    store, audit, queue, svc, _ = revoked_and_held()
    svc.lift(UVCI, {"reason": "verified"}, MINISTRY)
    # The person got a new passport, which the ministry revokes in turn: a new hold
    second = make_uvci(lambda n: bytes([5] * n))
    store.issue(CID, 2, second)
    svc.revoke({"uvci": second, "reason": "forged again"}, MINISTRY)
    held = store.hold(CID)
    assert held.uvci == second
    # When the first lift is sent again
    with pytest.raises(AlreadyLifted):
        svc.lift(UVCI, {"reason": "verified"}, MINISTRY)
    # Then the later hold stands, and the log holds one lift
    assert store.hold(CID) == held
    assert [e.entry["type"] for e in audit.entries()] == ["revocation", "lift", "revocation"]


def test_a_lift_whose_request_died_after_logging_is_finished_by_the_next_one():
    store, audit, queue, svc, revocation = revoked_and_held()
    audit.append({"type": "lift", "uvci": UVCI, "revocation_sequence": revocation["audit"]["sequence"],
                  "reason": "first", "lifted_by": {"role": "ministry", "id": "m-1"},
                  "lifted_at": "2026-11-01T08:00:00+00:00"}, unique_key=lift_key(UVCI))
    with pytest.raises(AlreadyLifted) as e:
        svc.lift(UVCI, {"reason": "second"}, MINISTRY)
    assert e.value.details["reason"] == "first"
    assert store.hold(CID) is None and queue.reevaluated == [CID]
    assert len(audit.entries()) == 2


def test_a_lift_of_an_unknown_uvci_or_of_a_passport_nobody_holds_is_refused_before_logging():
    store = store_with(SUPERSEDED_UVCI, UVCI)
    audit = FakeAuditLog()
    with pytest.raises(errors.NotFound):
        service(store, audit).lift(make_uvci(lambda n: bytes([3] * n)), {"reason": "x"}, MINISTRY)
    with pytest.raises(NotHeld):  # an active passport: never revoked
        service(store, audit).lift(UVCI, {"reason": "x"}, MINISTRY)
    with pytest.raises(NotHeld):  # replaced by a re-issue, not revoked by the ministry
        service(store, audit).lift(SUPERSEDED_UVCI, {"reason": "x"}, MINISTRY)
    assert audit.entries() == []


def test_attack_a_hold_deleted_behind_the_ministrys_back_is_not_lifted_through_the_api():
    store, audit, queue, svc, _ = revoked_and_held()
    del store.holds[CID]  # a writer of the passports table removed it
    with pytest.raises(NotHeld):
        svc.lift(UVCI, {"reason": "x"}, MINISTRY)
    assert audit.find(lift_key(UVCI)) is None and queue.messages == []


def test_the_lift_request_is_validated_like_the_revocation():
    encoded = UVCI.replace(":", "%3A").replace("#", "%23")
    assert parse_lift(encoded, {"reason": " ok "}) == (UVCI, "ok")
    assert parse_lift(UVCI, {"reason": "ok"}) == (UVCI, "ok")
    for uvci, body, field in [(UVCI, {}, "reason"), (UVCI, {"reason": "a\u202eb"}, "reason"),
                              (UVCI, {"reason": "ok\n"}, "reason"), (UVCI, {"reason": "x", "uvci": UVCI}, "uvci"),
                              (UVCI.lower(), {"reason": "x"}, "uvci"), (UVCI[:-1] + "%2F", {"reason": "x"}, "uvci"),
                              ("%ZZ", {"reason": "x"}, "uvci")]:
        with pytest.raises(errors.ValidationError) as e:
            parse_lift(uvci, body)
        assert e.value.details == {"field": field}, (uvci, body)
    with pytest.raises(errors.ValidationError):
        parse_lift(UVCI, None)
    assert LIFT_REQUEST_SCHEMA["required"] == ["reason"] and LIFT_REQUEST_SCHEMA["additionalProperties"] is False


# -- countersigning while held -------------------------------------------------------------------
@pytest.fixture
def held_world(world):
    [out] = world.svc.countersign([request(all_doses(world))])
    assert out.status == "issued"
    world.passports.revoke_by_ministry(CID, 5)
    return world


def _at(req, sequence):
    req.attestation = {**req.attestation, "sequence": sequence}
    return req


@pytest.mark.parametrize("sequence", [3, 6])
def test_attack_no_attestation_before_or_after_the_revocation_issues_while_held(held_world, sequence):
    # A replayed old chunk (sequence 3), or a facility signing a trivially corrected record after
    # the ministry's revocation (sequence 6): the person is held, nothing is issued.
    third = held_world.give(3, date(2022, 3, 1))
    [out] = held_world.svc.countersign([_at(request([third]), sequence)])
    assert (out.status, out.version) == ("held", 1) and len(held_world.versions()) == 1


def test_once_the_hold_is_lifted_an_attestation_issues_a_new_version(held_world):
    del held_world.passports.holds[CID]
    [out] = held_world.svc.countersign([_at(request(all_doses(held_world)), 6)])
    # Same doses, but the current version is revoked: a new version with a new UVCI
    assert (out.status, out.version) == ("issued", 2)
    assert held_world.versions()[1].uvci != held_world.versions()[0].uvci
