"""Revocation of a passport by the ministry (`POST /v1/revocations`).

A revocation is appended to the audit log first (the one hash chain that also holds every facility
attestation; unique key `revoke:<uvci>`, so a UVCI is revoked at most once however often the
request is retried), then applied to the passport store in one conditional transaction: the
version becomes REVOKED with the reason, its UCI, COUNTRYCODEUCI and SIGNATURE hashes join the
revocation list, and `passports_revoked` moves on the version's facility and province. The
transaction holds only while the version is still ACTIVE and still the person's current one, so
two concurrent revocations end in one 201 and one 409, and a re-issue racing a revocation leaves
exactly one of them in effect.

Logged first, applied second: a request that dies in between leaves a logged revocation that the
next request for the same UVCI applies (roll forward) before it answers 409, so the store never
shows a revocation the log lacks.

A revocation also puts the person on hold (an item written in the same transaction): while held,
the countersign worker issues them nothing, from any attestation logged before or after it
(`issuance.domain.next_step`). Only the ministry lifts a hold (`POST /v1/revocations/{uvci}/lift`):
logged first under `lift:<uvci>`, then the hold deleted in a conditional write (only if it is still
this revocation's), then the person queued for re-evaluation, which issues a new passport from
their attested doses. The revoked UVCI stays revoked for good.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Callable, Protocol, Sequence
from urllib.parse import unquote

from chalicelib import errors
from chalicelib.dcc.revocation import HASH_TYPES, revocation_entries
from chalicelib.dcc.uvci import is_valid_uvci
from chalicelib.platform.contract import BodyContract
from chalicelib.signing.service import AuditLog, DuplicateAuditKey

ACTIVE, REVOKED = "ACTIVE", "REVOKED"
SUPERSEDED = "superseded by a new passport version"
MAX_REASON_CHARS = 500
# C0 and C1 controls, DEL, line/paragraph separators, bidirectional overrides and isolates (they
# make a logged reason read differently from what it says), and unpaired surrogates (a JSON
# "\ud800" escape decodes to one; no store can encode it). Written as "must not contain", with no
# anchors: Python's `$` also matches before a final newline.
_CONTROL = r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"

# The one contract of the request: the route's `body=` (checked before the view, published as its
# OpenAPI requestBody), and checked again here with the same machinery.
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["uvci", "reason"],
    "properties": {
        "uvci": {"type": "string", "maxLength": 80, "pattern": r"^URN:UVCI:01:[A-Z]{2}:[A-Z0-9/:]+#[A-Z0-9/:]$",
                 "description": "the certificate identifier (`ci`) as issued, with its check character"},
        "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON_CHARS,
                   "pattern": r"\S", "not": {"pattern": _CONTROL},
                   "description": "why, for the audit log and the citizen; no control characters"},
    },
}
# The lift's body: the reason alone, under the same rules (the UVCI is in the path).
LIFT_REQUEST_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["reason"],
    "properties": {"reason": {**REQUEST_SCHEMA["properties"]["reason"],
                              "description": "why the hold is lifted, for the audit log; no control characters"}},
}
_PATH_UVCI = {"type": "object", "required": ["uvci"], "properties": {"uvci": REQUEST_SCHEMA["properties"]["uvci"]}}


class AlreadyRevoked(errors.Conflict):
    code = "PASSPORT_ALREADY_REVOKED"


class AlreadyLifted(errors.Conflict):
    code = "HOLD_ALREADY_LIFTED"


class NotHeld(errors.Conflict):
    code = "NOT_HELD_BY_THIS_REVOCATION"


@dataclass(frozen=True)
class Hold:
    """A ministry revocation holding a person: nothing is issued to them until it is lifted."""

    citizen_id: str
    uvci: str
    revocation_sequence: int


@dataclass(frozen=True)
class RevocationTarget:
    """The passport version a UVCI names, as stored."""

    citizen_id: str
    version: int
    uvci: str
    status: str  # ACTIVE | REVOKED
    signature_b64: str
    alg: str
    facility_id: str | None
    province_code: str | None
    reason: str | None = None
    revoked_at: str | None = None
    revocation_sequence: int | None = None  # set when the ministry revoked it (not a re-issue)
    kid_b64: str | None = None  # the DSC that signed it: the published batches are per kid


@dataclass(frozen=True)
class Actor:
    role: str
    id: str


class RevocationStore(Protocol):
    def find_by_uvci(self, uvci: str) -> RevocationTarget | None: ...

    def current_version(self, citizen_id: str) -> tuple[int, int | None] | None:
        """(version, revocation_sequence) of the person's current passport pointer, or None."""

    def listed(self, entries: list[dict]) -> set[tuple[str, str]]:
        """The (type, hash) of those revocation-list entries that are on the list."""

    def revoke(self, target: RevocationTarget, *, entry: dict, sequence: int, entries: list[dict]) -> bool:
        """Applies the logged revocation `entry` (audit `sequence`), its list `entries` and the
        person's hold if `target` is still the person's current ACTIVE version; False if it is not."""

    def hold(self, citizen_id: str) -> Hold | None: ...

    def lift(self, hold: Hold) -> bool:
        """Deletes the person's hold if it is still `hold`; False if it is not (lifted already, or
        another revocation's)."""


