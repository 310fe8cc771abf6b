"""pynamodb models for the vaxpass tables, bound at run time to the configured table names.

Table names depend on the stage prefix (and on the unique prefix of a test run), so the model
classes are built per Settings by `Tables(settings)`, never at import. Item layouts:

Citizen ids never appear in keys: <citizen> below is its pseudonym (`Tables.citizen`, a keyed hash,
chalicelib/adapters/privacy.py), and the personal fields of an item are sealed (`SealedFields`):
records `data`, `original` (attribute `sealed`) and `cleaning`, `matched_citizen_id`,
`moved_from_citizen_id` (attribute `sealed_match`); registry people `citizen_id`, `full_name`,
`date_of_birth`; passports and complaints, see their adapters.

records    pk REC#<facility>#<record_id>  sk REC      gsi1 CIT#<citizen> / <vacc date>#<dose>
                                                        gsi2 FAC#<facility>#<state> / <record_id>
           (the latest version only, with earlier_digests: the digests of every earlier one)
batches    pk BATCH#<id>                  sk BATCH    (progress counts, checkpoint)
           pk IDEMP#<keyed hash of caller and key> sk IDEMP (API idempotency; caller = hash of
                                                       role, scope and subject; ttl)
registry   pk P#<citizen>                 sk P        (a person)
           pk BK#<blocking key's pseudonym> sk BLOCK  members: string set of the pseudonyms of the citizens indexed
                                                       under that key (candidate search is a BatchGet)
counters   pk NATIONAL | PROV#<code> | FAC#<id>  sk TOTAL   (numeric counters, ADD only)
           pk NATIONAL | PROV#<code>          sk DAY#<yyyy-mm-dd>  (passports_issued that day, UTC)
           NATIONAL and PROV# items are write-sharded: shard k > 0 of a scope is pk <scope>#S<kk>
           (shard 0 is the bare scope); a scope's value is the sum of its shards
           FAC# items also carry province_code and gsi1 PROV#<code> / FAC#<id>, so the facilities
           of a province are one Query (see chalicelib/adapters/counters.py)
access     pk READ#<facility>#<record_id>  sk <at>#<nonce>   one read of a record's cleaning result (role,
                                                             subject, scope, facility_id, record_id, at);
                                                             gsi1 BY#<role>#<scope or subject> / <at>#<nonce>
           pk WHO#<pseudonym>  sk <at>#<nonce>               any other read of a person's data (route,
                                                             shown: JSON list of keys); every read that
                                                             showed a person also has gsi2 WHO#<pseudonym>
                                                             / <at>#<nonce>. Written only if new (append-only)
           pk RATE#<caller>  sk <window start, epoch s>      used: records counted in the window
           (every access item expires by `ttl`; adapters/cleaning/access_log.py, adapters/intake/rate_windows.py)
"""
from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import errors
from chalicelib.privacy import Pseudonyms, Sealer
from chalicelib.settings import Settings


def record_pk(facility_id: str, record_id: str) -> str:
    return f"REC#{facility_id}#{record_id}"


def batch_pk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def cancelled_items(e: TransactWriteError, code: str = "ConditionalCheckFailed") -> set[int]:
    """Indexes of the transaction items cancelled for `code` (ConditionalCheckFailed,
    TransactionConflict), in pynamodb's item order."""
    return {i for i, r in enumerate(getattr(e, "cancellation_reasons", None) or [])
            if r is not None and getattr(r, "code", None) == code}


def cancelled_by_condition(e: TransactWriteError) -> bool:
    """A transaction refused because one of its conditions failed (not a fault: a lost race)."""
    return bool(cancelled_items(e, "ConditionalCheckFailed"))


def is_conditional(e: PynamoDBException) -> bool:
    """A single-item write refused because its condition failed."""
    return getattr(e, "cause_response_code", None) == "ConditionalCheckFailedException"


SEAL_PURPOSE = "vaxpass-personal-fields"


