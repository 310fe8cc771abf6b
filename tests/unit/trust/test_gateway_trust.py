"""Gateway-format trust lists (issue 15 section 3), on the real services over the fakes and through
the CLI: our list signed by the national trust anchor and checked offline by `verify --trust-list`
(a tampered copy is refused), and the import of a foreign list, DSC by DSC against the onboarded
CSCAs, into the verifier bundle (`scope=all`) while our own list stays ours."""
from __future__ import annotations

import base64
import copy
import json
import secrets
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chalicelib.dcc.gateway_trust import LocalAnchor, check_foreign_entries, gateway_entry, open_trust_list
from chalicelib.dcc.issue import issue_hc1
from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc
from chalicelib.dcc.signed_document import SignedDocumentError
from chalicelib.dcc.signer import LocalKeySigner
from tests.fakes import fake_container
from tests.unit.cli.conftest import run
from tests.unit.dcc.conftest import make_payload

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@contextmanager
def over(c):
    """The process-wide container (routes, CLI) replaced by `c` for the block."""
    from chalicelib.wiring import set_container

    set_container(c)
    try:
        yield c
    finally:
        set_container(None)


def _pki(country: str, *, now=NOW, csca_days=3650, dsc_days=365):
    csca_key = generate_key("ES256")
    csca = issue_csca(csca_key, now=now, valid_days=csca_days, random_bytes=secrets.token_bytes, country=country,
                      common_name=f"{country} CSCA")
    dsc_key = generate_key("ES256")
    dsc = issue_dsc(dsc_key.public_key(), csca_cert=csca, csca_key=csca_key, now=now, valid_days=dsc_days,
                    random_bytes=secrets.token_bytes, country=country, common_name=f"{country} DSC")
    return csca, csca_key, dsc, dsc_key


@pytest.fixture(scope="module")
def vn():
    return _pki("VN")


@pytest.fixture(scope="module")
def de():
    return _pki("DE")


def _published(vn):
    csca, csca_key, dsc, _ = vn
    c = fake_container()
    c.trust.register_dsc(dsc.public_bytes(Encoding.PEM), key_ref="alias/dsc-es256", now=NOW)
    document, left_out = c.gateway_trust.publish([csca], LocalAnchor(csca_key), NOW)
    return c, document, left_out


def test_export_lists_our_dscs_and_csca_in_gateway_form_signed_by_the_anchor(vn):
    csca, csca_key, dsc, _ = vn
    c, document, left_out = _published(vn)
    payload = open_trust_list(document, [csca.public_key()])
    assert left_out == [] and payload["country"] == "VN"
    kinds = {e["certificateType"]: e for e in payload["entries"]}
    assert set(kinds) == {"CSCA", "DSC"}
    entry = kinds["DSC"]
    assert set(entry) == {"kid", "timestamp", "country", "certificateType", "thumbprint", "rawData", "signature"}
    assert base64.b64decode(entry["rawData"]) == dsc.public_bytes(Encoding.DER)
    assert entry["country"] == "VN" and len(bytes.fromhex(entry["thumbprint"])) == 32
    assert c.gateway_trust.published() == document  # what /v1/trust-list/gateway serves


def test_export_leaves_out_foreign_dscs_and_those_another_csca_issued(vn, de):
    csca, csca_key, _, _ = vn
    c, _, _ = _published(vn)
    c.trust.register_dsc(de[2].public_bytes(Encoding.PEM), key_ref=None, now=NOW)
    stray = _pki("VN")[2]  # a VN DSC of another CSCA
    c.trust.register_dsc(stray.public_bytes(Encoding.PEM), key_ref=None, now=NOW)
    document, left_out = c.gateway_trust.publish([csca], LocalAnchor(csca_key), NOW)
    assert [e["country"] for e in document["payload"]["entries"]] == ["VN", "VN"]
    assert len(left_out) == 1 and "not issued by the CSCA" in left_out[0]


@pytest.mark.parametrize("tamper", ["payload", "entry-raw-data", "entry-added", "signature"])
def test_attack_tampered_trust_list_is_refused(vn, de, tamper):
    csca, _, _, _ = vn
    _, document, _ = _published(vn)
    forged = copy.deepcopy(document)
    entries = forged["payload"]["entries"]
    if tamper == "payload":
        forged["payload"]["country"] = "DE"
    elif tamper == "entry-raw-data":  # swap in another DSC, keeping the entry's signature
        entries[-1]["rawData"] = base64.b64encode(de[2].public_bytes(Encoding.DER)).decode()
    elif tamper == "entry-added":
        entries.append(copy.deepcopy(entries[-1]))
    else:
        forged["signature"]["value"] = document["signature"]["value"][:-8] + "AAAAAAA="
    with pytest.raises(SignedDocumentError):
        open_trust_list(forged, [csca.public_key()])


