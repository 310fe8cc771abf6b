"""Fakes of the issuance ports: the passports table (PassportStore, RevocationStore,
PassportReader, and trust's RevocationRepository), identities, the QR image cache and the
document signer certificates. The passports fake keeps the adapter's conditions item by item
(tests/contracts/test_passports.py runs the same tests on DynamoPassportStore)."""
from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from datetime import datetime, timezone

from chalicelib import errors
from chalicelib.issuance.domain import NO_ATTESTED_DOSE, Identity
from chalicelib.dcc.revocation_batches import ListedHash
from chalicelib.issuance.revocation import ACTIVE, REVOKED, SUPERSEDED, Hold, RevocationTarget
from chalicelib.issuance.service import NewPassport, PassportRead, StoredPassport

REEVALUATION_ACTOR = {"role": "system", "id": "re-evaluation"}


class FakePassports:
    """`version_items[(citizen_id, version)]`: each passport version with its status;
    `pointers[citizen_id]`: the CURRENT pointer; `holds[citizen_id]`: a ministry revocation's
    hold; `listed`: revocation list entries (type, hash) -> reason; `uvcis`: every UVCI issued;
    `claims[citizen_id]`: every batch that noted a claim on the person's records. A test may change
    any of them the way a writer of the table could. With `counters` (FakeCounters), writes move
    them as the adapter's transactions do. `requests` counts the calls, as the table would see them."""

    def __init__(self, counters=None) -> None:
        self.version_items: dict[tuple[str, int], dict] = {}
        self.pointers: dict[str, dict] = {}
        self.holds: dict[str, Hold] = {}
        self.list_entries: dict[tuple[str, str], str] = {}
        # (type, hash) -> ListedHash: what the revocation publisher reads (kid, listed at)
        self.list_positions: dict[tuple[str, str], ListedHash] = {}
        self.uvcis: dict[str, tuple[str, int]] = {}
        self.claims: dict[str, set[str]] = {}
        self.counters = counters
        self.requests: Counter[str] = Counter()
        self.refuse_next = False  # the next save_new loses a race to another worker
        self._lock = threading.RLock()

    # -- PassportStore (countersigning) ---------------------------------------------------------
    def current(self, citizen_id):
        self.requests["current"] += 1
        return self._current(citizen_id)

    def _current(self, citizen_id):
        with self._lock:
            p = self.pointers.get(citizen_id)
            if p is None:
                return None
            hold = self.holds.get(citizen_id)
            return StoredPassport(citizen_id, p["version"], p["uvci"], p["content_digest"], p["signature"], p["alg"],
                                  p["revocation_sequence"], revoked=p["status"] == REVOKED,
                                  held_by=hold.revocation_sequence if hold is not None else None,
                                  attestation_sequence=p["attestation_sequence"], facility_id=p["facility_id"],
                                  province_code=p["province_code"], dose_keys=p.get("dose_keys"),
                                  dose_batches=p.get("dose_batches", frozenset()), kid_b64=p.get("kid"))

    def current_many(self, citizen_ids):
        self.requests["current_many"] += 1
        with self._lock:
            return {c: PassportRead(self._current(c), frozenset(self.claims.get(c, ()))) for c in citizen_ids}

    def open_claims(self, batch_id, citizen_ids, now):
        self.requests["open_claims"] += 1
        with self._lock:
            for c in citizen_ids:
                self.claims.setdefault(c, set()).add(batch_id)

    def save_many(self, writes, now):
        """Person by person, as the adapter's transactions store them (a person whose condition
        fails never stops the others)."""
        self.requests["save_many"] += 1
        if len({w.passport.citizen_id for w in writes}) != len(writes):
            raise ValueError("one write per person")
        stored = set()
        for w in writes:
            if self._save(w.passport, w.previous, w.revocations, now):
                stored.add(w.passport.citizen_id)
        return stored

    def _pointer_is(self, citizen_id: str, previous: StoredPassport | None) -> bool:
        p = self.pointers.get(citizen_id)
        if previous is None:
            return p is None
        if p is None or p["version"] != previous.version:
            return False
        if not previous.revoked:  # ...and not revoked meanwhile: a revocation wins the race
            return p["revocation_sequence"] is None and p["status"] != REVOKED
        if previous.revocation_sequence is None:
            return p["status"] == REVOKED and p["revocation_sequence"] is None
        return p["revocation_sequence"] == previous.revocation_sequence

    def save_new(self, passport: NewPassport, previous, revocations, now: datetime):
        self.requests["save_new"] += 1
        return self._save(passport, previous, revocations, now)

    def _save(self, passport: NewPassport, previous, revocations, now: datetime):
        cid, stamp = passport.citizen_id, now.isoformat(timespec="seconds")
        with self._lock:
            if self.refuse_next:
                self.refuse_next = False
                return False
            stored = (cid, passport.version) in self.version_items
            if passport.uvci in self.uvcis and not stored:
                # (UVCI taken, version new: a clash of random UVCIs; both taken: a lost race)
                raise errors.DependencyUnavailable("passports: the drawn UVCI is already issued; retry")
            held = previous is not None and previous.revocation_sequence is not None and cid in self.holds
            if held or stored or not self._pointer_is(cid, previous):
                return False
            over_revoked = previous is not None and previous.revoked
            self.uvcis[passport.uvci] = (cid, passport.version)
            self.version_items[(cid, passport.version)] = {
                "passport": passport, "status": ACTIVE, "created_at": stamp, "attestation": dict(passport.attestation),
                "reason": None, "revoked_at": None, "revoked_by": None, "revocation_sequence": None,
                "issued_over_revocation": (previous.revocation_sequence or 0) if over_revoked else None}
            sequence = passport.attestation.get("sequence")
            self.pointers[cid] = {
                "version": passport.version, "uvci": passport.uvci, "content_digest": passport.content_digest,
                "signature": passport.signature_b64, "alg": passport.alg, "status": None,
                "revocation_sequence": None, "attestation_sequence": sequence if isinstance(sequence, int) else None,
                "facility_id": passport.attestation.get("facility_id"),
                "province_code": passport.attestation.get("province_code"), "dose_keys": passport.dose_keys,
                "dose_batches": frozenset(passport.dose_batches), "kid": passport.kid_b64}
            supersedes = previous is not None and not over_revoked
            if supersedes:
                self.version_items[(cid, previous.version)].update(status=REVOKED, revoked_at=stamp)
                self._list(revocations, SUPERSEDED, stamp)
        if self.counters is not None:
            a = passport.attestation
            self.counters.add(a.get("facility_id"), a.get("province_code"), passports_issued=1,
                              **({"passports_revoked": 1} if supersedes else {}))
            self.counters.issued_on(a.get("province_code"), now.date())
        return True

    def _list(self, entries, reason: str, stamp: str) -> None:
        for r in entries:
            self.list_entries[(r["type"], r["hash"])] = reason
            self.list_positions[(r["type"], r["hash"])] = ListedHash(r.get("kid") or "", r["type"], r["hash"], stamp)

    def revoke_unattested(self, current: StoredPassport, revocations, now: datetime):
        cid = current.citizen_id
        with self._lock:
            version = self.version_items.get((cid, current.version))
            p = self.pointers.get(cid)
            if (version is None or version["status"] != ACTIVE or p is None or p["version"] != current.version
                    or p["revocation_sequence"] is not None or p["status"] == REVOKED):
                return False
            version.update(status=REVOKED, revoked_at=now.isoformat(timespec="seconds"), reason=NO_ATTESTED_DOSE,
                           revoked_by=REEVALUATION_ACTOR)
            p["status"] = REVOKED
            self._list(revocations, NO_ATTESTED_DOSE, now.isoformat(timespec="seconds"))
            a = version["attestation"]
        if self.counters is not None:
            self.counters.add(a.get("facility_id"), a.get("province_code"), passports_revoked=1)
        return True

    # -- RevocationStore (ministry revocations) --------------------------------------------------
    def find_by_uvci(self, uvci):
        with self._lock:
            found = self.uvcis.get(uvci)
            if found is None:
                return None
            v = self.version_items[found]
            p: NewPassport = v["passport"]
            return RevocationTarget(p.citizen_id, p.version, p.uvci, v["status"], p.signature_b64, p.alg,
                                    v["attestation"].get("facility_id"), v["attestation"].get("province_code"),
                                    v["reason"], v["revoked_at"], v["revocation_sequence"], kid_b64=p.kid_b64)

    def current_version(self, citizen_id):
        p = self.pointers.get(citizen_id)
        return None if p is None else (p["version"], p["revocation_sequence"])

    def hold(self, citizen_id):
        return self.holds.get(citizen_id)

    def lift(self, hold: Hold):
        with self._lock:
            if self.holds.get(hold.citizen_id) != hold:
                return False
            del self.holds[hold.citizen_id]
            return True

    def listed(self, entries):
        return {(e["type"], e["hash"]) for e in entries} & set(self.list_entries)

    def revoke(self, target: RevocationTarget, *, entry, sequence, entries):
        cid = target.citizen_id
        with self._lock:
            version = self.version_items.get((cid, target.version))
            p = self.pointers.get(cid)
            if (version is None or version["status"] != ACTIVE or p is None or p["version"] != target.version
                    or p["revocation_sequence"] is not None):
                return False
            version.update(status=REVOKED, revoked_at=entry["revoked_at"], reason=entry["reason"],
                           revoked_by=dict(entry["revoked_by"]), revocation_sequence=sequence)
            p.update(status=REVOKED, revocation_sequence=sequence)
            self.holds[cid] = Hold(cid, target.uvci, sequence)
            self._list(entries, entry["reason"], entry["revoked_at"])
        if self.counters is not None:
            self.counters.add(target.facility_id, target.province_code, passports_revoked=1)
        return True

    # -- PassportReader (the citizen's routes) and RevocationRepository (trust) ------------------
    def current_passport(self, citizen_id):
        p = self.pointers.get(citizen_id)
        if p is None:
            return None
        v = self.version_items[(citizen_id, p["version"])]
        n: NewPassport = v["passport"]
        return {"version": n.version, "uvci": n.uvci, "hc1": n.hc1, "iat": n.iat, "exp": n.exp, "status": v["status"],
                "display": json.loads(json.dumps(n.display, ensure_ascii=False)), "reason": v["reason"],
                "revoked_at": v["revoked_at"]}

    def entries(self):
        return [{"type": t, "hash": h} for t, h in sorted(self.list_entries)]

    def listed_between(self, start: str, end: str):
        if start and end < start:
            raise ValueError("listed_between: end before start")
        with self._lock:
            return [e for e in sorted(self.list_positions.values(), key=lambda e: (e.revoked_at, e.hash_type, e.hash))
                    if start <= e.revoked_at < end]

    # -- test helpers -------------------------------------------------------------------------
    def versions(self, citizen_id: str) -> list[NewPassport]:
        """The person's passport versions as issued, oldest first."""
        return [v["passport"] for (c, _), v in sorted(self.version_items.items()) if c == citizen_id]

    def status(self, citizen_id: str, version: int) -> dict:
        return self.version_items[(citizen_id, version)]

    def revoke_by_ministry(self, citizen_id: str, sequence: int) -> None:
        """What the ministry's revocation does to the current version (no list entries)."""
        target = self.find_by_uvci(self.pointers[citizen_id]["uvci"])
        entry = {"reason": "ministry", "revoked_at": "2026-11-01T08:30:00+00:00",
                 "revoked_by": {"role": "ministry", "id": "m-1"}}
        if not self.revoke(target, entry=entry, sequence=sequence, entries=[]):
            raise AssertionError("the fake refused the revocation")

    def issue(self, citizen_id: str, version: int, uvci: str, *, alg: str = "ES256", facility_id: str = "F1",
              province_code: str = "001", attestation_sequence: int = 1, batch_id: str = "SB1",
              attestation: dict | None = None, signature: bytes = bytes(64), exp: int = 2_000_000_000) -> NewPassport:
        """Stores a passport version over the current one, as a countersign would (no HC1 worth
        verifying: for tests of what happens to stored versions)."""
        from chalicelib.dcc.base45 import b45encode

        attestation = attestation or {"batch_id": batch_id, "sequence": attestation_sequence}
        hc1 = f"HC1:{b45encode(uvci.encode())}"  # no certificate, but a string a QR code can carry
        passport = NewPassport(citizen_id, version, uvci, "a2lk", alg, 1_700_000_000, exp, hc1,
                               base64.b64encode(signature).decode(), f"digest-{version}",
                               {**attestation, "facility_id": facility_id, "province_code": province_code},
                               {"name": "Nguyễn Văn An"})
        if not self.save_new(passport, self.current(citizen_id), [], datetime(2023, 11, 14, tzinfo=timezone.utc)):
            raise AssertionError("the fake refused the seeded version")
        return passport


