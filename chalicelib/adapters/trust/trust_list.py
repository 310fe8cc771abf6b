"""DynamoDB adapters for trust: DSC certificates (signing table) and revocations (passports table).

signing    pk DSC        sk <kid>            certificate PEM, key_ref, registered_at
passports  pk REVOKED    sk <type>#<hash>    revoked_at, reason, kid (of the DSC that signed it);
                                             gsi2 LISTED#<shard> / <revoked_at>#<type>#<hash>

gsi2 lets the revocation publisher read only what was listed since its last run, in time order.
It is spread over LISTED_SHARDS partition keys (by the hash's first byte): every re-issue lists
three hashes, and one GSI partition key takes about 1,000 writes a second before it throttles the
table's writes with it.
"""
from __future__ import annotations

import base64
from typing import Iterator

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, gsi, model_meta
from chalicelib.dcc.revocation_batches import ListedHash
from chalicelib.trust.service import DscEntry

LISTED_SHARDS = 16


def listing_attributes(entry: dict, revoked_at: str) -> dict:
    """The attributes of a revocation-list item besides its key and reason: what the publisher
    reads (kid, and the gsi2 position in time order)."""
    shard = base64.b64decode(entry["hash"])[0] % LISTED_SHARDS
    return {"revoked_at": revoked_at, "kid": entry.get("kid"), "gsi2pk": f"LISTED#{shard:02d}",
            "gsi2sk": f"{revoked_at}#{entry['type']}#{entry['hash']}"}


class DynamoDscRepository:
    def __init__(self, tables: Tables) -> None:
        s = tables.settings

        class DscItem(Model):
            Meta = model_meta(s, "signing")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            certificate = UnicodeAttribute()
            key_ref = UnicodeAttribute(null=True)
            registered_at = UnicodeAttribute()

        self._Item = DscItem

    def all(self) -> list[DscEntry]:
        try:
            return [DscEntry(i.sk, x509.load_pem_x509_certificate(i.certificate.encode()), i.key_ref,
                             i.registered_at) for i in self._Item.query("DSC")]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("trust: read failed") from e

    def put(self, entry: DscEntry) -> None:
        try:
            self._Item("DSC", entry.kid, certificate=entry.certificate.public_bytes(Encoding.PEM).decode(),
                       key_ref=entry.key_ref, registered_at=entry.registered_at).save()
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("trust: write failed") from e


class DynamoRevocationRepository:
    def __init__(self, tables: Tables) -> None:
        s = tables.settings

        class RevokedItem(Model):
            Meta = model_meta(s, "passports")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            revoked_at = UnicodeAttribute(null=True)
            reason = UnicodeAttribute(null=True)
            kid = UnicodeAttribute(null=True)
            gsi2pk = UnicodeAttribute(null=True)
            gsi2sk = UnicodeAttribute(null=True)
            listed = gsi(2, s)

        self._Item = RevokedItem

    def listed_between(self, start: str, end: str) -> Iterator[ListedHash]:
        """Entries listed at or after `start` and before `end` (ISO-8601 UTC): one paged Query per
        shard (1 MB a page, about 4,000 entries), in time order within each shard."""
        if start and end < start:
            raise ValueError("listed_between: end before start")  # a caller's bug, not an AWS failure
        Item = self._Item
        # `between` is inclusive, but an entry listed at `end` sorts as "<end>#...", after it. A key
        # condition may not hold an empty string: from the beginning is "before `end`".
        condition = Item.gsi2sk.between(start, end) if start else Item.gsi2sk < end
        try:
            for shard in range(LISTED_SHARDS):
                for i in Item.listed.query(f"LISTED#{shard:02d}", condition):
                    kind, _, digest = i.sk.partition("#")
                    yield ListedHash(i.kid or "", kind, digest, i.revoked_at or start)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("revocations: read failed") from e

    def add(self, entries: list[dict], *, reason: str, revoked_at: str) -> None:
        try:
            with self._Item.batch_write() as batch:
                for e in entries:
                    batch.save(self._Item("REVOKED", f"{e['type']}#{e['hash']}", reason=reason,
                                          **listing_attributes(e, revoked_at)))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("revocations: write failed") from e
