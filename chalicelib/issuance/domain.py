"""Pure rules of passport issuance: which dose a passport shows, when a person needs a new
passport version, and what a re-evaluation of a person's passport does."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

from chalicelib import errors

# Vaccines whose primary series is one dose (EU DCC value-set codes); all others are two.
SINGLE_DOSE_PRODUCTS = frozenset({"EU/1/20/1525", "Sputnik-Light", "Convidecia"})


@dataclass(frozen=True)
class DoseRecord:
    facility_id: str
    record_id: str
    version: int
    digest: str
    dose_number: int
    vaccination_date: date
    vaccine_product: str
    # Where the record is filed and the batch whose attestation covered it (not part of the
    # content digest: a re-evaluated passport books its counters on the dose it shows, and names
    # the batches its doses were attested in).
    province_code: str | None = None
    signed_batch: str | None = None


@dataclass(frozen=True)
class Identity:
    """The registry identity a passport is issued to (never the facility's typed values)."""

    citizen_id: str
    full_name: str
    date_of_birth: str  # YYYY-MM-DD


def latest_dose(doses: Iterable[DoseRecord]) -> DoseRecord:
    ordered = sorted(doses, key=lambda d: (d.vaccination_date, d.dose_number))
    if not ordered:
        raise errors.ValidationError("no verified dose to issue a passport for")
    return ordered[-1]


def series_doses(product: str, dose_number: int) -> int:
    """`sd` of the DCC: the primary series, or the dose number for boosters (dn = sd, as the
    eHealth Network guidance asks for booster doses)."""
    standard = 1 if product in SINGLE_DOSE_PRODUCTS else 2
    return max(standard, dose_number)


def content_digest(identity: Identity, doses: Sequence[DoseRecord]) -> str:
    """What a passport version rests on: identity plus every attested dose record version (a
    verified dose no facility head signed is not part of it). Equal digest, same passport: a
    redelivered message issues nothing new."""
    doc = {"id": [identity.citizen_id, identity.full_name, identity.date_of_birth],
           "doses": sorted([d.facility_id, d.record_id, d.version, d.digest] for d in doses)}
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def stale_manifest_doses(manifest_doses: Sequence[dict], current: Sequence[DoseRecord]) -> list[str]:
    """Record ids named in the manifest whose stored version or digest changed since (or that
    are no longer verified and attested): the facility signed something else, so they are not
    countersigned from that manifest."""
    by_key = {(d.facility_id, d.record_id): d for d in current}
    stale = []
    for m in manifest_doses:
        cur = by_key.get((m["facility_id"], m["record_id"]))
        if cur is None or cur.version != int(m["version"]) or cur.digest != m["digest"]:
            stale.append(m["record_id"])
    return stale


# Reason of a passport revoked because no dose a facility head attested is left for its person.
NO_ATTESTED_DOSE = "no attested dose remains"
# What a passport store must do for a person, given the current version and the attested doses.
NOTHING_HELD, NOTHING_NO_PASSPORT, NOTHING_UNCHANGED, ISSUE, REVOKE = (
    "held", "no_passport", "unchanged", "issue", "revoke")


@dataclass(frozen=True)
class PassportState:
    """What the rules need of a person's current passport version."""

    content_digest: str
    revoked: bool  # REVOKED by the ministry or for lack of an attested dose (not by a re-issue)
    held: bool  # a ministry revocation holds the person until the ministry lifts it


def next_step(current: PassportState | None, digest: str | None, *, first_issue: bool) -> str:
    """What to do for one person. `digest` is the content digest of their attested doses (None:
    no attested dose left). `first_issue` is True for a countersign of a facility attestation,
    which may issue a person's first passport; a re-evaluation only ever changes an existing one.

    - A held person gets nothing, from any attestation logged before or after the revocation,
      until the ministry lifts the hold (the revoked UVCI stays revoked for good).
    - No passport: a countersign issues the first one; a re-evaluation does nothing.
    - No attested dose left: an active passport is revoked, a revoked one stays as it is.
    - A revoked passport (ministry revocation lifted, or revoked for lack of a dose) is followed
      by a new version with a new UVCI, even if its content would be the same.
    - An active passport with the same content digest: nothing (a redelivery, a forged message)."""
    if current is None:
        if digest is None or not first_issue:
            return NOTHING_NO_PASSPORT
        return ISSUE
    if current.held:
        return NOTHING_HELD
    if digest is None:
        return NOTHING_UNCHANGED if current.revoked else REVOKE
    if not current.revoked and current.content_digest == digest:
        return NOTHING_UNCHANGED
    return ISSUE


def attested_batches(doses: Iterable[DoseRecord]) -> list[str]:
    """The signing batches whose attestations a passport version's doses come from: the version
    rests on each of them, whichever attestation made it. SQS keeps no order, so a version issued
    for an earlier attestation may already carry a later batch's doses (`reports reconcile` must
    not call that batch's people stranded)."""
    return sorted({d.signed_batch for d in doses if d.signed_batch})


def reevaluated_attestation(doses: Sequence[DoseRecord], shown: DoseRecord, accounts_for: int | None) -> dict:
    """The `attestation` field of a version issued by a re-evaluation: it rests on no new
    signature, so it says so and names the batches whose attestations its doses come from. The
    facility and province are those of the dose it shows (the counters are booked there).
    `sequence` is the attestation sequence the previous version accounted for: every dose claimed
    up to it was read again, so `reports reconcile` treats the person as covered up to it."""
    return {"kind": "re-evaluation", "batches": attested_batches(doses),
            "facility_id": shown.facility_id, "province_code": shown.province_code, "sequence": accounts_for}


def reevaluation_target(body: object) -> str:
    """The citizen id of a `{"kind": "reevaluate", "citizen_id": ...}` queue message. The message
    is hostile input like any other; it carries nothing but whom to recompute from the store, so a
    forged one can at most cause a recomputation."""
    if not isinstance(body, dict) or body.get("kind") != "reevaluate" or set(body) != {"kind", "citizen_id"}:
        raise errors.ValidationError("a re-evaluation message is {kind: reevaluate, citizen_id}")
    cid = body["citizen_id"]
    if not isinstance(cid, str) or len(cid) not in (9, 12) or not cid.isascii() or not cid.isdigit():
        raise errors.ValidationError("a re-evaluation message names a citizen id of 12 (or 9) digits")
    return cid
