"""DynamoDB adapters for trust: DSC certificates (signing table) and revocations (passports table).

signing    pk DSC        sk <kid>            certificate PEM, key_ref, registered_at
passports  pk REVOKED    sk <type>#<hash>    revoked_at, reason
"""
from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, model_meta
from chalicelib.trust.service import DscEntry


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

        self._Item = RevokedItem

    def entries(self) -> list[dict]:
        try:
            out = []
            for i in self._Item.query("REVOKED"):
                kind, _, digest = i.sk.partition("#")
                out.append({"type": kind, "hash": digest})
            return out
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("revocations: read failed") from e

    def add(self, entries: list[dict], *, reason: str, revoked_at: str) -> None:
        try:
            with self._Item.batch_write() as batch:
                for e in entries:
                    batch.save(self._Item("REVOKED", f"{e['type']}#{e['hash']}", revoked_at=revoked_at,
                                          reason=reason))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("revocations: write failed") from e
