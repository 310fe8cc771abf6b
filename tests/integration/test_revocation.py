"""Ministry revocation on LocalStack (issue 10, section 3): a passport issued through the real
pipeline (upload, cleaning, facility attestation, KMS countersigning) is revoked through
`POST /v1/revocations`; then the citizen's routes, the image cache, the revocation list, the CLI
verifier, the audit log and the counters all agree. Plus the races and the redelivery that must
not undo a revocation."""
from __future__ import annotations

import base64
import contextlib
import io
import json
import secrets
import threading
from datetime import datetime, timezone

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.cli import main as cli
from tests.integration.helpers import drain_queue, drain_until
from tests.integration.test_countersign import make_verified_people, passport_versions, sign_a_batch

pytestmark = pytest.mark.integration

REASON = "Hồ sơ tiêm bị làm giả · forged vaccination record"


@pytest.fixture(scope="module")
def people(stack, tmp_path_factory):
    # Seed 23: other people than the other modules', whose passports those modules count.
    return make_verified_people(stack, tmp_path_factory, seed=23)


def _revoke(client, headers, uvci, reason=REASON):
    return client.http.post("/v1/revocations", headers={"Content-Type": "application/json", **headers},
                            body=json.dumps({"uvci": uvci, "reason": reason}, ensure_ascii=False))


def _qr(client, headers, fmt):
    # A PNG is a binary type: the client (like API Gateway) passes it only when it is accepted.
    accept = {"Accept": "image/png"} if fmt == "png" else {}
    return client.http.get(f"/v1/passports/me/qr.{fmt}", headers={**headers, **accept})


def _error(resp) -> dict:
    return json.loads(resp.body)["error"]


def _counter(settings, pk: str, name: str) -> int:
    from chalicelib.adapters.dynamo import Tables

    Counter = Tables(settings).Counter
    try:
        return int(getattr(Counter.get(pk, "TOTAL", consistent_read=True), name) or 0)
    except Counter.DoesNotExist:
        return 0


def _drifts(settings, facility: str) -> list:
    """Reconciliation of the whole tables, reduced to this facility's scope (other tests seed
    counters by hand on the shared province and national scopes)."""
    from chalicelib.wiring import Container

    return [d for d in Container(settings).reconciler.run() if d.pk == f"FAC#{facility}"]


