"""Countersigning use case: for each attested person, build the DCC from the registry identity
and the latest dose a facility head attested, sign it with the current DSC (KMS), store it as the
person's next passport version, and revoke the previous version's UVCI.

A passport rests only on what facility heads signed: the doses of the current request (claimed
by this attestation) and the person's other records whose current version an earlier
attestation covered. A verified dose no facility head signed, of this facility or another, is
neither shown nor part of the content digest; once it is attested, its countersigning re-issues
the passport with it and revokes the previous UVCI.

Idempotent per person and version: the new version is stored only if the person's current
version is still the one this worker read (a conditional transaction in the adapter), and a
person whose identity and doses did not change since the current passport gets nothing new.

A chunk is worked as a whole, because on DynamoDB the requests, not the signatures, bounded it:
one read of the chunk's passports (with holds and open claims), beside it one of the registry
identities and one of the doses the chunk names (three requests at once), then only for
re-issues one of the other doses their passports rest on, one KMS Sign per new version (all of
them together, nothing else in between), and as few store transactions as DynamoDB's 100-item
limit allows. The citizen index is
queried only for people whose doses may lie outside what the chunk names and what their current
passport rests on: a claim of another batch that their current passport does not cover (noted
with the claim of the records, in the same transaction: attested.py; a passport names the batches
its doses were attested in), or a passport stored before it named its doses.

A person a ministry revocation holds gets nothing until the ministry lifts the hold (their record
claims stay as they are). A re-evaluation (`reevaluate`: a dose the passport rests on moved to
another person, or a hold was lifted) recomputes the passport from the attested doses alone, with
the same reads as a countersign of one person: re-issued from what remains, or revoked when no
attested dose remains (`issuance.domain.next_step`).
"""
from __future__ import annotations

import base64
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Collection, Protocol, Sequence

from chalicelib import errors
from chalicelib.dcc.issue import claim_times, prepare
from chalicelib.dcc.payload import build_vaccination_payload, lookup_vaccine
from chalicelib.dcc.revocation import revocation_entries
from chalicelib.dcc.signer import Signer
from chalicelib.dcc.uvci import make_uvci
from chalicelib.issuance.domain import (
    ISSUE, NO_ATTESTED_DOSE, REVOKE, DoseRecord, Identity, PassportState, attested_batches, content_digest,
    latest_dose, next_step, reevaluated_attestation, series_doses, stale_manifest_doses,
)

# A signing lease outlives any invocation that holds it (twice the countersign function's 60 s
# timeout in infra/spec.py): a crashed holder's lease expires before its message is redelivered.
SIGNING_LEASE_S = 120

# The hashes a superseded or revoked version puts on the revocation list. COUNTRYCODEUCI hashes
# the certificate's `co`, which is this deployment's country in every payload it issues.
LISTED_HASHES = ("UCI", "COUNTRYCODEUCI", "SIGNATURE")


@dataclass(frozen=True)
class StoredPassport:
    citizen_id: str
    version: int
    uvci: str
    content_digest: str
    signature_b64: str
    alg: str
    # Audit-log sequence of the ministry's revocation of this version, if it was revoked.
    revocation_sequence: int | None = None
    revoked: bool = False  # REVOKED in place: by the ministry, or for lack of an attested dose
    held_by: int | None = None  # audit sequence of the ministry revocation holding the person
    attestation_sequence: int | None = None  # the attestation sequence this version accounts for
    facility_id: str | None = None  # where its counters were booked
    province_code: str | None = None
    # The dose records this version rests on; None for a version stored before it named them.
    dose_keys: tuple[tuple[str, str], ...] | None = None
    dose_batches: frozenset[str] = frozenset()  # the batches whose attestation those doses carry
    kid_b64: str | None = None  # the DSC that signed it (None on a pointer stored before it named it)

    def state(self) -> PassportState:
        return PassportState(self.content_digest, self.revoked, self.held_by is not None)


