"""The audit log anchored where a DynamoDB writer cannot rewrite it.

The attestation log (and the ministry's revocations, which go through the same `AuditLog` port)
is a hash chain in DynamoDB. Anyone able to write that table could rewrite a suffix of it and
recompute the hashes; the chain alone would not show it. `AnchoredAuditLog` wraps the port: after
every append it has the anchor write a checkpoint `(sequence, head hash, time)` signed with a
dedicated KMS key into a write-once (Object Lock) S3 bucket. `AuditService.verify` walks the whole
chain and checks it against those checkpoints (`verify_anchored` in audit.py), verifying each
signature locally with the key's public key, never by asking KMS whether it is valid.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Callable, Iterable, Protocol

from chalicelib.signing.audit import (Checkpoint, ChainCheck, CheckpointSource, LoggedEntry, SignedCheckpoint,
                                     verify_anchored)
from chalicelib.signing.service import AuditLog


class AuditAnchor(CheckpointSource, Protocol):
    def write(self, checkpoint: Checkpoint) -> None:
        """Signs and stores the checkpoint; storing one that exists already is a no-op."""

    def public_key(self):
        """The anchor key's public key (a `cryptography` object)."""


class CheckpointReader(Protocol):
    def checkpoint(self, sequence: int) -> SignedCheckpoint | None:
        """The stored checkpoint of `sequence`, or None if there is none."""

    def public_key(self):
        """The anchor key's public key (a `cryptography` object)."""


class AnchorWitness:
    """Does the anchor vouch for one logged entry? Asked by a worker about to act on an entry it
    read from DynamoDB (the countersign worker, before issuing on an attestation): anyone able to
    write the table can put an entry there with a hash that links, but only the app, after it
    verified the facility's signature, has the anchor key sign a checkpoint naming that hash."""

    def __init__(self, checkpoints: CheckpointReader) -> None:
        self._checkpoints = checkpoints

    def vouches(self, sequence: int, entry_hash: str) -> bool:
        signed = self._checkpoints.checkpoint(sequence)
        return (signed is not None and signed.checkpoint.sequence == sequence
                and signed.checkpoint.head_hash == entry_hash and signed.verifies(self._checkpoints.public_key()))


class AnchoredAuditLog:
    """The AuditLog port with a checkpoint after every append. The entry is in the chain before
    its checkpoint is written; if that write fails the caller sees the error, and the next
    append's checkpoint anchors the entry too (a checkpoint vouches for every entry before it)."""

    def __init__(self, log: AuditLog, anchor: AuditAnchor, clock: Callable[[], datetime]) -> None:
        self._log = log
        self._anchor = anchor
        self._now = clock

    def append(self, entry: dict, *, unique_key: str) -> tuple[int, str]:
        sequence, entry_hash = self._log.append(entry, unique_key=unique_key)
        self._anchor.write(Checkpoint(sequence, entry_hash, self._now().isoformat(timespec="seconds")))
        return sequence, entry_hash

    def find(self, unique_key: str) -> LoggedEntry | None:
        return self._log.find(unique_key)

    def entries(self) -> Iterable[LoggedEntry]:
        return self._log.entries()


class LoggedRevocations(Protocol):
    def not_in_effect(self, entry: dict, sequence: int, *, lifted: bool = False) -> str | None:
        """Why a logged revocation is not in effect in the passport store (None if it is); a
        `lifted` one (the log holds its lift) no longer holds its person."""


class AuditService:
    def __init__(self, log: AuditLog, anchor: AuditAnchor, revocations: LoggedRevocations | None = None) -> None:
        self._log = log
        self._anchor = anchor
        self._revocations = revocations

    def verify(self, public_key=None) -> ChainCheck:
        """The whole chain against its checkpoints, then every logged revocation against the
        passport store: the anchor proves the log, but a DynamoDB writer could still put a revoked
        passport back in force (its version ACTIVE, its hashes off the revocation list, its hold
        deleted without a logged lift). A lifted revocation stays on the list; only its hold is gone.
        `public_key` pins the anchor key's public key (a copy kept outside the account); by
        default it is read from KMS."""
        revocations: list[LoggedEntry] = []
        lifted: set[str] = set()

        def watched():
            for e in self._log.entries():
                if e.entry.get("type") == "revocation":
                    revocations.append(e)
                elif e.entry.get("type") == "lift" and isinstance(uvci := e.entry.get("uvci"), str):
                    lifted.add(uvci)
                yield e
        check = verify_anchored(watched(), self._anchor,
                                public_key if public_key is not None else self._anchor.public_key())
        if not check.ok or self._revocations is None:
            return check
        for e in revocations:
            why = self._revocations.not_in_effect(e.entry, e.sequence, lifted=e.entry.get("uvci") in lifted)
            if why is not None:
                return dataclasses.replace(check, ok=False, first_bad_sequence=e.sequence,
                                           reason=f"the revocation of {e.entry.get('uvci')} is not in effect: {why}")
        return check
