"""The attestation log's hash chain: each entry commits to everything logged before it.

`entry_hash(n) = SHA-256(entry_hash(n-1) || canonical_json(entry n))`, with 32 zero bytes before
the first entry. Rewriting, dropping or reordering any logged attestation changes every later
hash, so an auditor holding only the latest head hash (published or copied elsewhere) detects it.
Sequences start at 1 and have no gaps; the store enforces that with conditional writes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping

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

    def to_dict(self) -> dict:
        return {"ok": self.ok, "length": self.length, "head_hash": self.head_hash,
                "first_bad_sequence": self.first_bad_sequence, "reason": self.reason}


def verify_chain(entries: Iterable[LoggedEntry]) -> ChainCheck:
    """Recomputes the chain over entries given in sequence order; stops at the first break."""
    prev, expected_seq = GENESIS, 1
    for e in entries:
        if e.sequence != expected_seq:
            return ChainCheck(False, expected_seq - 1, prev.hex(), expected_seq, "sequence gap or reorder")
        if e.prev_hash != prev.hex():
            return ChainCheck(False, expected_seq - 1, prev.hex(), e.sequence, "prev_hash does not link")
        h = chain_hash(prev, e.entry)
        if h.hex() != e.entry_hash:
            return ChainCheck(False, expected_seq - 1, prev.hex(), e.sequence, "entry does not hash to entry_hash")
        prev, expected_seq = h, expected_seq + 1
    return ChainCheck(True, expected_seq - 1, prev.hex())
