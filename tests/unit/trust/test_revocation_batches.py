"""The revocation list in the EU design, in pure code and over fakes: the hashes (known vectors,
computed here independently), the batches (<= 1,000 hashes, one kid and one hash type, signed by
the trust anchor), the paged index at 10 million hashes, the incremental publisher, and the routes
(ETag, 304). The same flow on LocalStack: tests/integration/test_revocation_batches.py."""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from chalicelib.dcc.revocation import revocation_entries, revocation_hashes
from chalicelib.dcc.revocation_batches import (MAX_OBJECT_BYTES, ListedHash, cut_batches, load_published, open_batch,
                                               revocation_list_from_batches)
from chalicelib.dcc.signed_document import SignedDocumentError, open_document
from chalicelib.trust.revocations import ROOT_KEY, SETTLE, batch_key
from chalicelib.wiring import set_container
from tests.fakes import fake_container
from tests.unit import background

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
UCI = "URN:UVCI:01:VN:ABCDEFGHIJ#K"


def _ten_million() -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.unit.trust.ten_million"], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


background.register(__name__, "revocation-ten-million", _ten_million, priority=2)


# -- hashes ------------------------------------------------------------------------------------
def test_the_three_hash_types_match_independently_computed_vectors():
    signature = bytes(range(64))
    got = revocation_hashes(uci=UCI, country="VN", signature=signature, alg="ES256")
    assert got["UCI"].hex() == hashlib.sha256(UCI.encode()).hexdigest()[:32]
    assert got["COUNTRYCODEUCI"].hex() == hashlib.sha256(b"VN" + UCI.encode()).hexdigest()[:32]
    assert got["SIGNATURE"].hex() == hashlib.sha256(bytes(range(32))).hexdigest()[:32]  # ES256: r only
    ps = revocation_hashes(uci=UCI, country="VN", signature=signature, alg="PS256")
    assert ps["SIGNATURE"].hex() == hashlib.sha256(signature).hexdigest()[:32]
    # A fixed vector, so a change of encoding (e.g. UTF-16, or a separator) shows.
    assert revocation_hashes(uci="abc", country="", signature=b"", alg="PS256")["UCI"].hex() == \
        "ba7816bf8f01cfea414140de5dae2223"


def test_attack_countrycodeuci_keyed_on_the_cwt_issuer_lets_a_revoked_certificate_pass():
    """A certificate whose CWT issuer (claim 1) is not its `co` (a service issuing for another
    country, or a forged claim): a verifier that lists and checks COUNTRYCODEUCI as the reference
    app does, over `co` + `ci`, must find it revoked."""
    from chalicelib.dcc import RevocationList, issue_hc1, revocation_list_json, verify_hc1
    from tests.unit.dcc.conftest import T0, Chain, make_payload

    es256, payload, sign_at = Chain("ES256"), make_payload(), T0 + timedelta(days=10)
    hc1 = issue_hc1(payload, es256.signer, now=sign_at, valid_days=30, issuer="XX")
    co, ci = payload["v"][0]["co"], payload["v"][0]["ci"]
    listed = [{"type": "COUNTRYCODEUCI",
               "hash": base64.b64encode(hashlib.sha256((co + ci).encode()).digest()[:16]).decode()}]
    result = verify_hc1(hc1, es256.trust, now=sign_at + timedelta(days=1),
                        revocation=RevocationList.from_json(revocation_list_json(listed)))
    assert result.errors == ["REVOKED"]


def test_entries_name_the_kid_of_the_dsc_that_signed_the_certificate():
    entries = revocation_entries(uci=UCI, country="VN", signature=b"s" * 64, alg="ES256",
                                 types=("UCI", "SIGNATURE"), kid="a2lka2lkMDA=")
    assert [(e["type"], e["kid"]) for e in entries] == [("UCI", "a2lka2lkMDA="), ("SIGNATURE", "a2lka2lkMDA=")]