@dataclass(frozen=True)
class NewPassport:
    citizen_id: str
    version: int
    uvci: str
    kid_b64: str
    alg: str
    iat: int
    exp: int
    hc1: str
    signature_b64: str
    content_digest: str
    attestation: dict
    display: dict
    dose_keys: tuple[tuple[str, str], ...] | None = None  # the (facility_id, record_id) it rests on
    dose_batches: frozenset[str] = frozenset()  # the batches whose attestation they carry


@dataclass(frozen=True)
class PassportRead:
    """A person as the countersign worker reads them: the current version (with its hold) and every
    batch that noted a claim on their records."""

    current: StoredPassport | None
    open_batches: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PassportWrite:
    """One new version to store over `previous`."""

    passport: NewPassport
    previous: StoredPassport | None
    revocations: list[dict]


class PassportStore(Protocol):
    def current(self, citizen_id: str) -> StoredPassport | None:
        """The current version with the person's hold, if any (one read)."""

    def current_many(self, citizen_ids: Sequence[str]) -> dict[str, PassportRead]:
        """`current` and the open claims of many people, read consistently in batches."""

    def open_claims(self, batch_id: str, citizen_ids: Sequence[str], now: datetime) -> None:
        """Notes that `batch_id` is about to claim records of these people."""

    def save_new(self, passport: NewPassport, previous: StoredPassport | None, revocations: list[dict],
                 now: datetime) -> bool:
        """Stores `passport` as the current version if `previous` is still current (and the person
        is not held); False if not."""

    def save_many(self, writes: Sequence[PassportWrite], now: datetime) -> set[str]:
        """`save_new` for many people at once (one person each); the citizen ids stored. A person
        whose condition failed is left out, never the others."""

    def revoke_unattested(self, current: StoredPassport, revocations: list[dict], now: datetime) -> bool:
        """Revokes `current` (reason NO_ATTESTED_DOSE, listed, counted, no hold) if it is still the
        person's current ACTIVE version; False if not."""


class SigningLeases(Protocol):
    def take_lease(self, holder: str, citizen_id: str, *, until: datetime, now: datetime) -> bool:
        """The person's signing lease for `holder` if it is free or expired (the countersign
        worker's chunks take it with their claims); False if another holds it."""

    def release_leases(self, holder: str, citizen_ids: Sequence[str], now: datetime) -> None: ...


class DoseSource(Protocol):
    def attested_doses(self, citizen_ids: Sequence[str], also: Sequence[tuple[str, str]] = (),
                       query: Collection[str] | None = None) -> dict[str, list[DoseRecord]]:
        """Per person, every dose record whose current version is verified and was attested by a
        facility head (`signed_batch` set), read consistently. `also` are record keys known to
        belong to these people (the request's doses), read even if the citizen index lags. The
        citizen index is searched for the people in `query` only (None: everyone)."""


class IdentitySource(Protocol):
    def identity(self, citizen_id: str) -> Identity | None: ...

    def identities(self, citizen_ids: Sequence[str]) -> dict[str, Identity]:
        """The registry identities of those found, read in batches."""


@dataclass
class CountersignRequest:
    citizen_id: str
    manifest_doses: list[dict]  # [{facility_id, record_id, version, digest}, ...]
    attestation: dict  # {batch_id, sequence, entry_hash, facility_id, ...}


@dataclass
class Outcome:
    citizen_id: str
    # issued | unchanged | stale | lost_race | refused | not_attested | held (a ministry revocation
    # holds the person) | revoked (a re-evaluation found no attested dose) | no_passport
    status: str
    version: int | None = None
    uvci: str | None = None
    detail: list[str] = field(default_factory=list)