class SealedFields:
    """Mixin (before `Model`) that stores named groups of attributes as one sealed attribute each.

    Why at the model: every write path (save, batch_write, TransactWrite) serialises the item, and
    every read path (get, batch_get, query, scan, update's answer) deserialises it, so the adapters
    keep reading and writing `item.data` as before. Each group is bound to the table, the item's pk
    and sk and the group's name; an update action that changes a group writes it whole
    (`seal_action`). A projection must name the group, pk and sk (`Tables.fields`)."""

    seal_groups: dict[str, tuple[str, ...]] = {}
    logical: str = ""
    tables: Any = None

    @classmethod
    def _seal_context(cls, group: str, pk: str, sk: str) -> dict[str, str]:
        return {"purpose": SEAL_PURPOSE, "table": cls.logical, "pk": pk, "sk": sk, "attr": group}

    def serialize(self, null_check: bool = True):
        values = super().serialize(null_check)  # type: ignore[misc]
        for group, names in self.seal_groups.items():
            plain = {n: values.pop(n) for n in names if n in values}
            values.pop(group, None)
            if plain:
                ctx = self._seal_context(group, values["pk"]["S"], values["sk"]["S"])
                values[group] = {"S": self.tables.sealer.seal(ctx, json.dumps(plain).encode())}
        return values

    @classmethod
    def _unseal(cls, values: dict) -> dict:
        if not any(g in values for g in cls.seal_groups):
            return values
        values = dict(values)
        for group in cls.seal_groups:
            blob = values.pop(group, None)
            if blob is not None:
                ctx = cls._seal_context(group, values["pk"]["S"], values["sk"]["S"])
                values.update(json.loads(cls.tables.sealer.open(ctx, blob["S"])))
        return values

    @classmethod
    def _instantiate(cls, attribute_values):
        return super()._instantiate(cls._unseal(attribute_values))  # type: ignore[misc]

    def deserialize(self, attribute_values) -> None:
        return super().deserialize(self._unseal(attribute_values))  # type: ignore[misc]

    @classmethod
    def seal_action(cls, group: str, pk: str, sk: str, **values: Any):
        """The update action that sets `group` to `values` (None: absent), sealed for item (pk, sk)."""
        attrs = cls.get_attributes()  # type: ignore[attr-defined]
        plain = {n: {attrs[n].attr_type: attrs[n].serialize(v)} for n, v in values.items() if v is not None}
        return attrs[group].set(cls.tables.sealer.seal(cls._seal_context(group, pk, sk), json.dumps(plain).encode()))


def read_failed(what: str) -> errors.DependencyUnavailable:
    return errors.DependencyUnavailable(f"{what}: read failed")


def model_meta(settings: Settings, logical: str):
    return type("Meta", (), {
        "table_name": settings.table(logical),
        "region": settings.region,
        "host": settings.endpoint_url,
        "max_retry_attempts": 5,
        "connect_timeout_seconds": 5,
        "read_timeout_seconds": 20,
    })


def gsi(n: int, settings: Settings):
    attrs = {
        "Meta": type("Meta", (), {"index_name": f"gsi{n}", "projection": AllProjection()}),
        f"gsi{n}pk": UnicodeAttribute(hash_key=True),
        f"gsi{n}sk": UnicodeAttribute(range_key=True),
    }
    return type(f"Gsi{n}", (GlobalSecondaryIndex,), attrs)()