def _verify_cli(hc1_lines, trust_file, revocation_dir, anchor, monkeypatch) -> tuple[int, list[dict]]:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(hc1_lines) + "\n"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["verify", "--trust-list", str(trust_file), "--revocation-list", str(revocation_dir),
                    "--revocation-anchor", str(anchor)])
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_revocation_by_the_ministry_withdraws_the_passport_everywhere(stack, sqs, region, people, app_client, bearer,
                                                                     tmp_path, monkeypatch):
    import boto3

    from app import app
    from chalicelib.dcc.uvci import make_uvci
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.signing.audit import verify_chain
    from chalicelib.wiring import Container

    settings, _ = stack
    facility = people["facility"]
    runner = EventRunner(app, sqs, region=region, wait_time_s=0)

    # Given two citizens holding passports issued through the pipeline
    cids = sign_a_batch(settings, people, limit=2)
    drain_until(runner, lambda: all(passport_versions(settings, c) for c in cids))
    cid, other_cid = sorted(cids)
    me, other = bearer(dev_issuer.citizen(cid)), bearer(dev_issuer.citizen(other_cid))
    before = json.loads(app_client.http.get("/v1/passports/me", headers=me).body)
    assert before["status"] == "VALID" and before["hc1"].startswith("HC1:")
    uvci, hc1 = before["uvci"], before["hc1"]
    other_hc1 = json.loads(app_client.http.get("/v1/passports/me", headers=other).body)["hc1"]
    # and the citizen's QR images fetched once, so the image cache holds both
    for fmt in ("png", "svg"):
        assert _qr(app_client, me, fmt).status_code == 200
    s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)
    stem = uvci.replace("/", "_").replace(":", "_").replace("#", "_")
    cached = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket("reports"),
                                                   Prefix=f"qr/{stem}").get("Contents", [])]
    assert sorted(cached) == [f"qr/{stem}.png", f"qr/{stem}.svg"]
    revoked_before = _counter(settings, f"FAC#{facility}", "passports_revoked")

    # When a facility, a province and the citizen try to revoke it, they are refused
    for principal in (dev_issuer.staff(Role.FACILITY, facility_id=facility, province_code="001"),
                      dev_issuer.staff(Role.PROVINCE, province_code="001"), dev_issuer.citizen(cid)):
        resp = _revoke(app_client, bearer(principal), uvci)
        assert resp.status_code == 403 and _error(resp)["code"] == "ROLE_NOT_ALLOWED", resp.body
    assert json.loads(app_client.http.get("/v1/passports/me", headers=me).body)["status"] == "VALID"

    # When the ministry revokes it
    ministry = bearer(dev_issuer.staff(Role.MINISTRY))
    resp = _revoke(app_client, ministry, uvci)
    # Then it is revoked, with the reason, the actor and its place in the audit log
    assert resp.status_code == 201, resp.body
    revocation = json.loads(resp.body)
    assert (revocation["uvci"], revocation["status"], revocation["reason"]) == (uvci, "REVOKED", REASON)
    assert revocation["revoked_by"] == {"role": "ministry", "id": "dev-ministry-national"}
    # and revoking it again (the ministry, or an operator) is a conflict that says why
    for again in (ministry, bearer(dev_issuer.staff(Role.OPERATOR))):
        resp = _revoke(app_client, again, uvci, reason="lần nữa")
        assert resp.status_code == 409 and _error(resp)["code"] == "PASSPORT_ALREADY_REVOKED", resp.body
        assert _error(resp)["details"]["reason"] == REASON
    # and a UVCI nobody was issued is not found, a malformed body is refused naming the field
    unknown = _revoke(app_client, ministry, make_uvci(secrets.token_bytes))
    assert unknown.status_code == 404, unknown.body
    bad = _revoke(app_client, ministry, uvci, reason="ok\u202eevil")
    assert bad.status_code == 400 and _error(bad)["details"] == {"field": "reason"}

    # Then the citizen sees the passport revoked, with the reason and no HC1 to present
    mine = json.loads(app_client.http.get("/v1/passports/me", headers=me).body)
    assert (mine["status"], mine["uvci"], mine["hc1"]) == ("REVOKED", uvci, None)
    assert mine["revocation"] == {"reason": REASON, "revoked_at": revocation["revoked_at"]}
    # and both QR routes answer 410, although the images rendered before are still in the cache
    for fmt in ("png", "svg"):
        resp = _qr(app_client, me, fmt)
        assert resp.status_code == 410 and _error(resp)["code"] == "PASSPORT_REVOKED", (fmt, resp.status_code)
        s3.head_object(Bucket=settings.bucket("reports"), Key=f"qr/{stem}.{fmt}")
    # and the other citizen's passport is untouched
    assert json.loads(app_client.http.get("/v1/passports/me", headers=other).body)["status"] == "VALID"
    assert _qr(app_client, other, "png").status_code == 200

    # and the revocation list has it: the CLI verifier reports the HC1 revoked, the other valid
    # (once `revocation publish` has run, downloaded with the trust anchor's public key)
    from chalicelib.wiring import container
    from tests.integration.helpers import published_revocations

    published_revocations(container(), app_client)
    trust, revocations, anchor = tmp_path / "trust.json", tmp_path / "revocations", tmp_path / "anchor.pem"
    trust.write_bytes(app_client.http.get("/v1/trust-list").body)
    assert cli(["revocation", "download", "--out", str(revocations)]) == 0
    assert cli(["revocation", "anchor-key", "--out", str(anchor)]) == 0
    code, results = _verify_cli([hc1, other_hc1], trust, revocations, anchor, monkeypatch)
    assert code == 1 and results[0]["errors"] == ["REVOKED"] and results[1]["valid"] is True, results

    # and the audit log holds the revocation in the same chain as the attestations
    c = Container(settings)
    logged = c.audit_log.find(f"revoke:{uvci}")
    assert logged.sequence == revocation["audit"]["sequence"] and logged.entry_hash == revocation["audit"]["entry_hash"]
    assert logged.entry["type"] == "revocation" and logged.entry["reason"] == REASON
    assert verify_chain(c.audit_log.entries()).ok

    # and passports_revoked moved by exactly one, which a reconciliation of the data confirms
    assert _counter(settings, f"FAC#{facility}", "passports_revoked") == revoked_before + 1
    assert _drifts(settings, facility) == []


