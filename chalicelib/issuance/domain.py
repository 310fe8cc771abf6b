"""Pure rules of passport issuance: which dose a passport shows, and when a person needs a new
passport version."""
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


def revocation_stands(revocation_sequence: int | None, attestation: dict) -> bool:
    """Does a ministry revocation (its audit-log sequence) stand against this attestation?

    Attestations and revocations share one hash-chained audit log, so its sequence orders them.
    A revocation stands against every attestation logged before it: a redelivered, replayed or
    late countersign message never undoes it, whatever it carries. Only an attestation logged
    after it (a facility head signing a new or corrected record of the person) may issue a new
    passport. An attestation without a readable sequence is treated as older."""
    if revocation_sequence is None:
        return False
    try:
        return int(attestation.get("sequence")) <= revocation_sequence
    except (TypeError, ValueError):
        return True
