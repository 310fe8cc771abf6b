"""Ministry revocation rules with in-memory ports: the request contract, the audit-log-first order
and its roll forward, and what a revocation means for later countersigning. The DynamoDB
transaction and the routes have their tests on LocalStack (tests/integration/test_revocation.py)."""
from __future__ import annotations

import base64
import dataclasses
import json
from datetime import date, datetime, timezone

import pytest

from chalicelib import errors
from chalicelib.dcc.uvci import make_uvci
from chalicelib.issuance.domain import revocation_stands
from chalicelib.issuance.revocation import (REQUEST_SCHEMA, Actor, AlreadyRevoked, RevocationService,
                                            RevocationTarget, parse_request, revocation_key)
from chalicelib.issuance.service import StoredPassport
from tests.unit.issuance.test_countersign import MemoryPassports, chain, dose, request, world  # noqa: F401 (fixtures)
from tests.unit.signing.fakes import MemoryAudit

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


# -- the use case over memory ports -------------------------------------------------------------
class MemoryRevocations:
    def __init__(self, *targets: RevocationTarget):
        self.by_uvci = {t.uvci: t for t in targets}
        self.applied: list[tuple[str, int, list]] = []
        self.on_list: set[tuple[str, str]] = set()
        self.pointers = {t.citizen_id: (t.version, t.revocation_sequence) for t in targets}

    def find_by_uvci(self, uvci):
        return self.by_uvci.get(uvci)

    def current_version(self, citizen_id):
        return self.pointers.get(citizen_id)

    def listed(self, entries):
        return {(e["type"], e["hash"]) for e in entries} & self.on_list

    def revoke(self, target, *, entry, sequence, entries):
        cur = self.by_uvci[target.uvci]
        if cur.status != "ACTIVE":
            return False
        self.by_uvci[target.uvci] = dataclasses.replace(cur, status="REVOKED", reason=entry["reason"],
                                                        revoked_at=entry["revoked_at"], revocation_sequence=sequence)
        self.applied.append((target.uvci, sequence, entries))
        self.on_list |= {(e["type"], e["hash"]) for e in entries}
        self.pointers[cur.citizen_id] = (cur.version, sequence)
        return True


def target(uvci=UVCI, **kw) -> RevocationTarget:
    fields = dict(citizen_id="001090012345", version=1, uvci=uvci, status="ACTIVE",
                  signature_b64=base64.b64encode(bytes(64)).decode(), alg="ES256", facility_id="F1",
                  province_code="001")
    return RevocationTarget(**{**fields, **kw})


def service(store, audit=None):
    return RevocationService(store, audit or MemoryAudit(), lambda: NOW, issuer_country="VN")


def test_a_revocation_is_logged_then_applied_with_all_three_list_hashes():
    store, audit = MemoryRevocations(target()), MemoryAudit()
    out = service(store, audit).revoke({"uvci": UVCI, "reason": "forged"}, MINISTRY)
    assert out["status"] == "REVOKED" and out["audit"]["sequence"] == 1
    logged = audit.find(revocation_key(UVCI))
    assert logged.entry == {"type": "revocation", "uvci": UVCI, "version": 1, "reason": "forged",
                            "revoked_by": {"role": "ministry", "id": "m-1"}, "revoked_at": "2026-11-01T08:30:00+00:00"}
    [(uvci, sequence, hashes)] = store.applied
    assert (uvci, sequence) == (UVCI, 1) and [h["type"] for h in hashes] == ["UCI", "COUNTRYCODEUCI", "SIGNATURE"]


def test_unknown_revoked_and_superseded_uvcis_are_refused_before_anything_is_logged():
    superseded = make_uvci(lambda n: bytes([7] * n))
    store = MemoryRevocations(target(superseded, status="REVOKED", revoked_at="2026-10-01T00:00:00+00:00"))
    audit = MemoryAudit()
    with pytest.raises(errors.NotFound):
        service(store, audit).revoke({"uvci": UVCI, "reason": "x"}, MINISTRY)
    with pytest.raises(AlreadyRevoked) as e:
        service(store, audit).revoke({"uvci": superseded, "reason": "x"}, MINISTRY)
    assert e.value.details["reason"] == "superseded by a new passport version"
    assert audit.entries() == []


