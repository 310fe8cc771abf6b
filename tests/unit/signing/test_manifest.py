"""Merkle tree, inclusion proofs, manifest canonical form and staleness."""
from __future__ import annotations

import hashlib

import pytest

from chalicelib.errors import ValidationError

from chalicelib.signing.manifest import (ALGORITHM, DoseRecord, ManifestInvalid, MerkleTree, build_entries,
                                         build_manifest, canonical_json, check_manifest, entries_still_current,
                                         entry_digest, leaf_hash, manifest_message, merkle_root, node_hash,
                                         signing_message, verify_inclusion)


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def reference_root(leaves):
    """RFC 6962 2.1 as written (recursive split at the largest power of two below n)."""
    n = len(leaves)
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def reference_path(m, leaves):
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return reference_path(m, leaves[:k]) + [reference_root(leaves[k:])]
    return reference_path(m - k, leaves[k:]) + [reference_root(leaves[:k])]


def test_small_trees_match_hand_derived_hashes():
    a, b, c = (H(b"\x00" + x) for x in (b"a", b"b", b"c"))
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == H(b"\x01" + a + b)
    # Three leaves: split at 2 -> ((a b) c); c is lifted, not paired with itself.
    assert merkle_root([a, b, c]) == H(b"\x01" + H(b"\x01" + a + b) + c)
    assert merkle_root([]) == H(b"")
    assert leaf_hash(b"a") == a and node_hash(a, b) == H(b"\x01" + a + b)


# Certificate Transparency's reference tree (leaves are the hex strings below).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]


def test_roots_match_the_rfc6962_reference_tree():
    leaves = [leaf_hash(bytes.fromhex(x)) for x in CT_LEAVES]
    for n in range(1, 9):
        assert merkle_root(leaves[:n]).hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize("size", list(range(1, 18)) + [31, 32, 33, 100])
def test_every_index_proves_inclusion_and_matches_the_rfc_path(size):
    leaves = [leaf_hash(str(i).encode()) for i in range(size)]
    tree = MerkleTree(leaves)
    assert tree.root == reference_root(leaves)
    for i in range(size):
        proof = tree.proof(i)
        assert proof == reference_path(i, leaves)
        assert verify_inclusion(leaves[i], i, proof, tree.root, size)


@pytest.mark.parametrize("size", [2, 5, 8, 13])
def test_tampered_proofs_fail(size):
    leaves = [leaf_hash(str(i).encode()) for i in range(size)]
    tree = MerkleTree(leaves)
    for i in range(size):
        proof = tree.proof(i)
        bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:]] + proof[1:]
        assert not verify_inclusion(leaves[i], i, bad, tree.root, size)
        assert not verify_inclusion(leaves[i], (i + 1) % size, proof, tree.root, size)
        assert not verify_inclusion(leaf_hash(b"other"), i, proof, tree.root, size)
        assert not verify_inclusion(leaves[i], i, proof[:-1], tree.root, size)
        assert not verify_inclusion(leaves[i], i, proof + [proof[-1]], tree.root, size)
    # A left-side leaf's path can be the same in a bigger tree, so the size alone does not bind
    # it; that is why the signed message includes the count. The last leaf's path does depend on it.
    last = size - 1
    assert not verify_inclusion(leaves[last], last, tree.proof(last), tree.root, size + 1)
    assert not verify_inclusion(leaves[0], size, [], tree.root, size)


def dose(record_id="R1", version=1, digest="d1", dose_number=1, date="2021-08-01", facility="F1"):
    return DoseRecord(facility, record_id, version, digest, dose_number, date, "EU/1/20/1528")


def test_entries_are_canonical_whatever_the_input_order():
    a = build_entries({"079200000002": [dose("R2", dose_number=2, date="2021-09-01"), dose("R1")],
                       "001200000001": [dose("R3")]})
    b = build_entries({"001200000001": [dose("R3")],
                       "079200000002": [dose("R1"), dose("R2", dose_number=2, date="2021-09-01")]})
    assert a == b
    assert [e["citizen_id"] for e in a] == ["001200000001", "079200000002"]
    assert [d["record_id"] for d in a[1]["doses"]] == ["R1", "R2"]
    body = {"citizen_id": "001200000001", "doses": [dose("R3").to_dict()]}
    assert a[0]["entry_digest"] == H(b"\x00" + canonical_json(body)).hex()
    # canonical JSON: sorted keys, no spaces, UTF-8, integers stay integers
    assert canonical_json({"b": 1, "a": "Đào"}) == '{"a":"Đào","b":1}'.encode("utf-8")


def manifest(n=3):
    entries = build_entries({f"0012000000{i:02d}": [dose(f"R{i}")] for i in range(n)})
    return build_manifest(batch_id="B1", facility_id="F1", created_at="2024-03-01T08:00:00+00:00",
                          expires_at="2024-03-04T08:00:00+00:00", entries=entries)


def test_manifest_root_and_signing_message_are_fixed_bytes():
    m = manifest()
    assert m["algorithm"] == ALGORITHM and m["count"] == 3
    root = check_manifest(m)
    assert root.hex() == m["merkle_root"]
    assert manifest_message(m) == (b"vaxpass-signing-batch-v1\x00B1\x00F1\x00" + (3).to_bytes(8, "big") + root)
    with pytest.raises(ValidationError):
        signing_message("B\x001", "F1", 3, root)


@pytest.mark.parametrize("tamper", [
    lambda m: m["entries"][1]["doses"][0].update(version=2),          # entry body changed
    lambda m: m["entries"].pop(),                                      # entry dropped
    lambda m: m.update(count=2),                                       # count changed
    lambda m: m.update(merkle_root="00" * 32),                         # root replaced
    lambda m: m["entries"].reverse(),                                  # reordered
])
def test_changed_manifests_are_refused(tamper):
    m = manifest()
    tamper(m)
    with pytest.raises(ManifestInvalid):
        check_manifest(m)


def test_entries_with_changed_records_are_not_current():
    m = manifest()
    current = {(d["facility_id"], d["record_id"]): (d["version"], d["digest"])
               for e in m["entries"] for d in e["doses"]}
    assert entries_still_current(m["entries"], current) == m["entries"]
    current[("F1", "R1")] = (2, "new")  # a correction after the manifest
    del current[("F1", "R2")]  # deleted
    kept = entries_still_current(m["entries"], current)
    assert [e["citizen_id"] for e in kept] == ["001200000000"]
    assert entry_digest(kept[0]) == kept[0]["entry_digest"]