class Reevaluations(Protocol):
    def reevaluate(self, citizen_ids: Sequence[str]) -> int:
        """Queues one re-evaluation message per person (countersign queue)."""


def revocation_key(uvci: str) -> str:
    return f"revoke:{uvci}"


def lift_key(uvci: str) -> str:
    return f"lift:{uvci}"


@cache
def _contract(name: str) -> BodyContract:
    """The same contracts the routes check before calling here (`platform.contract`), so a body
    handed to this service by anything else is held to them too."""
    return BodyContract({"revoke": REQUEST_SCHEMA, "lift": LIFT_REQUEST_SCHEMA, "path": _PATH_UVCI}[name])


def _checked_uvci(uvci: str) -> str:
    if not is_valid_uvci(uvci):
        raise errors.ValidationError("uvci check character does not match: is it mistyped?",
                                     details={"field": "uvci"})
    return uvci


def parse_request(body: object) -> tuple[str, str]:
    """(uvci, reason) of a valid request body; otherwise a ValidationError naming the field."""
    valid = _contract("revoke").validate(body)
    return _checked_uvci(valid["uvci"]), valid["reason"].strip()


def parse_lift(uvci: object, body: object) -> tuple[str, str]:
    """(uvci, reason) of a lift: the UVCI from the path (percent-decoded if the gateway left it
    encoded: a UVCI's `#`, `/` and `:` travel as %23, %2F, %3A), the reason from the body."""
    if isinstance(uvci, str) and "%" in uvci:
        uvci = unquote(uvci)
    path = _contract("path").validate({"uvci": uvci})
    valid = _contract("lift").validate(body)
    return _checked_uvci(path["uvci"]), valid["reason"].strip()