def test_a_revocation_logged_by_a_request_that_died_is_applied_by_the_next_one():
    # Given a request that logged its revocation and died before the passport store saw it
    store, audit = MemoryRevocations(target()), MemoryAudit()
    audit.append({"type": "revocation", "uvci": UVCI, "version": 1, "reason": "first",
                  "revoked_by": {"role": "operator", "id": "o-1"}, "revoked_at": "2026-11-01T08:00:00+00:00"},
                 unique_key=revocation_key(UVCI))
    # When it is retried (or anyone revokes the same UVCI)
    with pytest.raises(AlreadyRevoked) as e:
        service(store, audit).revoke({"uvci": UVCI, "reason": "second"}, MINISTRY)
    # Then the logged revocation is the one applied, and nothing new is logged
    assert store.by_uvci[UVCI].reason == "first" and e.value.details["reason"] == "first"
    assert len(audit.entries()) == 1


def test_the_request_whose_revocation_is_logged_answers_201_even_if_another_applied_it():
    class ApplyFirst(MemoryRevocations):
        """Another request applies the logged entry between this one's append and its write."""

        def revoke(self, target, **kw):
            super().revoke(target, **kw)
            return False

    store = ApplyFirst(target())
    out = service(store).revoke({"uvci": UVCI, "reason": "forged"}, MINISTRY)
    assert out["reason"] == "forged" and store.by_uvci[UVCI].revocation_sequence == out["audit"]["sequence"]


# -- countersigning after a revocation ----------------------------------------------------------
def test_revocation_stands_against_every_attestation_logged_before_it():
    assert revocation_stands(None, {"sequence": 1}) is False
    assert revocation_stands(5, {"sequence": 4}) is True
    assert revocation_stands(5, {"sequence": 5}) is True
    assert revocation_stands(5, {"sequence": 6}) is False
    assert revocation_stands(5, {}) is True and revocation_stands(5, {"sequence": "x"}) is True


class RevokedPassports(MemoryPassports):
    """MemoryPassports whose current version the ministry revoked at audit sequence `revoked_at_seq`."""

    revoked_at_seq: int | None = None

    def current(self, cid):
        cur = super().current(cid)
        if cur is None or self.revoked_at_seq is None or len(self.versions[cid]) > 1:
            return cur
        return StoredPassport(*dataclasses.astuple(cur)[:6], revocation_sequence=self.revoked_at_seq)


@pytest.fixture
def revoked_world(world):
    svc, store, doses = world
    revoked = RevokedPassports()
    svc._store = revoked
    [out] = svc.countersign([request(doses.by_cid["001090012345"])])
    assert out.status == "issued"
    revoked.revoked_at_seq = 5
    return svc, revoked, doses


def _at(req, sequence):
    req.attestation = {**req.attestation, "sequence": sequence}
    return req


def test_attack_replayed_attestation_with_new_content_does_not_undo_a_revocation(revoked_world):
    # An old attested chunk (sequence 3) replayed after the ministry's revocation (sequence 5),
    # when the person's data changed meanwhile (a new attested dose): no new passport.
    svc, store, doses = revoked_world
    doses.by_cid["001090012345"].append(dose(3, date(2022, 3, 1)))
    doses.attest(doses.by_cid["001090012345"][-1])
    [out] = svc.countersign([_at(request(doses.by_cid["001090012345"][:2]), 3)])
    assert (out.status, out.version) == ("revoked", 1) and len(store.versions["001090012345"]) == 1


def test_an_attestation_logged_after_the_revocation_issues_a_new_version(revoked_world):
    svc, store, doses = revoked_world
    doses.by_cid["001090012345"].append(dose(3, date(2022, 3, 1)))
    doses.attest(doses.by_cid["001090012345"][-1])
    [out] = svc.countersign([_at(request(doses.by_cid["001090012345"][-1:]), 6)])
    assert (out.status, out.version) == ("issued", 2)
