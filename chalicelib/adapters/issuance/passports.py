"""The passports table: the passport store (countersigning, re-evaluation, ministry revocations)
and the reader behind the passport routes.

<citizen_id> is its pseudonym (Tables.person_pk); citizen_id, hc1 and display are sealed (SealedFields).

passports  pk P#<citizen_id>  sk V#<version, 6 digits>   one passport version (gsi1 UVCI#<uvci>); a ministry
                                                         revocation adds reason, revoked_by, revocation_sequence
           pk P#<citizen_id>  sk CURRENT                 pointer to the current version (status REVOKED and,
                                                         for the ministry, revocation_sequence while that
                                                         version stands revoked; the attestation sequence
                                                         it accounts for, its facility and province)
           pk P#<citizen_id>  sk HOLD                    a ministry revocation holds the person: uvci,
                                                         revocation_sequence (deleted when the ministry lifts it)
           pk P#<citizen_id>  sk CLAIMS                  `claims`: every batch that claimed records of the
                                                         person (open_claims; CURRENT's dose_batches say
                                                         which of them its version covers); lease_holder and
                                                         lease_until while a chunk is signing the person
                                                         (adapters/issuance/claims.py)
           pk REVOKED         sk <type>#<hash>           revocation list entries (kid, gsi2: adapters.trust.trust_list)
           pk UVCI#<uvci>     sk UVCI                    reservation: a UVCI is issued once, ever
"""
from __future__ import annotations

import json
from datetime import datetime
import time
from typing import Any, Sequence

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.counters import aggregate_counter_updates, counter_updates, issued_per_day_updates
from chalicelib.adapters.dynamo import (SealedFields, Tables, cancelled_by_condition, cancelled_items, gsi,
                                       is_conditional, model_meta)
from chalicelib.adapters.trust.trust_list import listing_attributes
from chalicelib.issuance.domain import NO_ATTESTED_DOSE
from chalicelib.issuance.revocation import REVOKED, SUPERSEDED, Hold, RevocationTarget
from chalicelib.issuance.service import NewPassport, PassportRead, PassportWrite, StoredPassport

REVOKE_ATTEMPTS = 5
# DynamoDB's limits: items per transaction, keys per BatchGetItem.
MAX_TRANSACTION_ITEMS = 100
MAX_BATCH_GET = 100
# Rounds of a chunk's store transaction: each round either stores, drops the people whose
# condition failed, or (a conflict with another writer) runs again after a short pause.
SAVE_ROUNDS = 8
# Who revoked a version for lack of an attested dose (a ministry revocation names the official).
REEVALUATION_ACTOR = json.dumps({"role": "system", "id": "re-evaluation"})


def _version_sk(version: int) -> str:
    return f"V#{version:06d}"