class RevocationService:
    def __init__(self, store: RevocationStore, audit: AuditLog, clock: Callable[[], datetime], *,
                 country: str, reevaluations: Reevaluations) -> None:
        self._store = store
        self._audit = audit
        self._now = clock
        self._reevaluations = reevaluations
        # COUNTRYCODEUCI hashes the certificate's `co`: this deployment's country in every payload
        # it issues (as the countersigning worker lists it).
        self._country = country

    def revoke(self, body: object, actor: Actor) -> dict:
        uvci, reason = parse_request(body)
        target = self._store.find_by_uvci(uvci)
        if target is None:
            raise errors.NotFound("no passport was issued with this UVCI", details={"uvci": uvci})
        if target.status != ACTIVE:
            raise _already(target)
        key = revocation_key(uvci)
        entry = {"type": "revocation", "uvci": uvci, "version": target.version, "reason": reason,
                 "revoked_by": {"role": actor.role, "id": actor.id},
                 "revoked_at": self._now().isoformat(timespec="seconds")}
        try:
            sequence, entry_hash = self._audit.append(entry, unique_key=key)
            mine = True
        except DuplicateAuditKey:
            # Another request logged this UVCI's revocation: apply that one (if its request died
            # before doing so) and answer as for a repeated revocation.
            logged = self._audit.find(key)
            if logged is None:
                raise errors.DependencyUnavailable("audit log reported a duplicate it cannot show") from None
            entry, sequence, entry_hash, mine = logged.entry, logged.sequence, logged.entry_hash, False
        hashes = revocation_entries(uci=uvci, country=self._country,
                                    signature=base64.b64decode(target.signature_b64), alg=target.alg,
                                    types=HASH_TYPES, kid=target.kid_b64)
        applied = self._store.revoke(target, entry=entry, sequence=sequence, entries=hashes)
        # Not applied by this call: a re-issue got there first, or a concurrent request applied
        # this very logged revocation (then it is still this request's to answer).
        stored = None if applied else self._store.find_by_uvci(uvci)
        if mine and (applied or (stored is not None and stored.revocation_sequence == sequence)):
            return {"uvci": uvci, "version": target.version, "status": REVOKED, "reason": entry["reason"],
                    "revoked_at": entry["revoked_at"], "revoked_by": entry["revoked_by"],
                    "audit": {"sequence": sequence, "entry_hash": entry_hash}}
        raise _already(stored or self._store.find_by_uvci(uvci) or target)

    def lift(self, uvci: object, body: object, actor: Actor) -> dict:
        """Lifts the hold a ministry revocation put on its person. Logged first (`lift:<uvci>`), then
        the hold deleted only if it is still this revocation's, then the person queued for
        re-evaluation. A retry of a lift whose request died after logging it finishes the job
        (deletes the hold, queues the re-evaluation: both are idempotent) and answers 409."""
        uvci, reason = parse_lift(uvci, body)
        target = self._store.find_by_uvci(uvci)
        if target is None:
            raise errors.NotFound("no passport was issued with this UVCI", details={"uvci": uvci})
        revocation = self._audit.find(revocation_key(uvci))
        if revocation is None or target.revocation_sequence != revocation.sequence:
            raise NotHeld("this passport was not revoked by the ministry: nobody is held by it", details={"uvci": uvci})
        hold = Hold(target.citizen_id, uvci, revocation.sequence)
        held = self._store.hold(target.citizen_id) == hold
        key = lift_key(uvci)
        logged = self._audit.find(key)
        if logged is None and not held:
            raise NotHeld("the person is not held by this revocation", details={"uvci": uvci})
        entry = {"type": "lift", "uvci": uvci, "revocation_sequence": revocation.sequence, "reason": reason,
                 "lifted_by": {"role": actor.role, "id": actor.id},
                 "lifted_at": self._now().isoformat(timespec="seconds")}
        if logged is None:
            try:
                sequence, entry_hash = self._audit.append(entry, unique_key=key)
            except DuplicateAuditKey:
                logged = self._audit.find(key)  # a concurrent request logged it: theirs to answer
                if logged is None:
                    raise errors.DependencyUnavailable("audit log reported a duplicate it cannot show") from None
        if held:
            self._store.lift(hold)
        self._reevaluations.reevaluate([target.citizen_id])
        if logged is not None:  # logged before this call appended it: by a retry, or a concurrent request
            raise AlreadyLifted("the hold of this revocation was already lifted",
                                details={"uvci": uvci, "reason": logged.entry.get("reason"),
                                         "lifted_at": logged.entry.get("lifted_at"),
                                         "audit_sequence": logged.sequence})
        return {"uvci": uvci, "status": "LIFTED", "reason": reason, "lifted_at": entry["lifted_at"],
                "lifted_by": entry["lifted_by"], "revocation": {"audit_sequence": revocation.sequence},
                "reevaluation": "QUEUED", "audit": {"sequence": sequence, "entry_hash": entry_hash}}


    def not_in_effect(self, entry: dict, sequence: int, *, lifted: bool = False) -> str | None:
        """Why a revocation the audit log holds (at `sequence`) is not in effect in the passport
        store, or None if it is: for `audit verify`, since the chain is anchored but the store and
        the revocation list verifiers download are plain DynamoDB items. In effect means the
        version is REVOKED, its three hashes are on the list, if it is still the person's current
        version the pointer carries this revocation, and unless the log holds its lift (`lifted`),
        the person's hold is this revocation's (so nothing is issued to them)."""
        uvci = entry.get("uvci")
        target = self._store.find_by_uvci(uvci) if isinstance(uvci, str) else None
        if target is None:
            return "no passport version holds this UVCI"
        if target.status != REVOKED:
            return f"the passport version is {target.status}"
        hashes = revocation_entries(uci=target.uvci, country=self._country,
                                    signature=base64.b64decode(target.signature_b64), alg=target.alg, types=HASH_TYPES)
        listed = self._store.listed(hashes)
        missing = [h["type"] for h in hashes if (h["type"], h["hash"]) not in listed]
        if missing:
            return f"its {', '.join(missing)} hashes are not on the revocation list"
        current = self._store.current_version(target.citizen_id)
        still_current = current is not None and current[0] == target.version
        if still_current and current is not None and current[1] != sequence:
            return "the person's current passport does not carry it"
        # A revocation that lost its race to a re-issue was never applied (409): it holds nobody.
        applied = target.revocation_sequence == sequence
        if not lifted and (applied or still_current) and \
                self._store.hold(target.citizen_id) != Hold(target.citizen_id, target.uvci, sequence):
            return "the person is not held by it, and the audit log holds no lift of it"
        return None


def _already(target: RevocationTarget) -> AlreadyRevoked:
    if target.revocation_sequence is None and target.reason:
        # Revoked by a re-evaluation: no dose a facility head attested was left for the person.
        return AlreadyRevoked("this passport is already revoked",
                              details={"uvci": target.uvci, "reason": target.reason, "revoked_at": target.revoked_at})
    if target.revocation_sequence is None:
        return AlreadyRevoked("this passport version was already replaced by a newer one, which revoked it",
                              details={"uvci": target.uvci, "reason": SUPERSEDED, "revoked_at": target.revoked_at})
    return AlreadyRevoked("this passport is already revoked",
                          details={"uvci": target.uvci, "reason": target.reason, "revoked_at": target.revoked_at,
                                   "audit_sequence": target.revocation_sequence})
