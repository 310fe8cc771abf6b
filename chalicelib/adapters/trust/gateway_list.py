"""DynamoDB adapter for the published gateway trust list (the signing table, through its real
model in adapters/signing/tables.py).

signing    pk TRUSTLIST    sk GATEWAY    entry (the signed document, JSON), created_at

One item, replaced by each `vaxpass trust export`: our own list (a CSCA and a few DSCs, some
kilobytes) stays far below DynamoDB's 400 KB item limit.
"""
from __future__ import annotations

import json

from pynamodb.exceptions import DoesNotExist, PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables
from chalicelib.adapters.signing.tables import SigningTables

_PK, _SK = "TRUSTLIST", "GATEWAY"


class DynamoPublishedTrustList:
    def __init__(self, tables: Tables) -> None:
        self._Item = SigningTables(tables).Signing

    def get(self) -> dict | None:
        try:
            item = self._Item.get(_PK, _SK)
        except DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("gateway trust list: read failed") from e
        return json.loads(item.entry or "null")

    def put(self, document: dict, *, published_at: str) -> None:
        try:
            self._Item(_PK, _SK, entry=json.dumps(document, separators=(",", ":")), created_at=published_at).save()
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("gateway trust list: write failed") from e
