"""The revocation list on LocalStack, as other countries' verifiers get it: a few thousand listed
hashes (written as the passport store lists them) published by `revocation publish` as batches
signed with the trust anchor's KMS key, into S3; the routes serve the index and the batches
(ETag, 304, no response over 1 MB); `revocation download` and `verify --revocation-list` check
them offline and find a revoked certificate. A second publication adds batches and leaves the
published ones as they are."""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone

import pytest

from tests.unit.cli.conftest import run
from tests.unit.dcc.conftest import make_payload

pytestmark = pytest.mark.integration

CERTIFICATES = 1_500  # 4,500 hashes: 2 DSC kids x 3 hash types, several full batches each


def _list(c, count: int, tag: str, kid_of=lambda i: "a2lkLWVzMjU=" if i % 2 else "a2lkLXBzMjU="):
    """Entries as a revocation lists them (3 hash types per certificate), stamped now."""
    from chalicelib.dcc.revocation import HASH_TYPES, revocation_entries

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    by_kid: dict[str, list[dict]] = {}
    for i in range(count):
        uci = f"URN:UVCI:01:VN:{tag}{i:06d}#A"
        by_kid.setdefault(kid_of(i), []).extend(revocation_entries(
            uci=uci, country="VN", signature=hashlib.sha256(uci.encode()).digest() * 2, alg="ES256",
            types=HASH_TYPES, kid=kid_of(i)))
    for entries in by_kid.values():
        c.revocation_list.add(entries, reason="test", revoked_at=now)
    return [e for entries in by_kid.values() for e in entries]


def test_a_few_thousand_revocations_are_published_as_signed_batches_and_served_bounded(stack, app_client, tmp_path):
    from chalicelib.wiring import container
    from tests.integration.helpers import published_revocations

    c = container()
    tag = base64.b32encode(hashlib.sha256(str(tmp_path).encode()).digest()[:5]).decode()
    listed = _list(c, CERTIFICATES, tag)
    revoked = published_revocations(c, app_client)
    assert {(e["type"], base64.b64decode(e["hash"])) for e in listed} <= revoked.hashes

    root_resp = app_client.http.get("/v1/revocation-list")
    assert root_resp.status_code == 200 and root_resp.headers["ETag"]
    assert app_client.http.get("/v1/revocation-list", headers={"If-None-Match": root_resp.headers["ETag"]}
                               ).status_code == 304
    root = json.loads(root_resp.body)["payload"]
    mine = {e["hash"] for e in listed}
    batches = {}
    for page in root["pages"]:
        for entry in json.loads(app_client.http.get(f"/v1/revocation-list?page={page['page']}").body
                                )["payload"]["batches"]:
            body = app_client.http.get(f"/v1/revocation-list/{entry['batchId']}").body
            payload = json.loads(body)["payload"]
            assert len(payload["entries"]) <= 1000 and len(body) < 1_000_000
            assert (payload["kid"], payload["hashType"]) == (entry["kid"], entry["hashType"])
            if {h["hash"] for h in payload["entries"]} & mine:
                batches[entry["batchId"]] = body
    # 750 certificates per kid, 3 hash types: (750 hashes) x 6 groups, one batch each at most 1,000
    assert len(batches) >= 6

    # A second publication: new batches only; the published ones are byte for byte the same.
    more = _list(c, 10, tag + "M")
    revoked = published_revocations(c, app_client)
    assert {(e["type"], base64.b64decode(e["hash"])) for e in more} <= revoked.hashes
    assert all(app_client.http.get(f"/v1/revocation-list/{b}").body == body for b, body in batches.items())


def test_verify_checks_the_downloaded_list_against_the_anchor_and_finds_the_revoked_certificate(
        stack, app_client, tmp_path):
    from chalicelib.dcc.revocation import HASH_TYPES, revocation_entries
    from chalicelib.wiring import container
    from tests.integration.helpers import published_revocations

    keys = tmp_path / "keys"
    assert run(["keys", "init", "--out", keys]).code == 0
    uvci = f"URN:UVCI:01:VN:DL{tmp_path.name[-6:].upper().replace('_', 'X')}#A"
    issued = run(["issue", "--key", keys / "dsc.key.pem", "--cert", keys / "dsc.pem"],
                 json.dumps(make_payload(uvci=uvci)) + "\n")
    assert issued.code == 0, issued.err
    c = container()
    c.revocation_list.add(revocation_entries(uci=uvci, country="VN", signature=b"", alg="PS256",
                                             types=HASH_TYPES[:2], kid="a2lkLWxvY2E="),
                          reason="test", revoked_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    published_revocations(c, app_client)
    assert run(["revocation", "download", "--out", tmp_path / "list"]).code == 0
    assert run(["revocation", "anchor-key", "--out", tmp_path / "anchor.pem"]).code == 0
    done = run(["verify", "--trust-cert", keys / "dsc.pem", "--revocation-list", tmp_path / "list",
                "--revocation-anchor", tmp_path / "anchor.pem"], issued.out)
    assert done.code == 1 and json.loads(done.out)["errors"] == ["REVOKED"], done.err

    # A batch changed on the way (the verifier's copy): refused, with the batch named.
    batch = next(f for f in (tmp_path / "list").glob("*.json") if f.name != "index.json"
                 and not f.name.startswith("page-"))
    doc = json.loads(batch.read_bytes())
    doc["payload"]["entries"] = doc["payload"]["entries"][:-1]
    batch.write_text(json.dumps(doc, separators=(",", ":")))
    done = run(["verify", "--trust-cert", keys / "dsc.pem", "--revocation-list", tmp_path / "list",
                "--revocation-anchor", tmp_path / "anchor.pem"], issued.out)
    assert done.code == 2 and batch.stem in done.err and done.out == ""
