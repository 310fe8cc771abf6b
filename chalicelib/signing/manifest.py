"""Signing-batch manifests: the canonical list of people a facility signs, and one Merkle root over it.

A facility head signs thousands of verified people with one signature. The manifest lists one
entry per person (their doses at this facility, each pinned to a record version and digest); each
entry is a leaf of a Merkle tree, and the facility signs the root. Later, any single entry can
prove it was covered by that signature with a short inclusion proof, so the countersign worker
(and an auditor) never needs the whole manifest to check one person.

Canonical forms (the CLI and the server must agree byte for byte):

- canonical JSON: `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
  encoded as UTF-8. Integers stay integers (version, dose_number); everything else is a string.
- entry body: `{"citizen_id": str, "doses": [dose, ...]}` with each dose
  `{"facility_id", "record_id", "version" (int), "digest", "dose_number" (int), "vaccination_date",
  "vaccine_product"}`; doses sorted by (vaccination_date, dose_number, facility_id, record_id);
  entries sorted by citizen_id.
- leaf hash: `SHA-256(0x00 || canonical(entry body))`; `entry_digest` is its hex form.
- node hash: `SHA-256(0x01 || left || right)`; the tree shape is RFC 6962 section 2.1 (split at
  the largest power of two below n), so inclusion proofs follow RFC 6962 / RFC 9162 2.1.3.
- signed message (see `signing_message`):
  `b"vaxpass-signing-batch-v1\\x00" || utf8(batch_id) || 0x00 || utf8(facility_id) || 0x00
  || count as 8-byte big-endian || merkle root (32 raw bytes)`.
  The count is signed too, so the size used to check inclusion proofs is the signed one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from chalicelib.errors import ValidationError

ALGORITHM = "sha256-merkle-rfc6962"
MESSAGE_CONTEXT = b"vaxpass-signing-batch-v1\x00"
DOSE_FIELDS = ("facility_id", "record_id", "version", "digest", "dose_number", "vaccination_date",
               "vaccine_product")


class ManifestInvalid(ValidationError):
    """A manifest (or one of its entries) does not hash to what it claims."""

    code = "MANIFEST_INVALID"


# -- canonical JSON and hashes ------------------------------------------------------------------
def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


# -- Merkle tree (RFC 6962 shape) ---------------------------------------------------------------
def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """All levels bottom-up. Pairing neighbours and lifting a lone last node unchanged builds the
    same tree as RFC 6962's recursive split, in O(n) instead of O(n log n) per proof."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [node_hash(cur[i], cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


class MerkleTree:
    """Built once from leaf hashes; gives the root and every inclusion proof."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.size = len(leaf_hashes)
        self._levels = _levels(leaf_hashes) if leaf_hashes else [[]]

    @property
    def root(self) -> bytes:
        # RFC 6962: the hash of an empty tree is the hash of the empty string.
        return self._levels[-1][0] if self.size else hashlib.sha256(b"").digest()

    def proof(self, index: int) -> list[bytes]:
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} outside a tree of {self.size}")
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    return MerkleTree(leaf_hashes).root


def verify_inclusion(leaf: bytes, index: int, proof: Sequence[bytes], root: bytes, size: int) -> bool:
    """RFC 9162 section 2.1.3.2: does `leaf` (a leaf hash) sit at `index` of the tree with `root`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# -- entries ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DoseRecord:
    """A verified record as the manifest needs it (see records table: data, version, digest)."""

    facility_id: str
    record_id: str
    version: int
    digest: str
    dose_number: int
    vaccination_date: str
    vaccine_product: str

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in DOSE_FIELDS}


def _dose_order(d: Mapping) -> tuple:
    return (d["vaccination_date"], d["dose_number"], d["facility_id"], d["record_id"])


def entry_body(citizen_id: str, doses: Iterable[DoseRecord]) -> dict:
    return {"citizen_id": citizen_id, "doses": sorted((d.to_dict() for d in doses), key=_dose_order)}


def entry_digest(entry: Mapping) -> str:
    """The hex leaf hash of an entry (its `entry_digest` field, if present, is not hashed)."""
    body = {"citizen_id": entry["citizen_id"], "doses": list(entry["doses"])}
    return leaf_hash(canonical_json(body)).hex()


