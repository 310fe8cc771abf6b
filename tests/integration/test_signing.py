"""Facility bulk signing on LocalStack: registry, batches over seeded verified records, reservations,
signature submission, the chained audit log (also under concurrent appends), countersign messages,
and the facility CLI end to end."""
from __future__ import annotations

import base64
import io
import json
import threading
import uuid
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo import record_pk
from chalicelib.adapters.signing import manifests
from chalicelib.adapters.signing.audit_log import DynamoAuditLog
from chalicelib.adapters.signing.countersign_queue import SqsCountersignQueue
from chalicelib.adapters.signing.facilities import DynamoFacilityRegistry
from chalicelib.adapters.signing.manifests import DynamoManifestStore
from chalicelib.adapters.signing.records import DynamoSigningRecords
from chalicelib.signing import facility_pki as pki
from chalicelib.signing.manifest import (canonical_json, entries_still_current, leaf_hash, manifest_message,
                                         verify_inclusion)
from chalicelib.signing.facilities import Facility, FacilityService
from chalicelib.signing.service import DuplicateAuditKey, NothingToSign, SigningService
from tests.integration.helpers import drain_queue

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def ports(stack, sqs):
    from chalicelib.adapters.dynamo import Tables

    settings, _ = stack
    tables = Tables(settings)
    url = sqs.get_queue_url(QueueName=settings.queue("countersign"))["QueueUrl"]
    drain_queue(sqs, url)
    return {"tables": tables, "registry": DynamoFacilityRegistry(tables),
            "records": DynamoSigningRecords(tables), "manifests": DynamoManifestStore(tables),
            "audit": DynamoAuditLog(tables), "queue": SqsCountersignQueue(sqs, url), "url": url}


def service(p, chunk_people=4):
    n = iter(range(1, 1000))
    run = uuid.uuid4().hex[:6]
    return SigningService(p["registry"], p["records"], p["manifests"], p["audit"], p["queue"],
                          new_id=lambda: f"SB{run}{next(n):03d}", chunk_people=chunk_people)


def seed(tables, facility_id, record_id, citizen_id, *, dose=1, state="VERIFIED", version=1):
    R = tables.Record
    data = {"record_id": record_id, "facility_id": facility_id, "citizen_id": citizen_id, "dose_number": str(dose),
            "vaccination_date": f"2021-0{7 + dose}-01", "vaccine_product": "EU/1/20/1528", "full_name": "Nguyễn Văn A"}
    # Saving the whole item is what intake does for a new version: signing attributes disappear.
    R(record_pk(facility_id, record_id), "REC", gsi2pk=f"FAC#{facility_id}#{state}", gsi2sk=record_id,
      facility_id=facility_id, record_id=record_id, province_code="079", digest=f"{record_id}-v{version}",
      version=version, data=json.dumps(data, ensure_ascii=False), state=state, matched_citizen_id=citizen_id,
      created_at=NOW.isoformat(), updated_at=NOW.isoformat()).save()


@pytest.fixture(scope="module")
def gov():
    import secrets

    key = pki.generate_key()
    return key, pki.issue_government_ca(key, now=NOW - timedelta(days=1), valid_days=3650,
                                        random_bytes=secrets.token_bytes)


def signer(gov, subject_id, **kw):
    import secrets

    ca_key, ca = gov
    key = pki.generate_key(kw.pop("kind", "EC"))
    cert = pki.issue_signer_certificate(key.public_key(), ca_cert=ca, ca_key=ca_key, subject_id=subject_id,
                                        name=subject_id, now=NOW - timedelta(hours=1), valid_days=365,
                                        random_bytes=secrets.token_bytes, **kw)
    return key, cert


def test_registry_round_trip(ports, gov):
    fid, aid = f"F{uuid.uuid4().hex[:8]}", f"A{uuid.uuid4().hex[:8]}"
    facilities = FacilityService(ports["registry"])
    facilities.register_ca(pki.pem(gov[1]), now=NOW)
    _, c1 = signer(gov, fid, province="079")
    _, c2 = signer(gov, fid, province="079", kind="RSA")
    facilities.register_facility(facility_id=fid, name="Trạm Y tế Phường 1", province="079", head="BS. Lan",
                                 certificate_pem=pki.pem(c1), now=NOW)
    facilities.register_facility(facility_id=fid, name="Trạm Y tế Phường 1", province="079", head="BS. Lan",
                                 certificate_pem=pki.pem(c2), now=NOW)  # rotation adds, never replaces
    _, ac = signer(gov, aid, province="079", focal_agency=True)
    facilities.register_focal_agency(agency_id=aid, name="HCDC", province="079", certificate_pem=pki.pem(ac), now=NOW)
    f = ports["registry"].get_facility(fid)
    assert (f.name, f.province, f.head) == ("Trạm Y tế Phường 1", "079", "BS. Lan")
    assert ({pki.fingerprint(pki.load_certificate(p)) for p in f.certificates}
            == {pki.fingerprint(c1), pki.fingerprint(c2)})
    assert aid in {a.agency_id for a in ports["registry"].focal_agencies("079")}
    assert aid not in {a.agency_id for a in ports["registry"].focal_agencies("001")}
    assert ports["registry"].get_facility("nope") is None