class Tables:
    """The model classes of one deployment (one Settings)."""

    def __init__(self, settings: Settings, *, pseudonyms: Pseudonyms | None = None,
                 sealer: Sealer | None = None) -> None:
        self.settings = settings
        # The container passes its own (one KMS client per process); tests reading the tables
        # directly get the real ones built here.
        if pseudonyms is not None:
            self.pseudonyms = pseudonyms
        if sealer is not None:
            self.sealer = sealer

    @cached_property
    def _kms(self):
        import boto3

        return boto3.client("kms", region_name=self.settings.region, endpoint_url=self.settings.endpoint_url)

    @cached_property
    def pseudonyms(self) -> Pseudonyms:
        from chalicelib.adapters.privacy import KmsPseudonyms

        return KmsPseudonyms(self._kms, self.settings.key_alias("pseudonym"))

    @cached_property
    def sealer(self) -> Sealer:
        from chalicelib.adapters.privacy import EsdkSealer

        return EsdkSealer(self._kms, self.settings.key_alias("data"))

    def citizen(self, citizen_id: str) -> str:
        """The pseudonym that stands for a citizen id in every key."""
        return self.pseudonyms.pseudonym(citizen_id)

    def citizen_key(self, citizen_id: str) -> str:
        return f"CIT#{self.citizen(citizen_id)}"

    def person_pk(self, citizen_id: str) -> str:
        return f"P#{self.citizen(citizen_id)}"

    @staticmethod
    def fields(model, names) -> list[str]:
        """A projection naming sealed attributes: their group instead, and the key they are bound to."""
        groups = getattr(model, "seal_groups", {})
        out = [next((g for g, members in groups.items() if n in members), n) for n in names]
        return list(dict.fromkeys(out + (["pk", "sk"] if groups else [])))

    @cached_property
    def connection(self) -> Connection:
        return Connection(region=self.settings.region, host=self.settings.endpoint_url,
                          max_retry_attempts=5)

    @cached_property
    def Record(self):
        s = self.settings

        class RecordItem(SealedFields, Model):
            Meta = model_meta(s, "records")
            seal_groups = {"sealed": ("data", "original"),
                           "sealed_match": ("cleaning", "matched_citizen_id", "moved_from_citizen_id")}
            logical, tables = "records", self
            sealed = UnicodeAttribute(null=True)
            sealed_match = UnicodeAttribute(null=True)
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            gsi2pk = UnicodeAttribute(null=True)
            gsi2sk = UnicodeAttribute(null=True)
            by_citizen = gsi(1, s)
            by_facility_state = gsi(2, s)
            facility_id = UnicodeAttribute()
            record_id = UnicodeAttribute()
            province_code = UnicodeAttribute()
            batch_id = UnicodeAttribute(null=True)
            row_number = NumberAttribute(null=True)
            digest = UnicodeAttribute()
            version = NumberAttribute(default=1)
            # Digests of every earlier version: a row equal to one of them is a stale copy, a
            # duplicate, never a new version (chalicelib/intake/service.py).
            earlier_digests = UnicodeSetAttribute(null=True)
            data = UnicodeAttribute()  # canonical record fields, JSON
            original = UnicodeAttribute(null=True)  # the row as received, JSON
            state = UnicodeAttribute(default="PENDING")  # cleaning outcome or PENDING
            cleaned_version = NumberAttribute(default=0)
            # The outcome this record currently adds to the counters; survives new versions so the
            # next verification can move the count from the old outcome to the new one.
            counted_state = UnicodeAttribute(null=True)
            cleaning = UnicodeAttribute(null=True)  # CleaningResult, JSON
            # The citizen the last cleaned version matched; carried over to new versions (intake), so
            # the cleaning of a version that matches someone else knows whose passport to re-evaluate
            # (moved_from_citizen_id, kept for a redelivered cleaning message to queue again).
            matched_citizen_id = UnicodeAttribute(null=True)
            moved_from_citizen_id = UnicodeAttribute(null=True)
            # Facility signing (chalicelib/adapters/signing/records.py): the batch holding this version
            # until signing_until (UTC, ...Z), and the batch whose attestation covered it. A new
            # version rewrites the item, which clears them: changed records are signed again.
            signing_batch = UnicodeAttribute(null=True)
            signing_until = UnicodeAttribute(null=True)
            signed_batch = UnicodeAttribute(null=True)
            created_at = UnicodeAttribute()
            updated_at = UnicodeAttribute()

        return RecordItem

    @cached_property
    def Batch(self):
        s = self.settings

        class BatchItem(Model):
            Meta = model_meta(s, "batches")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            batch_id = UnicodeAttribute(null=True)
            kind = UnicodeAttribute(default="upload")
            province_code = UnicodeAttribute(null=True)
            source = UnicodeAttribute(null=True)  # s3://bucket/key or api
            etag = UnicodeAttribute(null=True)
            status = UnicodeAttribute(null=True)
            received = NumberAttribute(default=0)
            accepted = NumberAttribute(default=0)
            duplicates = NumberAttribute(default=0)
            rejected = NumberAttribute(default=0)
            queued = NumberAttribute(default=0)
            cleaned = NumberAttribute(default=0)
            rows_done = NumberAttribute(default=0)
            chunks_done = NumberAttribute(default=0)
            # Which intake message carries the batch: 0 its S3 notification, n its n-th
            # continuation (chalicelib/intake/uploads.py).
            continuation = NumberAttribute(default=0)
            report_key = UnicodeAttribute(null=True)
            error_code = UnicodeAttribute(null=True)
            error_message = UnicodeAttribute(null=True)
            failure = UnicodeAttribute(null=True)  # why FAILED: "file" or "delivery" (intake/service.py)
            response = UnicodeAttribute(null=True)  # idempotent API response, JSON
            created_at = UnicodeAttribute(null=True)
            updated_at = UnicodeAttribute(null=True)
            ttl = NumberAttribute(null=True)

        return BatchItem

    @cached_property
    def Person(self):
        s = self.settings

        class PersonItem(SealedFields, Model):
            Meta = model_meta(s, "registry")
            seal_groups = {"sealed": ("citizen_id", "full_name", "date_of_birth")}
            logical, tables = "registry", self
            sealed = UnicodeAttribute(null=True)
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            citizen_id = UnicodeAttribute()
            full_name = UnicodeAttribute()
            date_of_birth = UnicodeAttribute()
            sex = UnicodeAttribute()
            province_code = UnicodeAttribute()

        return PersonItem

    @cached_property
    def Block(self):
        s = self.settings

        class BlockItem(Model):
            Meta = model_meta(s, "registry")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            members = UnicodeSetAttribute(null=True)

        return BlockItem

    @cached_property
    def Counter(self):
        s = self.settings

        class CounterItem(Model):
            Meta = model_meta(s, "counters")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            received = NumberAttribute(null=True)
            duplicates = NumberAttribute(null=True)
            rejected = NumberAttribute(null=True)
            verified = NumberAttribute(null=True)
            verified_normalized = NumberAttribute(null=True)
            mismatched = NumberAttribute(null=True)
            not_found = NumberAttribute(null=True)
            ambiguous = NumberAttribute(null=True)
            invalid = NumberAttribute(null=True)
            corrected = NumberAttribute(null=True)
            passports_issued = NumberAttribute(null=True)
            passports_revoked = NumberAttribute(null=True)
            signed_by_facility = NumberAttribute(null=True)
            complaints_received = NumberAttribute(null=True)
            complaints_resolved = NumberAttribute(null=True)
            countersign_chunks_refused = NumberAttribute(null=True)
            countersign_entries_not_attested = NumberAttribute(null=True)
            # FAC# items only: the facility's province, and the index that lists them per province.
            province_code = UnicodeAttribute(null=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            by_province = gsi(1, s)
            # Not an attribute: how many shards NATIONAL and PROV# items are spread over.
            write_shards = s.counter_shards

        return CounterItem

    @cached_property
    def Access(self):
        s = self.settings

        class AccessItem(Model):
            Meta = model_meta(s, "access")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            by_reader = gsi(1, s)
            gsi2pk = UnicodeAttribute(null=True)
            gsi2sk = UnicodeAttribute(null=True)
            by_person = gsi(2, s)
            role = UnicodeAttribute(null=True)
            subject = UnicodeAttribute(null=True)
            scope = UnicodeAttribute(null=True)
            facility_id = UnicodeAttribute(null=True)
            record_id = UnicodeAttribute(null=True)
            route = UnicodeAttribute(null=True)
            shown = UnicodeAttribute(null=True)
            at = UnicodeAttribute(null=True)
            used = NumberAttribute(null=True)
            ttl = NumberAttribute(null=True)

        return AccessItem