class CountersignService:
    def __init__(self, store: PassportStore, doses: DoseSource, identities: IdentitySource,
                 signer: Callable[[datetime], Signer], clock: Callable[[], datetime],
                 random_bytes: Callable[[int], bytes], *, country: str, issuer: str, authority: str,
                 valid_days: int, leases: SigningLeases | None = None) -> None:
        self._store = store
        self._leases = leases
        self._doses = doses
        self._identities = identities
        self._signer = signer
        self._now = clock
        self._random = random_bytes
        self._country = country
        self._issuer = issuer
        self._authority = authority
        self._valid_days = valid_days

    def countersign(self, requests: Sequence[CountersignRequest]) -> list[Outcome]:
        now = self._now()
        signer = self._signer(now)
        first: dict[str, CountersignRequest] = {}
        for r in requests:
            first.setdefault(r.citizen_id, r)
        cids = sorted(first)
        named = {(d["facility_id"], d["record_id"]) for r in requests for d in r.manifest_doses}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="chunk-reads") as pool:
            # The registry and the request's own doses need nothing the passports tell: all three
            # reads run at once. Only a re-issue's other doses (and a person whose doses may lie
            # elsewhere: the citizen index) wait for the passports.
            identities_read = pool.submit(self._identities.identities, cids)
            named_read = pool.submit(self._doses.attested_doses, cids, sorted(named), ())
            reads = self._store.current_many(cids)
            more: set[tuple[str, str]] = set()
            for read in reads.values():
                more.update(read.current.dose_keys or () if read.current is not None else ())
            query = [c for c in cids if _needs_index(reads[c], first[c].attestation.get("batch_id"))]
            attested = named_read.result()
            if more - named or query:
                attested = _merged(attested, self._doses.attested_doses(cids, sorted(more - named), query=query))
            identities = identities_read.result()
        prepared: dict[str, Outcome | dict] = {}
        for cid, req in first.items():
            # Every manifest dose of the person must be current, whichever entry named it.
            doses = [d for r in requests if r.citizen_id == cid for d in r.manifest_doses]
            prepared[cid] = self._draft_or_refusal(CountersignRequest(cid, doses, req.attestation),
                                                   attested.get(cid, []), identities.get(cid), reads[cid], signer,
                                                   now)
        drafts = [p for p in prepared.values() if isinstance(p, dict)]
        # One KMS Sign per new version, the chunk's signatures together with no other I/O among them.
        signatures = signer.sign_many([d["unsigned"].to_be_signed for d in drafts]) if drafts else []
        writes = {d["citizen_id"]: self._write(d, sig, signer, now) for d, sig in zip(drafts, signatures, strict=True)}
        stored = self._store.save_many(list(writes.values()), now) if writes else set()
        results: dict[str, Outcome] = {}
        for cid, p in prepared.items():
            if isinstance(p, Outcome):
                results[cid] = p
            elif cid in stored:
                results[cid] = Outcome(cid, "issued", writes[cid].passport.version, writes[cid].passport.uvci)
            else:
                results[cid] = Outcome(cid, "lost_race")
        return [results[r.citizen_id] for r in requests]

    def _draft_or_refusal(self, req: CountersignRequest, doses: list[DoseRecord], identity: Identity | None,
                          read: PassportRead, signer: Signer, now: datetime):
        # A person whose data cannot make a DCC (not in the registry, a name with nothing to
        # transliterate) must not stop the rest of the chunk; the caller sees the refusal with
        # its code (no personal data in `detail`).
        try:
            if identity is None:
                raise errors.NotFound("attested person is not in the population registry")
            # The request's own doses must be among the attested ones at the version the facility
            # signed (its claim just marked them); otherwise they changed since the manifest.
            stale = stale_manifest_doses(req.manifest_doses, doses)
            if stale:
                return Outcome(req.citizen_id, "stale", detail=stale)
            digest = content_digest(identity, doses)
            current = read.current
            step = next_step(current.state() if current else None, digest, first_issue=True)
            if step != ISSUE:
                return Outcome(req.citizen_id, step, current.version if current else None,
                               current.uvci if current else None)
            # The batches its doses were attested in: what reconcile reads the version to rest on,
            # whatever order the attestations were countersigned in.
            attestation = {**req.attestation, "batches": attested_batches(doses)}
            draft = self._prepare(req.citizen_id, identity, doses, digest, current, attestation, signer, now)
        except (errors.ValidationError, errors.NotFound) as e:
            return Outcome(req.citizen_id, "refused", detail=[e.code])
        return draft

    def _prepare(self, citizen_id: str, identity: Identity, doses: list[DoseRecord], digest: str,
                 current: StoredPassport | None, attestation: dict, signer: Signer, now: datetime) -> dict:
        dose = latest_dose(doses)
        uvci = make_uvci(self._random)
        payload = build_vaccination_payload(
            full_name=identity.full_name, dob=identity.date_of_birth, product=dose.vaccine_product,
            dose_number=dose.dose_number, series_doses=series_doses(dose.vaccine_product, dose.dose_number),
            vaccination_date=dose.vaccination_date, uvci=uvci, issuer=self._authority, country=self._country)
        unsigned = prepare(payload, signer, now=now, valid_days=self._valid_days, issuer=self._issuer)
        return {"citizen_id": citizen_id, "attestation": attestation, "doses": doses, "payload": payload,
                "uvci": uvci, "digest": digest, "current": current, "unsigned": unsigned}

    def _write(self, d: dict, signature: bytes, signer: Signer, now: datetime) -> PassportWrite:
        citizen_id, current = d["citizen_id"], d["current"]
        iat, exp = claim_times(signer, now, self._valid_days)
        version = (current.version + 1) if current else 1
        passport = NewPassport(
            citizen_id=citizen_id, version=version, uvci=d["uvci"],
            kid_b64=base64.b64encode(signer.kid).decode(), alg=signer.alg, iat=iat, exp=exp,
            hc1=d["unsigned"].finish(signature), signature_b64=base64.b64encode(signature).decode(),
            content_digest=d["digest"], attestation=d["attestation"],
            display=display_fields(d["payload"], len(d["doses"])),
            dose_keys=tuple(sorted((x.facility_id, x.record_id) for x in d["doses"])),
            dose_batches=frozenset(x.signed_batch for x in d["doses"] if x.signed_batch))
        # A version revoked in place is listed already; a re-issue lists the active one it replaces.
        revocations = self._listed(current) if current is not None and not current.revoked else []
        return PassportWrite(passport, current, revocations)

    def _listed(self, passport: StoredPassport) -> list[dict]:
        return revocation_entries(uci=passport.uvci, country=self._country,
                                  signature=base64.b64decode(passport.signature_b64), alg=passport.alg,
                                  types=LISTED_HASHES, kid=passport.kid_b64)

    # -- re-evaluation ------------------------------------------------------------------------
    def reevaluate(self, citizen_id: str) -> Outcome:
        """Recomputes one person's passport from their attested doses only (records whose current
        version carries `signed_batch`), whoever asked: a forged request can at most cause this
        recomputation. Reads: the current version with its hold, then (unless held or without a
        passport) the attested doses and the registry identity, as a countersign of one person.
        Re-issue (one KMS Sign) when the content changed or the current version is revoked and the
        hold lifted; revoke without a hold when no attested dose remains. It holds the person's
        signing lease meanwhile, so a chunk signing them at the same time never signs too."""
        now = self._now()
        if self._leases is None:
            return self._reevaluate(citizen_id, now)
        # The holder is stored on the person's item in clear: a random id, never the citizen id
        # (the item's key is a pseudonym, and the holder must not undo it).
        holder = f"reevaluate#{uuid.uuid4().hex}"
        if not self._leases.take_lease(holder, citizen_id, until=now + timedelta(seconds=SIGNING_LEASE_S), now=now):
            return Outcome(citizen_id, "lost_race")  # a chunk is signing them: the message is retried
        try:
            outcome = self._reevaluate(citizen_id, now)
        except BaseException:
            try:
                self._leases.release_leases(holder, [citizen_id], now)
            except errors.DependencyUnavailable:
                pass  # already failing: the lease expires by itself, the first error is the one to report
            raise
        self._leases.release_leases(holder, [citizen_id], now)
        return outcome

    def _reevaluate(self, citizen_id: str, now: datetime) -> Outcome:
        current = self._store.current(citizen_id)
        if current is None:
            return Outcome(citizen_id, "no_passport")
        if current.held_by is not None:
            return Outcome(citizen_id, "held", current.version, current.uvci)
        doses = self._doses.attested_doses([citizen_id]).get(citizen_id, [])
        identity = self._identities.identity(citizen_id) if doses else None
        if doses and identity is None:
            return Outcome(citizen_id, "refused", detail=["NOT_FOUND"])
        digest = content_digest(identity, doses) if doses and identity is not None else None
        step = next_step(current.state(), digest, first_issue=False)
        if step == REVOKE:
            if not self._store.revoke_unattested(current, self._listed(current), now):
                return Outcome(citizen_id, "lost_race")
            return Outcome(citizen_id, "revoked", current.version, current.uvci, detail=[NO_ATTESTED_DOSE])
        if step != ISSUE or identity is None or digest is None:  # ISSUE means attested doses: both are set
            return Outcome(citizen_id, step, current.version, current.uvci)
        signer = self._signer(now)
        attestation = reevaluated_attestation(doses, latest_dose(doses), current.attestation_sequence)
        try:
            draft = self._prepare(citizen_id, identity, doses, digest, current, attestation, signer, now)
        except errors.ValidationError as e:
            return Outcome(citizen_id, "refused", detail=[e.code])
        [signature] = signer.sign_many([draft["unsigned"].to_be_signed])
        write = self._write(draft, signature, signer, now)
        if not self._store.save_new(write.passport, write.previous, write.revocations, now):
            return Outcome(citizen_id, "lost_race")
        return Outcome(citizen_id, "issued", write.passport.version, write.passport.uvci)