def test_attack_entry_signed_by_another_key_inside_a_re_signed_list_is_refused(vn, de):
    """Whoever holds another key can re-sign the whole list, but only the pinned anchor counts."""
    csca, _, _, _ = vn
    _, document, _ = _published(vn)
    forger = LocalAnchor(de[1])
    from chalicelib.dcc.signed_document import sign_document

    payload = copy.deepcopy(document["payload"])
    payload["entries"].append(gateway_entry(de[2], "DSC", "2026-01-05T08:00:00+00:00", forger))
    with pytest.raises(SignedDocumentError, match="another key"):
        open_trust_list(sign_document(payload, forger), [csca.public_key()])


def _write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return str(path)


def test_verify_checks_a_signed_trust_list_offline_and_refuses_a_tampered_copy(tmp_path, vn, de):
    csca, _, dsc, dsc_key = vn
    _, document, _ = _published(vn)
    hc1 = issue_hc1(make_payload(), LocalKeySigner(dsc_key, dsc), now=NOW + timedelta(days=1), valid_days=30)
    at = (NOW + timedelta(days=2)).isoformat()
    anchor = _write(tmp_path, "csca.pem", csca.public_bytes(Encoding.PEM))
    good = _write(tmp_path, "list.json", document)

    result = run(["verify", "--trust-list", good, "--trust-anchor", anchor, "--at", at], hc1 + "\n")
    assert result.code == 0 and json.loads(result.out)["valid"], result.err
    # The anchor's bare public key does as well as its certificate.
    spki = csca.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    key = _write(tmp_path, "anchor.pub.pem", spki)
    assert run(["verify", "--trust-list", good, "--trust-anchor", key, "--at", at], hc1 + "\n").code == 0

    forged = copy.deepcopy(document)
    forged["payload"]["entries"].append(gateway_entry(de[2], "DSC", "x", LocalAnchor(de[1])))
    bad = _write(tmp_path, "forged.json", forged)
    result = run(["verify", "--trust-list", bad, "--trust-anchor", anchor, "--at", at], hc1 + "\n")
    assert result.code == 2 and result.out == "" and "--trust-list" in result.err and "Traceback" not in result.err
    # A signed list with nothing to check it against is refused, not trusted blindly.
    result = run(["verify", "--trust-list", good, "--at", at], hc1 + "\n")
    assert result.code == 2 and "--trust-anchor" in result.err


def _foreign_list(*entries_of):
    return {"entries": [gateway_entry(cert, kind, "2026-01-01T00:00:00+00:00", LocalAnchor(key))
                        for cert, kind, key in entries_of]}


def test_attack_foreign_dsc_that_does_not_chain_is_refused_with_its_reason(vn, de):
    csca_de, key_de, dsc_de, _ = de
    rogue_csca, rogue_key, rogue_dsc, _ = _pki("DE")  # same country, never onboarded
    fr = _pki("FR")
    doc = _foreign_list((csca_de, "CSCA", key_de), (dsc_de, "DSC", key_de), (rogue_dsc, "DSC", rogue_key),
                        (fr[2], "DSC", fr[1]), (vn[2], "DSC", vn[1]))
    c = fake_container()
    stored, refused = c.gateway_trust.import_list(doc, [csca_de, vn[0]], NOW + timedelta(days=1))
    assert [d.certificate for d in stored] == [dsc_de]
    reasons = {r.entry: r.reason for r in refused}
    assert reasons == {3: "does not chain to an onboarded CSCA of DE", 4: "no onboarded CSCA of FR",
                       5: "a VN certificate: ours are registered, not imported"}
    # The imported DSC joins the verifier bundle; our own list stays ours.
    assert len(c.trust.trust_list(scope="all")["certificates"]) == 1
    assert c.trust.trust_list()["certificates"] == []


def test_attack_list_csca_entry_is_not_an_anchor_for_import(de):
    """A foreign list cannot bring its own CSCA along to vouch for its DSCs."""
    rogue_csca, rogue_key, rogue_dsc, _ = _pki("DE")
    doc = _foreign_list((rogue_csca, "CSCA", rogue_key), (rogue_dsc, "DSC", rogue_key))
    accepted, refused = check_foreign_entries(doc["entries"], [de[0]], now=NOW + timedelta(days=1), own_country="VN")
    assert accepted == [] and [r.entry for r in refused] == [2]


