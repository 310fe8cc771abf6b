"""Other countries' business rules in the signing table (with the trust material they belong to).

signing    pk RULE#<country>    sk <identifier>#<version>    hash, document (rule JSON)

One Query per arrival country serves a travel check; importing writes in BatchWriteItem chunks.
Listing every country's rules reads the partitions of the countries recorded in the RULES index
item's set, so no Scan is needed.
"""
from __future__ import annotations

import json

from pynamodb.attributes import UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, model_meta
from chalicelib.rules.service import StoredRule

_INDEX = ("RULES", "COUNTRIES")


class DynamoRuleStore:
    def __init__(self, tables: Tables) -> None:
        s = tables.settings

        class RuleItem(Model):
            Meta = model_meta(s, "signing")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            hash = UnicodeAttribute(null=True)
            document = UnicodeAttribute(null=True)
            countries = UnicodeSetAttribute(null=True)

        self._Item = RuleItem

    def put_many(self, rules: list[StoredRule]) -> None:
        try:
            with self._Item.batch_write() as batch:
                for rule in rules:
                    batch.save(self._Item(f"RULE#{rule.country}", f"{rule.identifier}#{rule.version}",
                                          hash=rule.hash, document=json.dumps(rule.document, ensure_ascii=False)))
            # One update per import (not per rule): the set of countries that have rules.
            self._Item(*_INDEX).update(actions=[self._Item.countries.add({rule.country for rule in rules})])
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("rules: write failed") from e

    def for_country(self, country: str) -> list[StoredRule]:
        try:
            items = list(self._Item.query(f"RULE#{country}"))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("rules: read failed") from e
        out = []
        for item in items:
            identifier, _, version = item.sk.rpartition("#")
            out.append(StoredRule(country, identifier, version, item.hash or "", json.loads(item.document or "{}")))
        return out

    def all(self) -> list[StoredRule]:
        try:
            index = self._Item.get(*_INDEX)
        except self._Item.DoesNotExist:
            return []
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("rules: read failed") from e
        return [rule for country in sorted(index.countries or ()) for rule in self.for_country(country)]
