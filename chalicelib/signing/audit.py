"""The attestation log's hash chain: each entry commits to everything logged before it.

`entry_hash(n) = SHA-256(entry_hash(n-1) || canonical_json(entry n))`, with 32 zero bytes before
the first entry. Rewriting, dropping or reordering any logged attestation changes every later
hash, so an auditor holding only the latest head hash (published or copied elsewhere) detects it.
Sequences start at 1 and have no gaps; the store enforces that with conditional writes.

A DynamoDB writer could still rewrite a suffix of the chain and recompute every later hash. So the
head is anchored outside DynamoDB: after every append a checkpoint `(sequence, head hash, time)`
signed with a KMS key is stored in a write-once S3 bucket (chalicelib/signing/anchor.py), and
`verify_anchored` checks the chain against those checkpoints, naming the first entry that differs
from what was anchored (or is missing, or was appended without a checkpoint).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.signing.manifest import canonical_json

GENESIS = bytes(32)


def chain_hash(prev_hash: bytes, entry: Mapping) -> bytes:
    return hashlib.sha256(prev_hash + canonical_json(entry)).digest()


@dataclass(frozen=True)
class LoggedEntry:
    sequence: int
    prev_hash: str  # hex
    entry: dict
    entry_hash: str  # hex


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    length: int
    head_hash: str  # hex of the last good entry (GENESIS when empty)
    first_bad_sequence: int | None = None
    reason: str | None = None
    anchor: "Checkpoint | None" = None  # the latest checkpoint, when checked against the anchor

    def to_dict(self) -> dict:
        out = {"ok": self.ok, "length": self.length, "head_hash": self.head_hash,
               "first_bad_sequence": self.first_bad_sequence, "reason": self.reason}
        if self.anchor is not None:
            out["anchor"] = {"sequence": self.anchor.sequence, "head_hash": self.anchor.head_hash,
                             "time": self.anchor.time}
        return out


def _walk(entries: Iterable[LoggedEntry]) -> tuple[list[str], ChainCheck]:
    """The recomputed hash of every entry up to the first break, and the chain check."""
    hashes: list[str] = []
    prev, expected_seq = GENESIS, 1
    for e in entries:
        if e.sequence != expected_seq:
            return hashes, ChainCheck(False, expected_seq - 1, prev.hex(), expected_seq, "sequence gap or reorder")
        if e.prev_hash != prev.hex():
            return hashes, ChainCheck(False, expected_seq - 1, prev.hex(), e.sequence, "prev_hash does not link")
        h = chain_hash(prev, e.entry)
        if h.hex() != e.entry_hash:
            return hashes, ChainCheck(False, expected_seq - 1, prev.hex(), e.sequence,
                                      "entry does not hash to entry_hash")
        hashes.append(h.hex())
        prev, expected_seq = h, expected_seq + 1
    return hashes, ChainCheck(True, expected_seq - 1, prev.hex())


def verify_chain(entries: Iterable[LoggedEntry]) -> ChainCheck:
    """Recomputes the chain over entries given in sequence order; stops at the first break."""
    return _walk(entries)[1]


def entry_links(logged: LoggedEntry) -> bool:
    """The entry hashes, with its stored predecessor hash, to its stored entry hash (one link)."""
    try:
        return chain_hash(bytes.fromhex(logged.prev_hash), logged.entry).hex() == logged.entry_hash
    except (TypeError, ValueError):
        return False


# -- the anchor ---------------------------------------------------------------------------------
CHECKPOINT_TYPE = "vaxpass-audit-checkpoint-v1"


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head after the entry `sequence` was appended."""

    sequence: int
    head_hash: str  # hex: the entry hash of entry `sequence`
    time: str  # ISO 8601 UTC

    def message(self) -> bytes:
        """What the anchor key signs (ECDSA P-256 with SHA-256 over these bytes)."""
        return canonical_json({"type": CHECKPOINT_TYPE, "sequence": self.sequence, "head_hash": self.head_hash,
                               "time": self.time})


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signature: bytes  # DER ECDSA signature, as KMS returns it
    key_id: str

    def verifies(self, public_key) -> bool:
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            return False
        try:
            public_key.verify(self.signature, self.checkpoint.message(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


class CheckpointSource(Protocol):
    def sequences(self) -> Sequence[int]:
        """Sequences that have a checkpoint, ascending (including ones hidden by a delete marker)."""

    def load(self, sequence: int) -> SignedCheckpoint | None:
        """The first checkpoint written for `sequence` (later versions are ignored), or None if
        it cannot be read."""


class _BadAnchor(Exception):
    def __init__(self, sequence: int, reason: str) -> None:
        super().__init__(reason)
        self.sequence, self.reason = sequence, reason


def verify_anchored(entries: Iterable[LoggedEntry], anchors: CheckpointSource, public_key) -> ChainCheck:
    """The chain walk of `verify_chain`, then the chain against its KMS-signed checkpoints.

    A checkpoint at sequence s pins the hash of entry s, and with it every entry before s. So:
    - the latest checkpoint matching the recomputed hash of its entry proves the whole prefix;
    - a rewritten suffix with recomputed hashes makes every checkpoint from the first rewritten
      entry on mismatch: a binary search over the checkpoints names that entry;
    - a latest checkpoint beyond the chain's end means entries were deleted at the tail;
    - entries after the latest checkpoint were appended without one (outside the audit log port,
      or a checkpoint write failed): they are reported too, since nothing vouches for them.
    The first bad sequence of all findings is reported. A checkpoint whose signature does not
    verify against `public_key` is itself a finding (a forged or corrupted anchor).
    """
    hashes, walk = _walk(entries)
    seqs = sorted(anchors.sequences())
    if not seqs:
        if walk.ok and walk.length == 0:
            return walk
        return ChainCheck(False, walk.length, walk.head_hash, 1, "no KMS-signed checkpoint anchors the chain")
    loaded: dict[int, Checkpoint] = {}

    def checkpoint(seq: int) -> Checkpoint:
        if seq not in loaded:
            signed = anchors.load(seq)
            if signed is None:
                raise _BadAnchor(seq, f"checkpoint {seq} cannot be read")
            if signed.checkpoint.sequence != seq or not signed.verifies(public_key):
                raise _BadAnchor(seq, f"checkpoint {seq} does not verify with the anchor key (forged or corrupted)")
            loaded[seq] = signed.checkpoint
        return loaded[seq]

    def matches(seq: int) -> bool:
        return checkpoint(seq).head_hash == hashes[seq - 1]

    findings: list[tuple[int, str]] = []
    if not walk.ok:
        findings.append((walk.first_bad_sequence or 1, walk.reason or "chain broken"))
    try:
        latest = checkpoint(seqs[-1])
        comparable = [s for s in seqs if s <= len(hashes)]
        if comparable and not matches(comparable[-1]):
            lo, hi = 0, len(comparable) - 1  # invariant: comparable[hi] mismatches
            while lo < hi:
                mid = (lo + hi) // 2
                if matches(comparable[mid]):
                    lo = mid + 1
                else:
                    hi = mid
            bad = comparable[hi]
            first = comparable[hi - 1] + 1 if hi > 0 else 1
            span = f"entry {bad}" if first == bad else f"an entry in {first}..{bad}"
            findings.append((first, f"{span} differs from the chain anchored by checkpoint {bad} "
                                    "(rewritten, with the hashes after it recomputed)"))
        if walk.ok and latest.sequence > walk.length:
            findings.append((walk.length + 1, f"entries {walk.length + 1}..{latest.sequence} are missing: "
                                              f"checkpoint {latest.sequence} anchors them"))
        if walk.ok and latest.sequence < walk.length:
            findings.append((latest.sequence + 1, f"entries {latest.sequence + 1}..{walk.length} are not "
                                                  "anchored by a KMS-signed checkpoint"))
    except _BadAnchor as e:
        findings.append((e.sequence, e.reason))
        latest = None
    if findings:
        seq, reason = min(findings)
        return ChainCheck(False, walk.length, walk.head_hash, seq, reason, anchor=latest)
    return ChainCheck(True, walk.length, walk.head_hash, anchor=latest)