def test_import_refuses_expired_and_out_of_validity_dscs(de):
    csca_de, key_de, _, _ = de
    short = issue_dsc(generate_key("ES256").public_key(), csca_cert=csca_de, csca_key=key_de, now=NOW, valid_days=1,
                      random_bytes=secrets.token_bytes, country="DE")
    doc = _foreign_list((short, "DSC", key_de))
    _, refused = check_foreign_entries(doc["entries"], [csca_de], now=NOW + timedelta(days=3), own_country="VN")
    assert [r.reason for r in refused] == ["expired"]
    bad = [{"certificateType": "DSC", "rawData": "not base64!"}, {"certificateType": "X"}, "nope"]
    _, refused = check_foreign_entries(bad, [csca_de], now=NOW, own_country="VN")
    assert [r.entry for r in refused] == [1, 2, 3]


def test_trust_import_cli_reports_refused_entries_and_exits_1(tmp_path, de):
    csca_de, key_de, dsc_de, _ = de
    rogue = _pki("DE")
    doc = _foreign_list((dsc_de, "DSC", key_de), (rogue[2], "DSC", rogue[1]))
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    (anchors / "de-csca.pem").write_bytes(csca_de.public_bytes(Encoding.PEM))
    path = _write(tmp_path, "de.json", doc)
    with over(fake_container()):  # the CLI's composition root, over the fakes
        result = run(["trust", "import", path, "--anchors", str(anchors)], "")
    report = json.loads(result.out)
    assert result.code == 1 and len(report["imported"]) == 1
    assert report["refused"] == [{"entry": 2, "kid": doc["entries"][1]["kid"],
                                  "reason": "does not chain to an onboarded CSCA of DE"}]
    assert "entry 2" in result.err


def test_route_serves_the_published_list_and_the_bundle_scope(vn):
    from chalice.test import Client

    from app import app

    c, document, _ = _published(vn)
    with over(c), Client(app) as client:
        assert json.loads(client.http.get("/v1/trust-list/gateway").body) == document
        assert client.http.get("/v1/trust-list?scope=everything").status_code == 400
        assert len(json.loads(client.http.get("/v1/trust-list?scope=all").body)["certificates"]) == 1


def test_route_answers_404_before_any_export():
    from chalice.test import Client

    from app import app

    with over(fake_container()), Client(app) as client:
        assert client.http.get("/v1/trust-list/gateway").status_code == 404


def test_attack_foreign_csca_cannot_slip_a_dsc_into_our_own_list(vn, de):
    """An onboarded foreign CSCA issuing a DSC that names our country: imported, it would show in
    our own trust list (which is our DSCs by country), so it is refused."""
    csca_de, key_de, _, _ = de
    impostor = issue_dsc(generate_key("ES256").public_key(), csca_cert=csca_de, csca_key=key_de, now=NOW,
                         valid_days=30, random_bytes=secrets.token_bytes, country="VN", common_name="VN DSC")
    c = fake_container()
    stored, refused = c.gateway_trust.import_list(_foreign_list((impostor, "DSC", key_de)), [csca_de],
                                                  NOW + timedelta(days=1))
    assert stored == [] and [r.reason for r in refused] == ["a VN certificate: ours are registered, not imported"]
    assert c.trust.trust_list()["certificates"] == [] and c.trust.trust_list(scope="all")["certificates"] == []


def test_attack_foreign_csca_listed_as_a_dsc_is_not_imported_as_a_signer(de):
    """The onboarded CSCA itself, sent as a DSC entry, would chain to itself."""
    csca_de, key_de, dsc_de, _ = de
    doc = _foreign_list((csca_de, "DSC", key_de), (dsc_de, "DSC", key_de))
    accepted, refused = check_foreign_entries(doc["entries"], [csca_de], now=NOW + timedelta(days=1),
                                              own_country="VN")
    assert [cert for cert, _ in accepted] == [dsc_de]
    assert [(r.entry, r.reason) for r in refused] == [
        (1, "a CA certificate (a CSCA or self-issued root), not a document signer")]


def test_attack_imported_foreign_dscs_are_not_published_as_ours_in_the_jwks(vn, de):
    csca_de, key_de, dsc_de, _ = de
    c = fake_container()
    stored, _ = c.gateway_trust.import_list(_foreign_list((dsc_de, "DSC", key_de)), [csca_de], NOW + timedelta(days=1))
    assert len(stored) == 1 and len(c.trust.trust_list(scope="all")["certificates"]) == 1
    assert c.trust.jwks()["keys"] == []