class FakeIdentities:
    """The registry identities passports are issued to (IdentitySource)."""

    def __init__(self, *identities: Identity) -> None:
        self.by_id = {i.citizen_id: i for i in identities}

    def identity(self, citizen_id):
        return self.by_id.get(citizen_id)

    def identities(self, citizen_ids):
        return {c: self.by_id[c] for c in citizen_ids if c in self.by_id}


class FakeImageCache:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.gets = 0

    def get(self, key):
        self.gets += 1
        found = self.objects.get(key)
        return None if found is None else found[0]

    def put(self, key, data, content_type):
        self.objects[key] = (bytes(data), content_type)


class FakeDscRepository:
    """Document signer certificates by kid (trust's DscRepository; the key ring reads it)."""

    def __init__(self) -> None:
        self.by_kid: dict = {}

    def all(self):
        return list(self.by_kid.values())

    def put(self, entry):
        self.by_kid[entry.kid] = entry


class FakeKeyRing:
    """The DSC key ring (`Callable[[datetime], Signer]`, KmsKeyRing in production) over a local
    ES256 key whose dev DSC is valid 2020-2040; `trust` verifies what it signs. Built on first use."""

    def __init__(self) -> None:
        self._signer = None
        self.trust = None

    def __call__(self, now: datetime):
        if self._signer is None:
            import secrets

            from chalicelib.dcc import LocalKeySigner, TrustStore
            from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc

            start = datetime(2020, 1, 1, tzinfo=timezone.utc)
            csca_key, dsc_key = generate_key("ES256"), generate_key("ES256")
            csca = issue_csca(csca_key, now=start, valid_days=7300, random_bytes=secrets.token_bytes)
            dsc = issue_dsc(dsc_key.public_key(), csca_cert=csca, csca_key=csca_key, now=start, valid_days=7300,
                            random_bytes=secrets.token_bytes)
            self._signer, self.trust = LocalKeySigner(dsc_key, dsc), TrustStore.from_certificates([dsc])
        return self._signer