def test_attack_redelivered_countersign_message_does_not_undo_a_revocation(stack, sqs, region, people, app_client,
                                                                          bearer):
    from app import app
    from chalicelib.local.event_runner import EventRunner

    settings, created = stack
    runner = EventRunner(app, sqs, region=region, wait_time_s=0)
    url = created.queues["countersign"]
    drain_queue(sqs, url)
    # Given a passport issued from an attested chunk whose message an attacker (or SQS) keeps
    [cid] = sign_a_batch(settings, people, limit=1)
    messages = drain_queue(sqs, url)
    assert messages
    for m in messages:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(m))
    drain_until(runner, lambda: passport_versions(settings, cid))
    uvci = passport_versions(settings, cid)[0].uvci
    # and revoked by the ministry
    assert _revoke(app_client, bearer(dev_issuer.staff(Role.MINISTRY)), uvci).status_code == 201

    # When the same attested chunk is delivered again
    for m in messages:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(m))
    runner.drain(idle_rounds=2, max_seconds=30)

    # Then no new passport was issued and the revocation stands
    assert [int(v.version) for v in passport_versions(settings, cid)] == [1]
    mine = json.loads(app_client.http.get("/v1/passports/me", headers=bearer(dev_issuer.citizen(cid))).body)
    assert (mine["status"], mine["uvci"]) == ("REVOKED", uvci)


# -- the store's transaction, without the pipeline ------------------------------------------------
def _store(settings):
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.issuance.passports import DynamoPassportStore

    return DynamoPassportStore(Tables(settings))


def _new(cid, version, facility, *, sequence=1):
    from chalicelib.dcc.uvci import make_uvci
    from chalicelib.issuance.service import NewPassport

    return NewPassport(citizen_id=cid, version=version, uvci=make_uvci(secrets.token_bytes), kid_b64="a2lk",
                       alg="ES256", iat=1_700_000_000, exp=1_731_536_000, hc1="HC1:TEST",
                       signature_b64=base64.b64encode(secrets.token_bytes(64)).decode(),
                       content_digest=f"digest-{version}", display={},
                       attestation={"facility_id": facility, "province_code": "096", "sequence": sequence})


def _issue_one(settings, facility):
    cid = f"096{secrets.randbelow(10**9):09d}"
    passport = _new(cid, 1, facility)
    assert _store(settings).save_new(passport, None, [], datetime.now(timezone.utc))
    return cid, passport


def test_attack_concurrent_revocations_revoke_once(stack):
    """Two ministry officials revoke the same passport at the same instant: both read it ACTIVE
    before either writes; one gets the revocation, the other a conflict, and it counts once."""
    from chalicelib import errors
    from chalicelib.issuance.revocation import Actor, AlreadyRevoked
    from chalicelib.wiring import Container

    settings, _ = stack
    facility = f"RV{secrets.token_hex(4)}"
    _, passport = _issue_one(settings, facility)
    both_read = threading.Barrier(2, timeout=30)
    results: list = []

    def official(n: int) -> None:
        c = Container(settings)
        real = c.passports.find_by_uvci
        reads = {"n": 0}

        def find(uvci):
            target = real(uvci)
            reads["n"] += 1
            if reads["n"] == 1:
                both_read.wait()
            return target
        c.passports.find_by_uvci = find
        try:
            results.append(c.revocations.revoke({"uvci": passport.uvci, "reason": f"official {n}"},
                                                Actor("ministry", f"official-{n}")))
        except errors.DomainError as e:
            results.append(e)

    threads = [threading.Thread(target=official, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, AlreadyRevoked)]
    assert len(won) == 1 and len(lost) == 1, results
    # the revocation that won is the one logged, and it was counted once
    c = Container(settings)
    assert c.audit_log.find(f"revoke:{passport.uvci}").entry["reason"] == won[0]["reason"]
    assert lost[0].details["reason"] == won[0]["reason"]
    assert _counter(settings, f"FAC#{facility}", "passports_revoked") == 1
    assert _drifts(settings, facility) == []