def test_attack_facility_re_registered_in_another_province_is_refused(ports, gov):
    """Concurrent or later registrations cannot move a facility (or agency) out of the province its
    records and signing rights are filed under: the DynamoDB profile write is conditional."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.signing.facilities import ProvinceFixed

    fid = f"F{uuid.uuid4().hex[:8]}"
    facilities = FacilityService(ports["registry"])

    def register(province):
        try:
            facilities.register_facility(facility_id=fid, name="x", province=province, head="h",
                                         certificate_pem=None, now=NOW)
            return province
        except ProvinceFixed:
            return None

    with ThreadPoolExecutor(2) as pool:
        won = [p for p in pool.map(register, ["001", "079"]) if p]
    assert len(won) == 1 and ports["registry"].get_facility(fid).province == won[0]
    other = "079" if won[0] == "001" else "001"
    assert register(other) is None and ports["registry"].get_facility(fid).province == won[0]


def test_batch_sign_attest_and_fan_out(ports, gov, sqs, monkeypatch):
    monkeypatch.setattr(manifests, "PAGE_ENTRIES", 3)  # several manifest pages
    fid = f"F{uuid.uuid4().hex[:8]}"
    key, cert = signer(gov, fid, province="079")
    facilities = FacilityService(ports["registry"])
    facilities.register_ca(pki.pem(gov[1]), now=NOW)
    facilities.register_facility(facility_id=fid, name="BV Quận 1", province="079", head="BS. Minh",
                                 certificate_pem=pki.pem(cert), now=NOW)
    t = ports["tables"]
    for i in range(15):
        seed(t, fid, f"R{i:03d}a", f"07920000{i:04d}", dose=1)
        seed(t, fid, f"R{i:03d}b", f"07920000{i:04d}", dose=2, state="VERIFIED_NORMALIZED")
    seed(t, fid, "RX", "079299999999", state="MISMATCH")
    seed(t, fid, "RP", "079299999998", state="PENDING")
    svc = service(ports)

    m1 = svc.create_batch(fid, limit=10, now=NOW)
    m2 = svc.create_batch(fid, limit=10, now=NOW)
    with pytest.raises(NothingToSign):
        svc.create_batch(fid, now=NOW)
    assert (m1["count"], m2["count"]) == (10, 5)
    people1 = {e["citizen_id"] for e in m1["entries"]}
    assert not people1 & {e["citizen_id"] for e in m2["entries"]}
    assert sum(len(e["doses"]) for e in m1["entries"] + m2["entries"]) == 30
    item = t.Record.get(record_pk(fid, "R000a"), "REC", consistent_read=True)
    assert item.signing_batch in (m1["batch_id"], m2["batch_id"]) and item.signing_until.endswith("Z")
    assert ports["manifests"].get(m1["batch_id"]).manifest == m1  # 4 pages read back in order

    sig, alg = pki.sign(key, manifest_message(m1))
    body = dict(signature_b64=base64.b64encode(sig).decode(), algorithm=alg, signer_id=fid,
                certificate_pem=pki.pem(cert))
    result = svc.submit_signature(m1["batch_id"], **body, now=NOW + timedelta(minutes=5))
    assert result["messages_queued"] == 3 and not result["replayed"]
    again = svc.submit_signature(m1["batch_id"], **body, now=NOW + timedelta(minutes=6))
    assert again["replayed"] and again["entry_hash"] == result["entry_hash"]
    assert ports["manifests"].get(m1["batch_id"]).status == "DISPATCHED"
    assert svc.verify_audit_chain().ok
    logged = ports["audit"].find(f"batch:{m1['batch_id']}")
    assert logged.sequence == result["sequence"] and logged.entry["signature"] == body["signature_b64"]

    messages = drain_queue(sqs, ports["url"])
    assert len(messages) == 3  # the replay sent nothing more
    assert all(msg["kind"] == "facility-attested" and msg["attestation"]["entry_hash"] == result["entry_hash"]
               for msg in messages)
    people = sorted((e for msg in messages for e in msg["entries"]), key=lambda e: e["index"])
    root = bytes.fromhex(m1["merkle_root"])
    for p in people:
        leaf = leaf_hash(canonical_json({"citizen_id": p["citizen_id"], "doses": p["doses"]}))
        assert verify_inclusion(leaf, p["index"], [bytes.fromhex(h) for h in p["proof"]], root, m1["count"])

    # What the countersign worker does: skip people whose records changed, mark the rest signed.
    changed = m1["entries"][0]["doses"][0]
    seed(t, fid, changed["record_id"], m1["entries"][0]["citizen_id"], dose=changed["dose_number"], version=2)
    keys = [(d["facility_id"], d["record_id"]) for e in m1["entries"] for d in e["doses"]]
    current = entries_still_current(m1["entries"], ports["records"].current_versions(keys))
    assert len(current) == 9 and m1["entries"][0] not in current
    marked = ports["records"].mark_signed(m1["batch_id"], keys, NOW)
    assert len(marked) == 19 and (fid, changed["record_id"]) not in marked


def test_expired_batch_frees_its_people_for_a_new_one(ports, gov):
    fid = f"F{uuid.uuid4().hex[:8]}"
    _, cert = signer(gov, fid, province="079")
    ports["registry"].save_facility(Facility(fid, "x", "079", "h", (pki.pem(cert),)), NOW)
    for i in range(3):
        seed(ports["tables"], fid, f"R{i}", f"0792100000{i:02d}")
    svc = service(ports)
    first = svc.create_batch(fid, now=NOW)
    second = svc.create_batch(fid, now=NOW + timedelta(days=3, minutes=1))
    assert first["count"] == second["count"] == 3
    item = ports["tables"].Record.get(record_pk(fid, "R0"), "REC", consistent_read=True)
    assert item.signing_batch == second["batch_id"]
    assert ports["records"].mark_signed(first["batch_id"], [(fid, "R0")], NOW) == set()


def test_concurrent_appends_never_fork_the_chain(ports):
    audit = ports["audit"]
    run = uuid.uuid4().hex[:8]
    results, errors_seen = [], []

    def append(i):
        try:
            results.append(audit.append({"type": "test", "run": run, "i": i}, unique_key=f"test:{run}:{i}"))
        except Exception as e:  # collected and asserted below, never hidden
            errors_seen.append(e)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors_seen == []
    seqs = sorted(s for s, _ in results)
    assert seqs == list(range(seqs[0], seqs[0] + 8))
    from chalicelib.signing.audit import verify_chain

    check = verify_chain(audit.entries())
    assert check.ok and check.length >= seqs[-1]
    with pytest.raises(DuplicateAuditKey):
        audit.append({"type": "test"}, unique_key=f"test:{run}:0")


def test_cli_register_and_sign_end_to_end(ports, stack, tmp_path):
    from chalicelib.cli import main
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    set_container(Container(settings))
    try:
        def cli(*args):
            out = io.StringIO()
            with redirect_stdout(out):
                code = main(list(args))
            return code, out.getvalue()

        fid = f"F{uuid.uuid4().hex[:8]}"
        assert cli("facility", "ca", "init", "--out", str(tmp_path / "ca"))[0] == 0
        assert cli("facility", "ca", "register", "--cert", str(tmp_path / "ca" / "ca.pem"))[0] == 0
        assert cli("facility", "cert", "--ca-dir", str(tmp_path / "ca"), "--facility-id", fid, "--province", "079",
                   "--out", str(tmp_path / "keys"), "--p12-password", "pw")[0] == 0
        assert cli("facility", "register", "--facility-id", fid, "--name", "TYT Bến Nghé", "--province", "079",
                   "--head", "BS. Hoa", "--cert", str(tmp_path / "keys" / f"{fid}.pem"))[0] == 0
        seed(ports["tables"], fid, "R1", "079230000001")
        svc = service(ports)
        manifest = svc.create_batch(fid, now=datetime.now(timezone.utc))
        (tmp_path / "batch.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        code, _ = cli("facility", "sign", "--key", str(tmp_path / "keys" / f"{fid}.p12"), "--password", "pw",
                      "--batch", str(tmp_path / "batch.json"), "--out", str(tmp_path / "sig.json"))
        assert code == 0
        sig = json.loads((tmp_path / "sig.json").read_text())
        result = svc.submit_signature(sig["batch_id"], signature_b64=sig["signature"], algorithm=sig["algorithm"],
                                      signer_id=sig["signer_id"], certificate_pem=sig["certificate"],
                                      now=datetime.now(timezone.utc))
        assert result["facility_id"] == fid and result["messages_queued"] == 1
    finally:
        set_container(None)