def build_entries(doses_by_person: Mapping[str, Iterable[DoseRecord]]) -> list[dict]:
    entries = []
    for citizen_id in sorted(doses_by_person):
        body = entry_body(citizen_id, doses_by_person[citizen_id])
        if body["doses"]:
            body["entry_digest"] = entry_digest(body)
            entries.append(body)
    return entries


# -- manifest -----------------------------------------------------------------------------------
def build_manifest(*, batch_id: str, facility_id: str, created_at: str, expires_at: str,
                   entries: Sequence[dict]) -> dict:
    root = merkle_root([bytes.fromhex(e["entry_digest"]) for e in entries])
    return {"batch_id": batch_id, "facility_id": facility_id, "created_at": created_at,
            "expires_at": expires_at, "entries": list(entries), "merkle_root": root.hex(),
            "count": len(entries), "algorithm": ALGORITHM}


def recompute_root(entries: Sequence[Mapping]) -> bytes:
    """Root over the entries as they are now; raises if an entry's digest does not match its body."""
    leaves = []
    for i, e in enumerate(entries):
        try:
            digest = entry_digest(e)
        except (KeyError, TypeError) as exc:
            raise ManifestInvalid("manifest entry is malformed", details={"index": i}) from exc
        if digest != e.get("entry_digest"):
            raise ManifestInvalid("manifest entry does not match its digest", details={"index": i})
        leaves.append(bytes.fromhex(digest))
    return merkle_root(leaves)


def check_manifest(manifest: Mapping) -> bytes:
    """The manifest's root, after checking entries, count and algorithm all agree with it."""
    if manifest.get("algorithm") != ALGORITHM:
        raise ManifestInvalid(f"unsupported manifest algorithm (expected {ALGORITHM})")
    entries = manifest.get("entries")
    if not isinstance(entries, list) or manifest.get("count") != len(entries):
        raise ManifestInvalid("manifest count does not match its entries")
    root = recompute_root(entries)
    if root.hex() != manifest.get("merkle_root"):
        raise ManifestInvalid("manifest entries do not hash to its merkle_root")
    return root


def signing_message(batch_id: str, facility_id: str, count: int, root: bytes) -> bytes:
    """The exact bytes a facility signs for a batch (format in the module docstring)."""
    for name, value in (("batch_id", batch_id), ("facility_id", facility_id)):
        if not value or "\x00" in value:
            raise ValidationError(f"{name} must be non-empty and contain no NUL character")
    if len(root) != 32 or count < 0:
        raise ValidationError("root must be 32 bytes and count non-negative")
    return (MESSAGE_CONTEXT + batch_id.encode("utf-8") + b"\x00" + facility_id.encode("utf-8") + b"\x00"
            + count.to_bytes(8, "big") + root)


def manifest_message(manifest: Mapping) -> bytes:
    """Checks the manifest, then returns the message to sign for it."""
    root = check_manifest(manifest)
    return signing_message(manifest["batch_id"], manifest["facility_id"], manifest["count"], root)


# -- staleness ----------------------------------------------------------------------------------
def entry_is_current(entry: Mapping, current: Mapping[tuple[str, str], tuple[int, str]]) -> bool:
    """True if every dose of the entry is still the stored version with the same digest."""
    for d in entry["doses"]:
        now = current.get((d["facility_id"], d["record_id"]))
        if now is None or int(now[0]) != int(d["version"]) or now[1] != d["digest"]:
            return False
    return True


def entries_still_current(entries: Iterable[Mapping],
                          current_record_versions: Mapping[tuple[str, str], tuple[int, str]]) -> list[Mapping]:
    """The entries whose records have not changed since the manifest was built.

    `current_record_versions` maps (facility_id, record_id) to the stored (version, digest). A person
    with any dose changed or deleted is dropped as a whole: the facility signed that set of doses,
    not a subset, and the changed record will be verified and signed again in a later batch.
    """
    return [e for e in entries if entry_is_current(e, current_record_versions)]