def test_attack_reissue_racing_a_revocation_leaves_one_in_effect(stack):
    """A countersign worker read the current version, then the ministry revoked it: the worker's
    write is refused (the revocation stands). The other order: a re-issue landed first, then the
    revocation of the superseded version is refused (409) rather than counted twice."""
    from chalicelib.issuance.revocation import Actor, AlreadyRevoked
    from chalicelib.wiring import Container

    settings, _ = stack
    facility = f"RR{secrets.token_hex(4)}"
    c = Container(settings)
    now = datetime.now(timezone.utc)

    # revocation first: the worker's stale read loses
    cid, v1 = _issue_one(settings, facility)
    stale = c.passports.current(cid)
    c.revocations.revoke({"uvci": v1.uvci, "reason": "revoked first"}, Actor("ministry", "m"))
    assert c.passports.save_new(_new(cid, 2, facility, sequence=2), stale, [], now) is False
    assert c.passports.current(cid).version == 1 and c.passports.current(cid).revocation_sequence is not None

    # re-issue first: the revocation's stale read loses
    cid2, w1 = _issue_one(settings, facility)
    target = c.passports.find_by_uvci(w1.uvci)
    assert c.passports.save_new(_new(cid2, 2, facility), c.passports.current(cid2), [], now) is True
    assert c.passports.revoke(target, entry={"reason": "late", "revoked_at": now.isoformat(),
                                             "revoked_by": {"role": "ministry", "id": "m"}},
                              sequence=10**9, entries=[]) is False
    with pytest.raises(AlreadyRevoked) as refused:
        c.revocations.revoke({"uvci": w1.uvci, "reason": "too late"}, Actor("ministry", "m"))
    assert refused.value.details["reason"] == "superseded by a new passport version"

    # two passports revoked (one by the ministry, one by its re-issue), each counted once
    assert _counter(settings, f"FAC#{facility}", "passports_revoked") == 2
    assert _counter(settings, f"FAC#{facility}", "passports_issued") == 3
    assert _drifts(settings, facility) == []


def test_a_held_person_is_issued_nothing_until_the_lift_and_counts_stay_exact(stack):
    """A ministry revocation holds its person: the store refuses a new version on any attestation,
    logged before or after the revocation (the hold is checked in the write itself). Once the
    ministry lifts the hold, a new version follows; the revoked one stays revoked, listed with the
    ministry's reason, and is not counted as revoked a second time."""
    from chalicelib.issuance.revocation import Actor
    from chalicelib.wiring import Container
    from tests.integration.helpers import published_revocations

    settings, _ = stack
    facility = f"RA{secrets.token_hex(4)}"
    c = Container(settings)
    now = datetime.now(timezone.utc)
    cid, v1 = _issue_one(settings, facility)
    revocation = c.revocations.revoke({"uvci": v1.uvci, "reason": "wrong dose"}, Actor("operator", "o"))
    current = c.passports.current(cid)
    assert current.revocation_sequence == revocation["audit"]["sequence"] == current.held_by and current.revoked

    # no attestation issues while held, logged before the revocation or after it
    for sequence in (revocation["audit"]["sequence"] - 1, revocation["audit"]["sequence"] + 1):
        assert c.passports.save_new(_new(cid, 2, facility, sequence=sequence), current, [], now) is False
    # once the ministry lifts the hold, a new version may follow
    c.revocations.lift(v1.uvci, {"reason": "verified again"}, Actor("ministry", "m"))
    current = c.passports.current(cid)
    assert current.held_by is None and current.revoked
    assert c.passports.save_new(_new(cid, 2, facility, sequence=revocation["audit"]["sequence"] + 1),
                                current, [], now) is True
    assert c.passports.current(cid).version == 2 and c.passports.current(cid).revocation_sequence is None
    v1_item = c.passports.get_version(cid, 1)
    assert (v1_item.status, v1_item.reason) == ("REVOKED", "wrong dose")
    listed = published_revocations(c)
    assert listed.is_revoked(uci=v1.uvci, country=settings.country,
                             signature=base64.b64decode(v1.signature_b64), alg="ES256")
    assert _counter(settings, f"FAC#{facility}", "passports_issued") == 2
    assert _counter(settings, f"FAC#{facility}", "passports_revoked") == 1
    assert _drifts(settings, facility) == []