# -- batches -----------------------------------------------------------------------------------
def _listed(n: int, kids=("k1", "k2"), types=("UCI", "SIGNATURE")):
    return [ListedHash(kids[i % len(kids)], types[(i // 2) % len(types)],
                       base64.b64encode(i.to_bytes(16, "big")).decode(), f"2026-11-{1 + i % 20:02d}T00:00:00+00:00")
            for i in range(n)]


def test_batches_hold_at_most_1000_hashes_of_one_kid_and_one_hash_type_and_lose_none():
    listed = _listed(5_003)
    batches = list(cut_batches(listed))
    assert all(1 <= len(b.hashes) <= 1000 for b in batches)
    by_hash = {e.hash: e for e in listed}
    assert all({(by_hash[h].kid, by_hash[h].hash_type) for h in b.hashes} == {(b.kid, b.hash_type)} for b in batches)
    assert sorted(h for b in batches for h in b.hashes) == sorted(by_hash)
    assert sum(1 for b in batches if len(b.hashes) == 1000) == 4  # 4 groups of ~1,250: one full batch each


def test_ten_million_hashes_publish_without_any_object_over_one_megabyte():
    """10 million generated hashes through the real batch builder and index pager (a child
    process, tests/unit/trust/ten_million.py): every batch, index page and the root stay bounded."""
    seen = background.result("revocation-ten-million")
    assert seen["hashes"] == 10_000_000 and seen["full_batches"] >= 9_990
    assert seen["batches"] >= 10_000 and seen["pages"] >= 5
    assert max(seen["largest_batch"], seen["largest_page"], seen["root"]) < MAX_OBJECT_BYTES


# -- the publisher over fakes --------------------------------------------------------------------
def _world(now=NOW):
    clock = {"now": now}
    ids = iter(range(1, 1 << 30))
    c = fake_container(clock=lambda: clock["now"], random_bytes=lambda n: next(ids).to_bytes(n, "big"))
    return c, clock


def _list(c, n: int, at: datetime, kid: str = "a2lkMDAwMDA="):
    """What a revocation or re-issue does to the list: entries with kid and time."""
    entries = [{"type": t, "hash": base64.b64encode(hashlib.sha256(f"{at}{i}{t}".encode()).digest()[:16]).decode(),
                "kid": kid} for i in range(n) for t in ("UCI", "COUNTRYCODEUCI", "SIGNATURE")]
    c.passports._list(entries, "forged", at.isoformat(timespec="seconds"))
    return entries


def _reader(c):
    def read(name):
        key = f"revocation/pages/{name[5:]}.json" if name.startswith("page-") else batch_key(name)
        return c.published_objects.get(key)
    return read


def _load(c) -> list[dict]:
    return load_published(json.loads(c.published_objects.get(ROOT_KEY)), _reader(c), c.trust_anchor.public_key())


def test_a_publication_adds_new_batches_and_never_rewrites_published_ones():
    c, clock = _world()
    first = _list(c, 1200, NOW - timedelta(hours=1))  # 1,200 hashes of each type
    done = c.revocation_publisher.publish()
    assert done == {"batches": 6, "hashes": 3600, "pages": 1,
                    "published_until": (NOW - SETTLE).isoformat(timespec="seconds")}
    published = {k: v for k, v in c.published_objects.objects.items() if k.startswith("revocation/batches/")}
    assert len(_load(c)) == 6
    clock["now"] = NOW + timedelta(hours=1)
    second = _list(c, 10, NOW + timedelta(minutes=10))
    signed, puts = c.trust_anchor.signed, c.published_objects.puts
    assert c.revocation_publisher.publish()["hashes"] == 30
    # 3 new batches (one per hash type), the last index page, the root: nothing else written or signed.
    assert (c.published_objects.puts - puts, c.trust_anchor.signed - signed) == (5, 5)
    assert all(c.published_objects.objects[k] == v for k, v in published.items())
    listed = revocation_list_from_batches(_load(c))
    assert listed.hashes == {(e["type"], base64.b64decode(e["hash"])) for e in first + second}
    assert c.revocation_publisher.publish()["batches"] == 0  # nothing new: nothing written


def test_attack_an_entry_listed_just_before_a_run_is_not_skipped_for_good():
    """An entry is stamped before its transaction commits: one stamped within SETTLE of a run
    waits for the next run instead of falling behind the cursor."""
    c, clock = _world()
    c.revocation_publisher.publish()
    late = _list(c, 1, NOW - timedelta(minutes=1))
    clock["now"] = NOW + timedelta(minutes=1)
    assert c.revocation_publisher.publish()["hashes"] == 0
    clock["now"] = NOW + timedelta(minutes=10)
    assert c.revocation_publisher.publish()["hashes"] == 3
    assert {base64.b64encode(h).decode() for _, h in revocation_list_from_batches(_load(c)).hashes} == \
        {e["hash"] for e in late}


def test_a_run_with_a_longer_settling_time_never_moves_the_cursor_back():
    c, clock = _world()
    _list(c, 1, NOW - timedelta(minutes=1))
    assert c.revocation_publisher.publish(settle=timedelta(0))["hashes"] == 3
    assert c.revocation_publisher.publish() == {"batches": 0, "hashes": 0, "pages": 1,
                                                "published_until": NOW.isoformat(timespec="seconds")}
    clock["now"] = NOW + timedelta(minutes=6)
    later = _list(c, 1, NOW + timedelta(seconds=30))
    assert c.revocation_publisher.publish()["hashes"] == 3
    assert len(revocation_list_from_batches(_load(c)).hashes) == 6 and later


def test_a_new_anchor_signs_the_whole_list_again():
    """Verifiers check every object against one anchor: after a key change (or publishing with
    the key file `trust export` uses) nothing may stay signed by the old one."""
    from tests.fakes import FakeTrustAnchor

    c, clock = _world()
    _list(c, 400, NOW - timedelta(hours=1))
    c.revocation_publisher.publish()
    c2 = type(c)(c.settings, **{name: c.__dict__[name] for name in ("passports", "revocation_list",
                                                                      "published_objects", "clock", "random_bytes")},
                 trust_anchor=FakeTrustAnchor())
    clock["now"] = NOW + timedelta(hours=1)
    _list(c, 1, NOW + timedelta(minutes=10))
    assert c2.revocation_publisher.publish()["hashes"] == 1203
    assert len(revocation_list_from_batches(load_published(
        json.loads(c2.published_objects.objects[ROOT_KEY]), _reader(c2), c2.trust_anchor.public_key())).hashes) == 1203


def test_a_revocation_through_the_service_is_published_under_the_kid_of_its_dsc():
    from chalicelib.dcc.uvci import make_uvci
    from chalicelib.issuance.revocation import Actor

    c, clock = _world()
    uvci = make_uvci(lambda n: bytes([1] * n))
    c.passports.issue("001090012345", 1, uvci)
    c.revocations.revoke({"uvci": uvci, "reason": "forged"}, Actor("ministry", "m-1"))
    clock["now"] = NOW + timedelta(hours=1)
    c.revocation_publisher.publish()
    kid = c.passports.versions("001090012345")[0].kid_b64
    assert sorted((b["kid"], b["hashType"], len(b["entries"])) for b in _load(c)) == [
        (kid, t, 1) for t in ("COUNTRYCODEUCI", "SIGNATURE", "UCI")]


# -- what a verifier checks ----------------------------------------------------------------------
@pytest.fixture()
def published():
    c, clock = _world()
    _list(c, 400, NOW - timedelta(hours=1))
    c.revocation_publisher.publish()
    return c


def _tamper(c, key: str, change) -> None:
    doc = json.loads(c.published_objects.objects[key])
    change(doc["payload"])
    c.published_objects.objects[key] = json.dumps(doc, separators=(",", ":")).encode()


def test_attack_a_batch_changed_after_signing_is_refused(published):
    key = next(k for k in published.published_objects.objects if k.startswith("revocation/batches/"))
    doc = json.loads(published.published_objects.objects[key])
    doc["payload"]["entries"].pop()  # take a revoked certificate off the list
    with pytest.raises(SignedDocumentError, match="signature does not match"):
        open_batch(doc, published.trust_anchor.public_key())
    _tamper(published, key, lambda p: p["entries"].pop())
    with pytest.raises(SignedDocumentError, match="does not match the hash"):
        _load(published)


def test_attack_a_batch_dropped_from_the_index_is_refused(published):
    root = json.loads(published.published_objects.objects[ROOT_KEY])
    page_key = f"revocation/pages/{root['payload']['pages'][0]['hash']}.json"
    _tamper(published, page_key, lambda p: p["batches"].pop())
    with pytest.raises(SignedDocumentError):
        _load(published)


def test_attack_a_list_signed_by_another_key_is_refused(published):
    other = ec.generate_private_key(ec.SECP256R1())
    key = next(k for k in published.published_objects.objects if k.startswith("revocation/batches/"))
    doc = json.loads(published.published_objects.objects[key])
    with pytest.raises(SignedDocumentError, match="another key"):
        open_document(doc, other.public_key())
    # Re-signed by the other key, naming the anchor's kid: the signature still fails.
    from chalicelib.dcc.signed_document import canonical_json

    doc["signature"]["value"] = base64.b64encode(other.sign(
        hashlib.sha256(canonical_json(doc["payload"])).digest(), ec.ECDSA(utils.Prehashed(hashes.SHA256())))).decode()
    with pytest.raises(SignedDocumentError, match="signature does not match"):
        open_document(doc, published.trust_anchor.public_key())


def test_expired_batches_no_longer_count():
    c, _ = _world()
    _list(c, 2, NOW - timedelta(days=400))
    c.revocation_publisher.publish()
    batches = _load(c)
    assert revocation_list_from_batches(batches, now=NOW - timedelta(days=300)).hashes
    assert not revocation_list_from_batches(batches, now=NOW).hashes


# -- routes --------------------------------------------------------------------------------------
def test_routes_serve_the_root_pages_and_batches_with_etags_and_304(published):
    from chalice.test import Client

    from app import app

    set_container(published)
    try:
        with Client(app) as client:
            root = client.http.get("/v1/revocation-list")
            assert root.status_code == 200 and root.body == published.published_objects.objects[ROOT_KEY]
            tag = root.headers["ETag"]
            again = client.http.get("/v1/revocation-list", headers={"If-None-Match": tag})
            assert again.status_code == 304 and again.body == b""
            page = client.http.get("/v1/revocation-list?page=0")
            entry = json.loads(page.body)["payload"]["batches"][0]
            batch = client.http.get(f"/v1/revocation-list/{entry['batchId']}")
            assert batch.status_code == 200 and hashlib.sha256(batch.body).hexdigest() == entry["hash"]
            assert client.http.get(f"/v1/revocation-list/{entry['batchId']}",
                                   headers={"If-None-Match": batch.headers["ETag"]}).status_code == 304
            assert client.http.get("/v1/revocation-list?page=1").status_code == 404
            assert client.http.get("/v1/revocation-list?page=-1").status_code == 400
            assert client.http.get("/v1/revocation-list/..%2Findex").status_code == 400
            assert client.http.get(f"/v1/revocation-list/{'0' * 32}").status_code == 404
    finally:
        set_container(None)


def test_before_the_first_publication_the_route_says_so():
    from chalice.test import Client

    from app import app

    set_container(_world()[0])
    try:
        with Client(app) as client:
            resp = client.http.get("/v1/revocation-list")
        assert resp.status_code == 404
        assert json.loads(resp.body)["error"]["code"] == "REVOCATION_LIST_NOT_PUBLISHED"
    finally:
        set_container(None)