class DynamoPassportStore:
    def __init__(self, tables: Tables) -> None:
        s = tables.settings
        self._t = tables
        sealing_tables = tables

        class PassportItem(SealedFields, Model):
            Meta = model_meta(s, "passports")
            # The citizen id, and the certificate and its display, which carry name and birth date.
            seal_groups = {"sealed": ("citizen_id", "hc1", "display")}
            logical = "passports"
            sealed = UnicodeAttribute(null=True)
            tables = sealing_tables
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            by_uvci = gsi(1, s)
            gsi2pk = UnicodeAttribute(null=True)
            gsi2sk = UnicodeAttribute(null=True)
            citizen_id = UnicodeAttribute(null=True)
            version = NumberAttribute(null=True)
            uvci = UnicodeAttribute(null=True)
            kid = UnicodeAttribute(null=True)
            alg = UnicodeAttribute(null=True)
            iat = NumberAttribute(null=True)
            exp = NumberAttribute(null=True)
            hc1 = UnicodeAttribute(null=True)
            signature = UnicodeAttribute(null=True)
            content_digest = UnicodeAttribute(null=True)
            attestation = UnicodeAttribute(null=True)
            display = UnicodeAttribute(null=True)
            status = UnicodeAttribute(null=True)
            created_at = UnicodeAttribute(null=True)
            revoked_at = UnicodeAttribute(null=True)
            reason = UnicodeAttribute(null=True)
            revoked_by = UnicodeAttribute(null=True)
            revocation_sequence = NumberAttribute(null=True)
            # Set on a version that followed a version revoked in place (its predecessor was
            # counted as revoked already): the revocation's audit sequence, 0 for a revocation
            # for lack of an attested dose (not in the audit log).
            issued_over_revocation = NumberAttribute(null=True)
            # On CURRENT: what a re-evaluation needs without reading the version.
            attestation_sequence = NumberAttribute(null=True)
            facility_id = UnicodeAttribute(null=True)
            province_code = UnicodeAttribute(null=True)
            # On CURRENT: the (facility_id, record_id) of the doses the version rests on, JSON, and
            # the batches whose attestation they carry.
            dose_keys = UnicodeAttribute(null=True)
            dose_batches = UnicodeSetAttribute(null=True)
            # On CLAIMS: every batch that claimed records of the person (a few per person, ever).
            claims = UnicodeSetAttribute(null=True)
            # On CLAIMS: the chunk signing the person's next version, and until when (utc_stamp).
            lease_holder = UnicodeAttribute(null=True)
            lease_until = UnicodeAttribute(null=True)

        self.Item = PassportItem

    def current(self, citizen_id: str) -> StoredPassport | None:
        """One consistent Query of the person's CURRENT pointer and HOLD item (they sort next to
        each other: "CURRENT" < "HOLD" < "V#..."), so the hold costs no extra request."""
        Item = self.Item
        try:
            found = {i.sk: i for i in Item.query(self._t.person_pk(citizen_id), Item.sk.between("CURRENT", "HOLD"),
                                                 consistent_read=True)}
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e
        return _stored(citizen_id, found.get("CURRENT"), found.get("HOLD"))

    def current_many(self, citizen_ids: Sequence[str]) -> dict[str, PassportRead]:
        """Consistent BatchGets of each person's CURRENT, HOLD and CLAIMS items (33 people per
        request)."""
        Item = self.Item
        keys = [(self._t.person_pk(cid), sk) for cid in citizen_ids for sk in ("CURRENT", "HOLD", "CLAIMS")]
        found: dict[tuple[str, str], Any] = {}
        try:
            for i in range(0, len(keys), MAX_BATCH_GET - MAX_BATCH_GET % 3):
                for item in Item.batch_get(keys[i:i + MAX_BATCH_GET - MAX_BATCH_GET % 3], consistent_read=True):
                    found[(item.pk, item.sk)] = item
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e
        out = {}
        for cid in citizen_ids:
            pk = self._t.person_pk(cid)
            claims = found.get((pk, "CLAIMS"))
            out[cid] = PassportRead(_stored(cid, found.get((pk, "CURRENT")), found.get((pk, "HOLD"))),
                                    frozenset(claims.claims or ()) if claims is not None else frozenset())
        return out

    def open_claims(self, batch_id: str, citizen_ids: Sequence[str], now: datetime) -> None:
        """Adds the batch to each person's CLAIMS set (transactions of up to 100 people)."""
        Item = self.Item
        for i in range(0, len(citizen_ids), MAX_TRANSACTION_ITEMS):
            for attempt in range(SAVE_ROUNDS):
                try:
                    with TransactWrite(connection=self._t.connection) as tx:
                        for cid in citizen_ids[i:i + MAX_TRANSACTION_ITEMS]:
                            tx.update(Item(self._t.person_pk(cid), "CLAIMS"), actions=[Item.claims.add({batch_id})])
                    break
                except TransactWriteError as e:
                    if not cancelled_items(e, "TransactionConflict") or attempt == SAVE_ROUNDS - 1:
                        raise errors.DependencyUnavailable("passports: could not note the claims") from e
                    time.sleep(0.05 * (attempt + 1))

    def get_version(self, citizen_id: str, version: int):
        try:
            return self.Item.get(self._t.person_pk(citizen_id), _version_sk(version), consistent_read=True)
        except self.Item.DoesNotExist:
            return None

    def save_new(self, passport: NewPassport, previous: StoredPassport | None, revocations: list[dict],
                 now: datetime) -> bool:
        return passport.citizen_id in self.save_many([PassportWrite(passport, previous, revocations)], now)

    def save_many(self, writes: Sequence[PassportWrite], now: datetime) -> set[str]:
        """Several people per transaction, each with their items (the UVCI reservation, the version,
        the CURRENT pointer on the condition that it is still the one read, the superseded
        version and its list entries) and the group's counters summed into one
        update per counter item, so a person's counts land with their passport and only then.
        A cancelled transaction names the items whose condition failed: those people lost a race
        and are left out, the others are sent again."""
        if len({w.passport.citizen_id for w in writes}) != len(writes):
            raise ValueError("one write per person")  # DynamoDB refuses two writes of one item in a transaction
        stamp = now.isoformat(timespec="seconds")
        pending = list(writes)
        stored: set[str] = set()
        rounds = 0
        while pending:
            group = self._group(pending, stamp)
            try:
                self._commit(group)
            except TransactWriteError as e:
                rounds += 1
                lost = self._lost(e, group)
                if lost is None:
                    if not cancelled_items(e, "TransactionConflict") or rounds >= SAVE_ROUNDS:
                        raise errors.DependencyUnavailable("passports: could not store the passports") from e
                    time.sleep(0.05 * rounds)  # another writer held one of the items: run again
                    continue
                pending = [w for w in pending if w.passport.citizen_id not in lost]
                continue
            stored.update(w.passport.citizen_id for w in group.writes)
            pending = pending[len(group.writes):]
        return stored

    def _group(self, pending: Sequence[PassportWrite], stamp: str) -> "_Group":
        """The longest prefix of `pending` whose items and summed counters fit one transaction."""
        group = _Group(self, stamp)
        for w in pending:
            if not group.add(w):
                break
        return group

    def _commit(self, group: "_Group") -> None:
        with TransactWrite(connection=self._t.connection) as tx:
            for model, hash_key, range_key, condition in group.checks:
                tx.condition_check(model, hash_key, range_key, condition=condition)
            for item, condition in group.puts:
                tx.save(item, condition=condition)
            for item, actions, condition in group.updates:
                tx.update(item, actions=actions, condition=condition)
            for item, actions in group.counter_updates():
                tx.update(item, actions=actions)
            # The per-day series behind the dashboard (UTC day of issue), nation and province.
            for item, actions in group.day_updates():
                tx.update(item, actions=actions)

    @staticmethod
    def _lost(e: TransactWriteError, group: "_Group") -> set[str] | None:
        """The people whose condition failed (None if none did). A person whose UVCI reservation
        failed while their version's did not drew a UVCI issued before: the message is retried and
        the retry draws another (128 random bits: practically never). If both failed, this very
        transaction was committed already (a resent request) or another worker stored the
        version: a lost race."""
        failed = cancelled_items(e, "ConditionalCheckFailed")
        if not failed:
            return None
        owners = group.owners
        for w in group.writes:
            reservation, version = group.reservation_and_version(w.passport.citizen_id)
            if reservation in failed and version not in failed:
                raise errors.DependencyUnavailable("passports: the drawn UVCI is already issued; retry") from e
        return {o for i, o in enumerate(owners) if i in failed and o is not None}

    def revoke_unattested(self, current: StoredPassport, revocations: list[dict], now: datetime) -> bool:
        """One transaction: the version REVOKED with the reason, the CURRENT pointer marked (no
        revocation_sequence: it is not the ministry's, and no hold), the list entries, and
        `passports_revoked` on the version's facility and province; only while the version is
        still the current ACTIVE one."""
        Item, Counter = self.Item, self._t.Counter
        pk, stamp = self._t.person_pk(current.citizen_id), now.isoformat(timespec="seconds")
        facility, province = current.facility_id, current.province_code
        if facility is None:
            # A pointer written before it carried the scopes: read them from the version.
            version = self.get_version(current.citizen_id, current.version)
            attestation = json.loads(getattr(version, "attestation", None) or "{}")
            facility, province = attestation.get("facility_id"), attestation.get("province_code")
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                tx.update(Item(pk, _version_sk(current.version)), condition=Item.status == "ACTIVE", actions=[
                    Item.status.set(REVOKED), Item.revoked_at.set(stamp), Item.reason.set(NO_ATTESTED_DOSE),
                    Item.revoked_by.set(REEVALUATION_ACTOR)])
                tx.update(Item(pk, "CURRENT"),
                          condition=((Item.version == current.version) & Item.revocation_sequence.does_not_exist()
                                     & (Item.status.does_not_exist() | (Item.status != REVOKED))),
                          actions=[Item.status.set(REVOKED)])
                for r in revocations:
                    tx.save(Item("REVOKED", f"{r['type']}#{r['hash']}", reason=NO_ATTESTED_DOSE,
                                 **listing_attributes(r, stamp)))
                for item, actions in counter_updates(Counter, facility, province, {"passports_revoked": 1}):
                    tx.update(item, actions=actions)
        except TransactWriteError as e:
            if cancelled_by_condition(e) or cancelled_items(e, "TransactionConflict"):
                return False  # changed meanwhile: the message is retried and reads it again
            raise errors.DependencyUnavailable("passports: could not store the revocation") from e
        return True

    # -- ministry revocation (issuance/revocation.py) --------------------------------------------
    def find_by_uvci(self, uvci: str) -> RevocationTarget | None:
        """Two consistent reads: the UVCI's reservation names the person and version."""
        Item = self.Item
        try:
            ref = Item.get(f"UVCI#{uvci}", "UVCI", consistent_read=True)
            item = Item.get(self._t.person_pk(ref.citizen_id), _version_sk(int(ref.version)), consistent_read=True)
        except Item.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e
        attestation = json.loads(item.attestation or "{}")
        return RevocationTarget(item.citizen_id, int(item.version), item.uvci, item.status, item.signature, item.alg,
                                attestation.get("facility_id"), attestation.get("province_code"), item.reason,
                                item.revoked_at, _int_or_none(item.revocation_sequence), kid_b64=item.kid)

    def current_version(self, citizen_id: str) -> tuple[int, int | None] | None:
        current = self.current(citizen_id)
        return None if current is None else (current.version, current.revocation_sequence)

    def hold(self, citizen_id: str) -> Hold | None:
        try:
            item = self.Item.get(self._t.person_pk(citizen_id), "HOLD", consistent_read=True)
        except self.Item.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e
        return Hold(citizen_id, item.uvci, int(item.revocation_sequence))

    def lift(self, hold: Hold) -> bool:
        """Deletes the hold only if it is still this revocation's: a lift logged long ago and
        replayed never removes a later revocation's hold."""
        Item = self.Item
        try:
            Item(self._t.person_pk(hold.citizen_id), "HOLD").delete(
                condition=(Item.uvci == hold.uvci) & (Item.revocation_sequence == hold.revocation_sequence))
        except PynamoDBException as e:
            if is_conditional(e):
                return False
            raise errors.DependencyUnavailable("passports: could not lift the hold") from e
        return True

    def listed(self, entries: list[dict]) -> set[tuple[str, str]]:
        """One BatchGet of the list items (pk REVOKED, sk <type>#<hash>)."""
        try:
            found = self.Item.batch_get([("REVOKED", f"{e['type']}#{e['hash']}") for e in entries],
                                        attributes_to_get=["sk"])
            return {(kind, digest) for kind, _, digest in (i.sk.partition("#") for i in found)}
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e

    def revoke(self, target: RevocationTarget, *, entry: dict, sequence: int, entries: list[dict]) -> bool:
        """One transaction (9 items): the version, the CURRENT pointer, the person's hold, the list
        entries and the counters move together, or nothing does."""
        Item, Counter = self.Item, self._t.Counter
        pk, stamp, reason = self._t.person_pk(target.citizen_id), entry["revoked_at"], entry["reason"]
        for _attempt in range(REVOKE_ATTEMPTS):
            try:
                with TransactWrite(connection=self._t.connection) as tx:
                    tx.update(Item(pk, _version_sk(target.version)), condition=Item.status == "ACTIVE", actions=[
                        Item.status.set(REVOKED), Item.revoked_at.set(stamp), Item.reason.set(reason),
                        Item.revoked_by.set(json.dumps(entry["revoked_by"], ensure_ascii=False)),
                        Item.revocation_sequence.set(sequence)])
                    # Still current (no re-issue got there first) and marked, so a countersign
                    # worker that read it before sees its own write refused.
                    tx.update(Item(pk, "CURRENT"),
                              condition=(Item.version == target.version) & Item.revocation_sequence.does_not_exist(),
                              actions=[Item.status.set(REVOKED), Item.revocation_sequence.set(sequence)])
                    # Held until the ministry lifts it. Put unconditionally: a hold left behind
                    # (there should be none while a version is ACTIVE) must never stop a revocation.
                    tx.save(Item(pk, "HOLD", uvci=target.uvci, revocation_sequence=sequence, created_at=stamp))
                    for r in entries:
                        tx.save(Item("REVOKED", f"{r['type']}#{r['hash']}", reason=reason,
                                     **listing_attributes(r, stamp)))
                    for item, actions in counter_updates(Counter, target.facility_id, target.province_code,
                                                         {"passports_revoked": 1}):
                        tx.update(item, actions=actions)
            except TransactWriteError as e:
                if cancelled_by_condition(e):
                    return False
                if cancelled_items(e, "TransactionConflict"):
                    continue  # a concurrent transaction on these items: run again, its conditions decide
                raise errors.DependencyUnavailable("passports: could not store the revocation") from e
            return True
        raise errors.DependencyUnavailable("passports: too many concurrent changes; retry")


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


