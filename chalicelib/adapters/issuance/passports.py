"""The passports table: the passport store (countersigning, re-evaluation, ministry revocations)
and the reader behind the passport routes.

passports  pk P#<citizen_id>  sk V#<version, 6 digits>   one passport version (gsi1 UVCI#<uvci>); a ministry
                                                         revocation adds reason, revoked_by, revocation_sequence
           pk P#<citizen_id>  sk CURRENT                 pointer to the current version (status REVOKED and,
                                                         for the ministry, revocation_sequence while that
                                                         version stands revoked; the attestation sequence
                                                         it accounts for, its facility and province)
           pk P#<citizen_id>  sk HOLD                    a ministry revocation holds the person: uvci,
                                                         revocation_sequence (deleted when the ministry lifts it)
           pk REVOKED         sk <type>#<hash>           revocation list entries
           pk UVCI#<uvci>     sk UVCI                    reservation: a UVCI is issued once, ever
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.counters import counter_updates, issued_per_day_updates
from chalicelib.adapters.dynamo import Tables, cancelled_by_condition, cancelled_items, gsi, is_conditional, model_meta
from chalicelib.issuance.domain import NO_ATTESTED_DOSE
from chalicelib.issuance.revocation import REVOKED, SUPERSEDED, Hold, RevocationTarget
from chalicelib.issuance.service import NewPassport, StoredPassport

REVOKE_ATTEMPTS = 5
# Who revoked a version for lack of an attested dose (a ministry revocation names the official).
REEVALUATION_ACTOR = json.dumps({"role": "system", "id": "re-evaluation"})


def _version_sk(version: int) -> str:
    return f"V#{version:06d}"


class DynamoPassportStore:
    def __init__(self, tables: Tables) -> None:
        s = tables.settings
        self._t = tables

        class PassportItem(Model):
            Meta = model_meta(s, "passports")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            by_uvci = gsi(1, s)
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

        self.Item = PassportItem

    def current(self, citizen_id: str) -> StoredPassport | None:
        """One consistent Query of the person's CURRENT pointer and HOLD item (they sort next to
        each other: "CURRENT" < "HOLD" < "V#..."), so the hold costs no extra request."""
        Item = self.Item
        try:
            found = {i.sk: i for i in Item.query(f"P#{citizen_id}", Item.sk.between("CURRENT", "HOLD"),
                                                 consistent_read=True)}
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e
        item, hold = found.get("CURRENT"), found.get("HOLD")
        if item is None:
            return None
        return StoredPassport(citizen_id, int(item.version), item.uvci, item.content_digest, item.signature,
                              item.alg, _int_or_none(item.revocation_sequence), revoked=item.status == REVOKED,
                              held_by=_int_or_none(hold.revocation_sequence) if hold is not None else None,
                              attestation_sequence=_int_or_none(item.attestation_sequence),
                              facility_id=item.facility_id, province_code=item.province_code)

    def get_version(self, citizen_id: str, version: int):
        try:
            return self.Item.get(f"P#{citizen_id}", _version_sk(version), consistent_read=True)
        except self.Item.DoesNotExist:
            return None

    def save_new(self, passport: NewPassport, previous: StoredPassport | None, revocations: list[dict],
                 now: datetime) -> bool:
        Item, Counter = self.Item, self._t.Counter
        stamp = now.isoformat(timespec="seconds")
        pk = f"P#{passport.citizen_id}"
        common: dict[str, Any] = dict(citizen_id=passport.citizen_id, version=passport.version, uvci=passport.uvci,
                                      alg=passport.alg, signature=passport.signature_b64,
                                      content_digest=passport.content_digest)
        # A previous version revoked in place (by the ministry, or for lack of an attested dose) is
        # already REVOKED, listed and counted: the new version leaves it as it is.
        over_revoked = previous is not None and previous.revoked
        over = (previous.revocation_sequence or 0) if previous is not None and over_revoked else None
        sequence = passport.attestation.get("sequence")
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                if previous is not None and previous.revocation_sequence is not None:
                    # Only a version the ministry revoked can come with a hold: none may be in place.
                    # (pynamodb sends condition checks first: the reservation below is then item 1.)
                    tx.condition_check(Item, pk, "HOLD", condition=Item.pk.does_not_exist())
                # First put, so its cancellation reason means "UVCI taken". A GSI cannot enforce
                # uniqueness; this conditional item can.
                tx.save(Item(f"UVCI#{passport.uvci}", "UVCI", citizen_id=passport.citizen_id,
                             version=passport.version, created_at=stamp),
                        condition=Item.pk.does_not_exist())
                tx.save(Item(pk, _version_sk(passport.version), gsi1pk=f"UVCI#{passport.uvci}", gsi1sk="V",
                             kid=passport.kid_b64, iat=passport.iat, exp=passport.exp, hc1=passport.hc1,
                             attestation=json.dumps(passport.attestation, ensure_ascii=False),
                             display=json.dumps(passport.display, ensure_ascii=False), status="ACTIVE",
                             created_at=stamp, issued_over_revocation=over, **common),
                        condition=Item.pk.does_not_exist())
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
                tx.save(Item(pk, "CURRENT", created_at=stamp, facility_id=passport.attestation.get("facility_id"),
                             province_code=passport.attestation.get("province_code"),
                             attestation_sequence=sequence if isinstance(sequence, int) else None, **common),
                        condition=current_condition)
                supersedes = previous is not None and not over_revoked
                if previous is not None and supersedes:
                    tx.update(Item(pk, _version_sk(previous.version)),
                              actions=[Item.status.set("REVOKED"), Item.revoked_at.set(stamp)])
                    for r in revocations:
                        tx.save(Item("REVOKED", f"{r['type']}#{r['hash']}", revoked_at=stamp, reason=SUPERSEDED))
                facility = passport.attestation.get("facility_id")
                province = passport.attestation.get("province_code")
                moves = {"passports_issued": 1, **({"passports_revoked": 1} if supersedes else {})}
                for item, actions in counter_updates(Counter, facility, province, moves):
                    tx.update(item, actions=actions)
                # The per-day series behind the dashboard (UTC day of issue), nation and province.
                for item, actions in issued_per_day_updates(Counter, [(province, stamp[:10])]):
                    tx.update(item, actions=actions)
        except TransactWriteError as e:
            checks = 1 if previous is not None and previous.revocation_sequence is not None else 0
            if _uvci_taken(e, checks):
                # 128 random bits make this practically impossible; if it happens, the message is
                # retried and the retry draws a new UVCI.
                raise errors.DependencyUnavailable("passports: the drawn UVCI is already issued; retry") from e
            if cancelled_by_condition(e):
                return False
            raise errors.DependencyUnavailable("passports: could not store the passport") from e
        return True

    def revoke_unattested(self, current: StoredPassport, revocations: list[dict], now: datetime) -> bool:
        """One transaction: the version REVOKED with the reason, the CURRENT pointer marked (no
        revocation_sequence: it is not the ministry's, and no hold), the list entries, and
        `passports_revoked` on the version's facility and province; only while the version is
        still the current ACTIVE one."""
        Item, Counter = self.Item, self._t.Counter
        pk, stamp = f"P#{current.citizen_id}", now.isoformat(timespec="seconds")
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
                    tx.save(Item("REVOKED", f"{r['type']}#{r['hash']}", revoked_at=stamp, reason=NO_ATTESTED_DOSE))
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
            item = Item.get(f"P#{ref.citizen_id}", _version_sk(int(ref.version)), consistent_read=True)
        except Item.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e
        attestation = json.loads(item.attestation or "{}")
        return RevocationTarget(item.citizen_id, int(item.version), item.uvci, item.status, item.signature, item.alg,
                                attestation.get("facility_id"), attestation.get("province_code"), item.reason,
                                item.revoked_at, _int_or_none(item.revocation_sequence))

    def current_version(self, citizen_id: str) -> tuple[int, int | None] | None:
        current = self.current(citizen_id)
        return None if current is None else (current.version, current.revocation_sequence)

    def hold(self, citizen_id: str) -> Hold | None:
        try:
            item = self.Item.get(f"P#{citizen_id}", "HOLD", consistent_read=True)
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
            Item(f"P#{hold.citizen_id}", "HOLD").delete(
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
        pk, stamp, reason = f"P#{target.citizen_id}", entry["revoked_at"], entry["reason"]
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
                        tx.save(Item("REVOKED", f"{r['type']}#{r['hash']}", revoked_at=stamp, reason=reason))
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


def _uvci_taken(e: TransactWriteError, checks: int = 0) -> bool:
    # The reservation is the first put and the new version the second (pynamodb keeps the order of
    # puts, after `checks` condition checks). If both conditions failed, this very transaction was
    # already committed (a resent request) or another worker stored the version: a lost race, not
    # a clash of random UVCIs.
    failed = cancelled_items(e, "ConditionalCheckFailed")
    return checks in failed and checks + 1 not in failed


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
