"""`verify --revocation-list` over a published list as a verifier downloads it: the signed index
with its pages and batches in one folder, or a folder of batches alone; each batch checked
against the trust anchor's public key (`--revocation-anchor`), a tampered one refused by name."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chalicelib.trust.revocations import ROOT_KEY
from tests.unit.cli.conftest import run
from tests.unit.dcc.conftest import make_payload

from .test_revocation_batches import NOW, _world

REVOKED_UVCI = "URN:UVCI:01:VN:REVOKED1#A"


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """Two certificates signed by a `keys init` DSC: the first one revoked, the second not."""
    keys = tmp_path_factory.mktemp("keys")
    assert run(["keys", "init", "--out", keys]).code == 0
    payloads = [make_payload(uvci=REVOKED_UVCI), make_payload(uvci="URN:UVCI:01:VN:VALID12#A")]
    done = run(["issue", "--key", keys / "dsc.key.pem", "--cert", keys / "dsc.pem", "--valid-days", "3650"],
               "".join(json.dumps(p) + "\n" for p in payloads))
    assert done.code == 0, done.err
    return keys, done.out


def _download(tmp_path, *, with_index: bool = True):
    """The list as published (the fake bucket's objects), saved under the names `revocation
    download` gives them, and the anchor's public key."""
    from chalicelib.dcc.revocation import revocation_entries

    c, clock = _world()
    entries = revocation_entries(uci=REVOKED_UVCI, country="VN", signature=b"", alg="PS256", kid="a2lkMDAwMDA=")
    c.passports._list(entries, "forged", (NOW - timedelta(hours=1)).isoformat(timespec="seconds"))
    c.revocation_publisher.publish()
    folder = tmp_path / "revocation"
    folder.mkdir()
    for key, body in c.published_objects.objects.items():
        name = key.rsplit("/", 1)[1]
        if key == ROOT_KEY:
            if not with_index:
                continue
        elif key.startswith("revocation/pages/"):
            if not with_index:
                continue
            name = f"page-{name}"
        (folder / name).write_bytes(body)
    anchor = tmp_path / "anchor.pem"
    anchor.write_bytes(c.trust_anchor.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return folder, anchor


def _verify(issued, *extra):
    keys, hc1s = issued
    done = run(["verify", "--trust-cert", keys / "dsc.pem", *extra], hc1s)
    return done, [json.loads(line) for line in done.out.splitlines()]


@pytest.mark.parametrize("given", ["index file", "folder with index", "folder of batches"])
def test_verify_reports_the_revoked_certificate_from_the_signed_list(tmp_path, issued, given):
    folder, anchor = _download(tmp_path, with_index=given != "folder of batches")
    path = folder / "index.json" if given == "index file" else folder
    done, (revoked, valid) = _verify(issued, "--revocation-list", path, "--revocation-anchor", anchor)
    assert done.code == 1 and revoked["errors"] == ["REVOKED"] and valid["valid"], done.err
    # Without the index nothing says which batches exist: the user is told a removed one would go unseen.
    assert ("not that none is missing" in done.err) == (given == "folder of batches")


def test_attack_a_tampered_batch_is_refused_with_a_clear_message(tmp_path, issued):
    folder, anchor = _download(tmp_path, with_index=False)
    for batch in folder.glob("*.json"):
        doc = json.loads(batch.read_bytes())
        doc["payload"]["entries"] = []  # the revoked certificate taken off the list
        batch.write_text(json.dumps(doc))
    done, lines = _verify(issued, "--revocation-list", folder, "--revocation-anchor", anchor)
    assert done.code == 2 and lines == [] and "Traceback" not in done.err
    assert "--revocation-list" in done.err and "signature does not match" in done.err and "batch" in done.err


def test_attack_a_batch_changed_under_a_signed_index_is_refused(tmp_path, issued):
    folder, anchor = _download(tmp_path)
    batch = next(f for f in folder.glob("*.json") if f.name != "index.json" and not f.name.startswith("page-"))
    batch.unlink()
    done, _ = _verify(issued, "--revocation-list", folder, "--revocation-anchor", anchor)
    assert done.code == 2 and "missing" in done.err


def test_attack_a_list_checked_against_another_anchor_is_refused(tmp_path, issued):
    folder, _ = _download(tmp_path)
    (tmp_path / "other").mkdir()
    _, other = _download(tmp_path / "other")
    done, _ = _verify(issued, "--revocation-list", folder, "--revocation-anchor", other)
    assert done.code == 2 and "another key" in done.err


def test_a_revocation_list_needs_the_anchor_and_an_unsigned_list_is_refused(tmp_path, issued):
    folder, anchor = _download(tmp_path)
    done, _ = _verify(issued, "--revocation-list", folder)
    assert done.code == 2 and "--revocation-anchor" in done.err
    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(json.dumps({"version": 1, "entries": []}))
    done, _ = _verify(issued, "--revocation-list", unsigned, "--revocation-anchor", anchor)
    assert done.code == 2 and "not a signed document" in done.err
    done, _ = _verify(issued, "--revocation-list", folder, "--revocation-anchor", unsigned)
    assert done.code == 2 and "not a PEM public key" in done.err


def test_publish_with_the_trust_list_anchor_key_file_and_verify_against_its_certificate(tmp_path, issued):
    """`revocation publish --anchor-key` signs with the key file `trust export` signs the gateway
    trust list with (here a `keys init` CSCA key), so verifiers hold one anchor for both."""
    from chalicelib.dcc.revocation import revocation_entries
    from chalicelib.wiring import set_container

    keys, _ = issued
    c, clock = _world()
    entries = revocation_entries(uci=REVOKED_UVCI, country="VN", signature=b"", alg="PS256", kid="a2lkMDAwMDA=")
    c.passports._list(entries, "forged", (NOW - timedelta(hours=1)).isoformat(timespec="seconds"))
    set_container(c)
    try:
        assert run(["revocation", "publish", "--anchor-key", keys / "dsc.pem"]).code == 2  # not a key
        done = run(["revocation", "publish", "--anchor-key", keys / "csca.key.pem"])
        assert done.code == 0 and json.loads(done.out)["hashes"] == 1, done.err
        assert run(["revocation", "download", "--out", tmp_path / "list"]).code == 0
    finally:
        set_container(None)
    result, (revoked, valid) = _verify(issued, "--revocation-list", tmp_path / "list",
                                       "--revocation-anchor", keys / "csca.pem")
    assert result.code == 1 and revoked["errors"] == ["REVOKED"] and valid["valid"], result.err
