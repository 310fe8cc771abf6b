"""The audit chain against its checkpoints (pure: in-memory checkpoints, a local P-256 key), and
the anchored port writing one checkpoint per append."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.signing.anchor import AnchoredAuditLog
from chalicelib.signing.audit import chain_hash, verify_anchored
from chalicelib.signing.service import DuplicateAuditKey
from tests.fakes import FakeAuditAnchor, FakeAuditLog, FakeLoggedRevocations, fake_container
from tests.fakes.signing import ANCHOR_KEY as KEY

T = datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)


def anchored_log(n: int, anchor: FakeAuditAnchor | None = None) -> tuple[FakeAuditLog, FakeAuditAnchor]:
    log, anchor = FakeAuditLog(), anchor or FakeAuditAnchor()
    port = AnchoredAuditLog(log, anchor, lambda: T)
    for i in range(1, n + 1):
        port.append({"type": "t", "i": i}, unique_key=f"k{i}")
    return log, anchor


def rewrite_from(log: FakeAuditLog, first: int) -> list:
    """Entries `first`.. edited, with every hash from there recomputed (a consistent chain)."""
    out, prev = list(log.log[:first - 1]), bytes.fromhex(log.log[first - 2].entry_hash) if first > 1 else bytes(32)
    for e in log.log[first - 1:]:
        entry = {**e.entry, "forged": True}
        h = chain_hash(prev, entry)
        out.append(dataclasses.replace(e, entry=entry, prev_hash=prev.hex(), entry_hash=h.hex()))
        prev = h
    return out


def test_every_append_is_anchored_and_the_chain_verifies():
    log, anchor = anchored_log(4)
    assert anchor.sequences() == [1, 2, 3, 4]
    check = verify_anchored(log.entries(), anchor, KEY.public_key())
    assert check.ok and check.length == 4 and check.anchor.head_hash == log.log[-1].entry_hash


def test_a_refused_append_writes_no_checkpoint():
    log, anchor = anchored_log(2)
    with pytest.raises(DuplicateAuditKey):
        AnchoredAuditLog(log, anchor, lambda: T).append({"x": 1}, unique_key="k1")
    assert anchor.sequences() == [1, 2]


@pytest.mark.parametrize("first", [1, 4, 7, 10])
def test_a_rewritten_suffix_is_named_by_binary_search(first):
    log, anchor = anchored_log(10)
    check = verify_anchored(rewrite_from(log, first), anchor, KEY.public_key())
    assert (check.ok, check.first_bad_sequence) == (False, first), check.reason


def test_with_sparse_checkpoints_the_range_is_named():
    log, anchor = anchored_log(10)
    for seq in (4, 5, 6, 7):
        del anchor.checkpoints[seq]
    check = verify_anchored(rewrite_from(log, 5), anchor, KEY.public_key())
    assert check.first_bad_sequence == 4 and "4..8" in check.reason


def test_missing_tail_unanchored_tail_and_no_anchor_at_all():
    log, anchor = anchored_log(5)
    assert verify_anchored(log.entries()[:3], anchor, KEY.public_key()).first_bad_sequence == 4
    log.append({"type": "around the port"}, unique_key="x")
    assert "not anchored" in verify_anchored(log.entries(), anchor, KEY.public_key()).reason
    assert verify_anchored(log.entries(), FakeAuditAnchor(), KEY.public_key()).first_bad_sequence == 1
    assert verify_anchored([], FakeAuditAnchor(), KEY.public_key()).ok


def test_a_checkpoint_of_another_key_or_sequence_is_refused():
    log, anchor = anchored_log(3)
    other = ec.generate_private_key(ec.SECP256R1())
    assert verify_anchored(log.entries(), anchor, other.public_key()).reason.startswith("checkpoint 3 does not verify")
    anchor.checkpoints[3] = dataclasses.replace(anchor.checkpoints[2])  # checkpoint 2 stored under key 3
    assert verify_anchored(log.entries(), anchor, KEY.public_key()).first_bad_sequence == 3


# -- `audit verify`: the chain, then every logged revocation in effect ----------------------------------
def audit_service(revocations=None):
    """The real AuditService from the composition root, over the fakes, with three revocations
    logged (the second one lifted) among attestations."""
    c = fake_container(clock=lambda: T, **({"revocations": revocations} if revocations is not None else {}))
    for entry, key in [({"type": "batch-attestation"}, "batch:SB1"),
                       ({"type": "revocation", "uvci": "U1"}, "revoke:U1"),
                       ({"type": "revocation", "uvci": "U2"}, "revoke:U2"),
                       ({"type": "lift", "uvci": "U2"}, "lift:U2"),
                       ({"type": "revocation", "uvci": "U3"}, "revoke:U3")]:
        c.audit_log.append(entry, unique_key=key)
    return c


def test_audit_verify_asks_about_each_logged_revocation_with_its_lift():
    revocations = FakeLoggedRevocations()
    c = audit_service(revocations)
    check = c.audit.verify()
    assert check.ok and check.length == 5
    assert revocations.asked == [("U1", 2, False), ("U2", 3, True), ("U3", 5, False)]


def test_audit_verify_names_the_first_revocation_not_in_effect():
    c = audit_service(FakeLoggedRevocations({"U3": "the passport version is ACTIVE", "U1": "its hold is gone"}))
    check = c.audit.verify()
    assert (check.ok, check.first_bad_sequence) == (False, 2)
    assert check.reason == "the revocation of U1 is not in effect: its hold is gone"


def test_audit_verify_of_a_broken_chain_reports_the_chain_first():
    revocations = FakeLoggedRevocations()
    c = audit_service(revocations)
    log = c.audit_chain.log
    log[1] = dataclasses.replace(log[1], entry={**log[1].entry, "uvci": "U9"})
    check = c.audit.verify(public_key=KEY.public_key())
    assert (check.ok, check.first_bad_sequence) == (False, 2) and revocations.asked == []
