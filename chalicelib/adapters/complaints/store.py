"""DynamoDB adapter of the complaint store (chalicelib/complaints/service.py).

Item layout of the complaints table (overloaded keys, see infra/spec.py):

  pk CMP#<complaint_id>              sk CMP     the complaint: doc (JSON of domain.Complaint), version,
                                                claim_token, claimed_until (while a resolution corrects the record),
                                                gsi1 FAC#<facility_id> / <status>#<due_at>#<id>  (a facility's
                                                     complaints by status, due first)
                                                gsi2 CIT#<pseudonym> / <filed_at>#<id>           (a citizen's, newest
                                                     first with a descending Query)
  pk PROV#<province>#OPEN            sk <due_at>#<complaint_id>
                                                a copy of an OPEN complaint (doc, facility_id), written in the same
                                                transaction as every change of the complaint and deleted when it
                                                closes: "overdue in a province" is one Query on the base table,
                                                pk = PROV#<code>#OPEN and sk < now, never a Scan, and needs no
                                                third index
  pk IDEMP#<keyed hash of citizen, facility, record, key>  sk IDEMP   complaint_id: the Idempotency-Key of a filing

Times in keys are UTC ISO-8601 to the second, so their string order is time order.

Counting happens in the same transaction as the write that records the event: filing (conditional
on the complaint and idempotency items not existing) adds complaints_received; closing (conditional
on the stored version) adds complaints_resolved. A retried call fails its condition and counts nothing.
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import cached_property

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.counters import counter_updates
from chalicelib.adapters.dynamo import SealedFields, Tables, cancelled_by_condition, gsi, is_conditional, model_meta
from chalicelib.complaints.domain import Complaint
from chalicelib.timestamps import utc_iso


def cmp_pk(complaint_id: str) -> str:
    return f"CMP#{complaint_id}"


def open_pk(province_code: str) -> str:
    return f"PROV#{province_code}#OPEN"


class DynamoComplaintStore:
    def __init__(self, tables: Tables, idempotency_retention_days: int = 7) -> None:
        self._t = tables
        self._idempotency_keep_s = idempotency_retention_days * 86400

    @cached_property
    def Item(self):
        s = self._t.settings

        class ComplaintItem(SealedFields, Model):
            Meta = model_meta(s, "complaints")
            seal_groups = {"sealed": ("doc",)}  # the complaint names its citizen and what they wrote
            logical, tables = "complaints", self._t
            sealed = UnicodeAttribute(null=True)
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            gsi2pk = UnicodeAttribute(null=True)
            gsi2sk = UnicodeAttribute(null=True)
            by_facility = gsi(1, s)
            by_citizen = gsi(2, s)
            complaint_id = UnicodeAttribute(null=True)
            facility_id = UnicodeAttribute(null=True)
            status = UnicodeAttribute(null=True)
            version = NumberAttribute(null=True)
            doc = UnicodeAttribute(null=True)
            claim_token = UnicodeAttribute(null=True)
            claimed_until = UnicodeAttribute(null=True)
            ttl = NumberAttribute(null=True)  # IDEMP items only: the table's TTL attribute

        return ComplaintItem

    # -- items --------------------------------------------------------------------------------
    def _main(self, c: Complaint):
        return self.Item(cmp_pk(c.complaint_id), "CMP", complaint_id=c.complaint_id, facility_id=c.facility_id,
                         status=c.status, version=c.version, doc=_doc(c),
                         gsi1pk=f"FAC#{c.facility_id}", gsi1sk=f"{c.status}#{utc_iso(c.due_at)}#{c.complaint_id}",
                         gsi2pk=self._t.citizen_key(c.citizen_id), gsi2sk=f"{utc_iso(c.filed_at)}#{c.complaint_id}")

    def _open_copy(self, c: Complaint):
        return self.Item(open_pk(c.province_code), f"{utc_iso(c.due_at)}#{c.complaint_id}",
                         complaint_id=c.complaint_id, facility_id=c.facility_id, status=c.status,
                         version=c.version, doc=_doc(c))

    def _idempotency(self, c: Complaint, key: str):
        # Hashed, so no record id or key holding '#' can spell another filing's item (record "R#x"
        # with key "k" was record "R" with key "x#k"), and the facility is part of it: record ids
        # are unique per facility only.
        # Keyed (a plain hash of a citizen id can be reversed by trying the 10^12 ids).
        raw = json.dumps([c.citizen_id, c.facility_id, c.record_id, key], ensure_ascii=False)
        # Expires by TTL (VAXPASS_IDEMPOTENCY_RETENTION_DAYS): a retry comes within minutes, and a
        # kept key would keep saying that this citizen filed about this record.
        return self.Item(f"IDEMP#{self._t.pseudonyms.pseudonym(raw, kind='complaint-filing')}", "IDEMP",
                         complaint_id=c.complaint_id, ttl=int(c.filed_at.timestamp()) + self._idempotency_keep_s)

    # -- writes -------------------------------------------------------------------------------
    def create(self, complaint: Complaint, idempotency_key: str) -> Complaint:
        Item = self.Item
        idem = self._idempotency(complaint, idempotency_key)
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                tx.save(idem, condition=Item.pk.does_not_exist())
                tx.save(self._main(complaint), condition=Item.pk.does_not_exist())
                tx.save(self._open_copy(complaint))
                for item, actions in counter_updates(self._t.Counter, complaint.facility_id,
                                                     complaint.province_code, {"complaints_received": 1}):
                    tx.update(item, actions=actions)
        except TransactWriteError as e:
            if not cancelled_by_condition(e):
                raise errors.DependencyUnavailable("complaints: could not store the complaint") from e
            # Filed before with this key: answer with that complaint (nothing new was counted).
            existing = self._existing_for(idem.pk)
            if existing is None:
                raise errors.Conflict("a concurrent filing with this Idempotency-Key is in progress") from e
            return existing
        return complaint

    def _existing_for(self, idem_pk: str) -> Complaint | None:
        try:
            idem = self.Item.get(idem_pk, "IDEMP", consistent_read=True)
        except self.Item.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("complaints: read failed") from e
        return self.get(idem.complaint_id)

    def _unclaimed(self, now: datetime):
        Item = self.Item
        return Item.claimed_until.does_not_exist() | (Item.claimed_until < utc_iso(now))

    def claim(self, complaint: Complaint, *, token: str, until: datetime, now: datetime) -> None:
        Item = self.Item
        try:
            Item(cmp_pk(complaint.complaint_id), "CMP").update(
                actions=[Item.claim_token.set(token), Item.claimed_until.set(utc_iso(until))],
                condition=(Item.version == complaint.version) & self._unclaimed(now))
        except PynamoDBException as e:
            if is_conditional(e):
                raise errors.Conflict("the complaint changed meanwhile or is being resolved by someone else; "
                                      "read it again", details={"complaint_id": complaint.complaint_id}) from e
            raise errors.DependencyUnavailable("complaints: could not claim the complaint") from e

    def release(self, complaint: Complaint, *, token: str) -> None:
        Item = self.Item
        try:
            Item(cmp_pk(complaint.complaint_id), "CMP").update(
                actions=[Item.claim_token.remove(), Item.claimed_until.remove()],
                condition=Item.claim_token == token)
        except PynamoDBException:
            pass  # best effort: an unreleased claim lapses after its lease

    def save_change(self, complaint: Complaint, *, expected_version: int, now: datetime,
                    claim: str | None = None) -> None:
        Item = self.Item
        held = self._unclaimed(now) if claim is None else (Item.claim_token == claim)
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                # A put: the new item carries no claim, so saving drops it.
                tx.save(self._main(complaint), condition=(Item.version == expected_version) & held)
                if complaint.is_open:
                    tx.save(self._open_copy(complaint))
                else:
                    tx.delete(self._open_copy(complaint))
                    for item, actions in counter_updates(self._t.Counter, complaint.facility_id,
                                                         complaint.province_code, {"complaints_resolved": 1}):
                        tx.update(item, actions=actions)
        except TransactWriteError as e:
            if cancelled_by_condition(e):
                raise errors.Conflict("the complaint changed meanwhile; read it again",
                                      details={"complaint_id": complaint.complaint_id}) from e
            raise errors.DependencyUnavailable("complaints: could not store the change") from e

    # -- reads --------------------------------------------------------------------------------
    def get(self, complaint_id: str) -> Complaint | None:
        try:
            item = self.Item.get(cmp_pk(complaint_id), "CMP", consistent_read=True)
        except self.Item.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("complaints: read failed") from e
        return _complaint(item)

    def for_facility(self, facility_id: str, status: str | None) -> list[Complaint]:
        Item = self.Item
        condition = Item.gsi1sk.startswith(f"{status}#") if status else None
        return self._query(lambda: Item.by_facility.query(f"FAC#{facility_id}", condition))

    def for_citizen(self, citizen_id: str) -> list[Complaint]:
        key = self._t.citizen_key(citizen_id)
        return self._query(lambda: self.Item.by_citizen.query(key, scan_index_forward=False))

    def open_due_before(self, province_code: str, before: datetime) -> list[Complaint]:
        Item = self.Item
        return self._query(lambda: Item.query(open_pk(province_code), Item.sk < utc_iso(before)))

    def _query(self, run) -> list[Complaint]:
        try:
            return [_complaint(i) for i in run()]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("complaints: read failed") from e


def _doc(c: Complaint) -> str:
    return json.dumps(c.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _complaint(item) -> Complaint:
    return Complaint.from_dict(json.loads(item.doc))