def _merged(a: dict[str, list[DoseRecord]], b: dict[str, list[DoseRecord]]) -> dict[str, list[DoseRecord]]:
    """Two reads of attested doses as one (a record read twice counts once)."""
    out = {cid: list(doses) for cid, doses in a.items()}
    for cid, doses in b.items():
        seen = {(d.facility_id, d.record_id) for d in out.setdefault(cid, [])}
        out[cid] += [d for d in doses if (d.facility_id, d.record_id) not in seen]
    return out


def _needs_index(read: PassportRead, batch_id: object) -> bool:
    """Whether a person's attested doses may lie outside the chunk's and their passport's: another
    batch noted a claim their passport does not cover (its passport never stored: a crash, a stale
    entry, a hold), or the passport does not name its doses (stored before it did)."""
    current = read.current
    if current is not None and current.dose_keys is None:
        return True
    return bool(read.open_batches - {batch_id} - (current.dose_batches if current is not None else frozenset()))


def display_fields(payload: dict, doses_on_record: int) -> dict:
    """What the apps show next to the QR code, in Vietnamese and English."""
    v = payload["v"][0]
    name = f"{payload['nam'].get('fn', '')} {payload['nam'].get('gn', '')}".strip()
    vaccine = lookup_vaccine(v["mp"]).name
    return {
        "name": name, "name_ascii": f"{payload['nam']['fnt']}<<{payload['nam'].get('gnt', '')}",
        "date_of_birth": payload["dob"], "vaccine": vaccine, "vaccine_code": v["mp"],
        "dose": v["dn"], "series_doses": v["sd"], "vaccination_date": v["dt"], "country": v["co"],
        "issuer": v["is"], "uvci": v["ci"], "doses_on_record": doses_on_record,
        "labels": {
            "vi": {"name": "Họ và tên", "date_of_birth": "Ngày sinh", "vaccine": "Vắc xin",
                   "dose": "Mũi tiêm", "vaccination_date": "Ngày tiêm", "issuer": "Cơ quan cấp",
                   "valid_until": "Có giá trị đến"},
            "en": {"name": "Name", "date_of_birth": "Date of birth", "vaccine": "Vaccine",
                   "dose": "Dose", "vaccination_date": "Date of vaccination", "issuer": "Issuer",
                   "valid_until": "Valid until"},
        },
    }