def _stored(citizen_id: str, item, hold) -> StoredPassport | None:
    if item is None:
        return None
    keys = json.loads(item.dose_keys) if item.dose_keys else None
    return StoredPassport(citizen_id, int(item.version), item.uvci, item.content_digest, item.signature,
                          item.alg, _int_or_none(item.revocation_sequence), revoked=item.status == REVOKED,
                          held_by=_int_or_none(hold.revocation_sequence) if hold is not None else None,
                          attestation_sequence=_int_or_none(item.attestation_sequence),
                          facility_id=item.facility_id, province_code=item.province_code,
                          dose_keys=tuple((f, r) for f, r in keys) if keys is not None else None,
                          dose_batches=frozenset(item.dose_batches or ()), kid_b64=item.kid)


class _Group:
    """The items of one store transaction, each with the person it belongs to, in the order
    pynamodb sends them (condition checks, then puts, then updates, then the shared counters), so
    a cancellation reason's index names its person."""

    def __init__(self, store: DynamoPassportStore, stamp: str) -> None:
        self._store = store
        self._stamp = stamp
        self.writes: list[PassportWrite] = []
        self.checks: list[tuple] = []
        self.puts: list[tuple] = []
        self.updates: list[tuple] = []
        self._check_owners: list[str] = []
        self._put_owners: list[str] = []
        self._update_owners: list[str] = []

    @property
    def owners(self) -> list[str | None]:
        shared: list[str | None] = [None] * (len(self.counter_updates()) + len(self.day_updates()))
        return [*self._check_owners, *self._put_owners, *self._update_owners, *shared]

    def reservation_and_version(self, cid: str) -> tuple[int, int]:
        """Transaction indexes of a person's UVCI reservation and version (their first two puts)."""
        first = len(self.checks) + self._put_owners.index(cid)
        return first, first + 1

    def counter_updates(self):
        return aggregate_counter_updates(self._store._t.Counter, [_counter_event(w) for w in self.writes])

    def day_updates(self):
        return issued_per_day_updates(self._store._t.Counter,
                                      [(w.passport.attestation.get("province_code"), self._stamp[:10])
                                       for w in self.writes])

    def add(self, w: PassportWrite) -> bool:
        """Adds a person's items if the transaction still has room for them (the first always fits)."""
        checks, puts, updates = _person_items(self._store.Item, w, self._stamp)
        size = len(self.checks) + len(self.puts) + len(self.updates) + len(checks) + len(puts) + len(updates)
        self.writes.append(w)
        if self.writes[1:] and size + len(self.counter_updates()) + len(self.day_updates()) > MAX_TRANSACTION_ITEMS:
            self.writes.pop()
            return False
        cid = w.passport.citizen_id
        self.checks += checks
        self.puts += puts
        self.updates += updates
        self._check_owners += [cid] * len(checks)
        self._put_owners += [cid] * len(puts)
        self._update_owners += [cid] * len(updates)
        return True


def _counter_event(w: PassportWrite):
    previous = w.previous
    supersedes = previous is not None and not previous.revoked
    a = w.passport.attestation
    return a.get("facility_id"), a.get("province_code"), {"passports_issued": 1,
                                                          **({"passports_revoked": 1} if supersedes else {})}


def _person_items(Item, w: PassportWrite, stamp: str) -> tuple[list, list, list]:
    """One person's condition checks, puts (the UVCI reservation first, then the version) and
    updates of a store transaction."""
    passport, previous = w.passport, w.previous
    pk = Item.tables.person_pk(passport.citizen_id)
    common: dict[str, Any] = dict(citizen_id=passport.citizen_id, version=passport.version, uvci=passport.uvci,
                                  alg=passport.alg, signature=passport.signature_b64,
                                  content_digest=passport.content_digest, kid=passport.kid_b64)
    # A previous version revoked in place (by the ministry, or for lack of an attested dose) is
    # already REVOKED, listed and counted: the new version leaves it as it is.
    over_revoked = previous is not None and previous.revoked
    over = (previous.revocation_sequence or 0) if previous is not None and over_revoked else None
    sequence = passport.attestation.get("sequence")
    checks: list[tuple] = []
    puts: list[tuple] = []
    updates: list[tuple] = []
    if previous is not None and previous.revocation_sequence is not None:
        # Only a version the ministry revoked can come with a hold: none may be in place.
        checks.append((Item, pk, "HOLD", Item.pk.does_not_exist()))
    # The reservation: a GSI cannot enforce uniqueness; this conditional item can.
    puts.append((Item(f"UVCI#{passport.uvci}", "UVCI", citizen_id=passport.citizen_id, version=passport.version,
                      created_at=stamp), Item.pk.does_not_exist()))
    puts.append((Item(pk, _version_sk(passport.version), gsi1pk=f"UVCI#{passport.uvci}", gsi1sk="V",
                      iat=passport.iat, exp=passport.exp, hc1=passport.hc1,
                      attestation=json.dumps(passport.attestation, ensure_ascii=False),
                      display=json.dumps(passport.display, ensure_ascii=False), status="ACTIVE",
                      created_at=stamp, issued_over_revocation=over, **common), Item.pk.does_not_exist()))
    if previous is None:
        current_condition = Item.pk.does_not_exist()
    elif not over_revoked:
        # ...and not revoked meanwhile: a revocation wins the race.
        current_condition = ((Item.version == previous.version) & Item.revocation_sequence.does_not_exist()
                             & (Item.status.does_not_exist() | (Item.status != REVOKED)))
    elif previous.revocation_sequence is None:
        current_condition = ((Item.version == previous.version) & (Item.status == REVOKED)
                             & Item.revocation_sequence.does_not_exist())
    else:
        current_condition = ((Item.version == previous.version)
                             & (Item.revocation_sequence == previous.revocation_sequence))
    dose_keys = json.dumps([list(k) for k in passport.dose_keys]) if passport.dose_keys is not None else None
    puts.append((Item(pk, "CURRENT", created_at=stamp, facility_id=passport.attestation.get("facility_id"),
                      province_code=passport.attestation.get("province_code"),
                      attestation_sequence=sequence if isinstance(sequence, int) else None, dose_keys=dose_keys,
                      dose_batches=set(passport.dose_batches) or None,
                      **common), current_condition))
    if previous is not None and not over_revoked:
        updates.append((Item(pk, _version_sk(previous.version)),
                        [Item.status.set("REVOKED"), Item.revoked_at.set(stamp)], None))
        for r in w.revocations:
            puts.append((Item("REVOKED", f"{r['type']}#{r['hash']}", reason=SUPERSEDED,
                              **listing_attributes(r, stamp)), None))
    return checks, puts, updates


class DynamoPassportReader:
    def __init__(self, store: DynamoPassportStore) -> None:
        self._store = store

    def current_passport(self, citizen_id: str) -> dict | None:
        cur = self._store.current(citizen_id)
        if cur is None:
            return None
        item = self._store.get_version(citizen_id, cur.version)
        if item is None:
            return None
        return {"version": int(item.version), "uvci": item.uvci, "hc1": item.hc1, "iat": int(item.iat),
                "exp": int(item.exp), "status": item.status, "display": json.loads(item.display or "{}"),
                "reason": item.reason, "revoked_at": item.revoked_at}
