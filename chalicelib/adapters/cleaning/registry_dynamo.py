"""Population registry held in DynamoDB (the registry table), loaded from a registry file.

Each person is stored once under P#<citizen_id> and once more under each of their blocking keys
(BK#<key>, sort key = citizen id) so that a candidate search is one Query per key.
"""
from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Iterable, Sequence

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables
from chalicelib.cleaning.registry import person_keys
from chalicelib.intake.records import RegistryPerson


class DynamoRegistry:
    def __init__(self, tables: Tables, cache_size: int = 4096) -> None:
        self._t = tables
        # Records of one batch share names and birth years; a small cache saves repeated queries.
        self.candidates = lru_cache(maxsize=cache_size)(self._candidates)

    @staticmethod
    def _person(item) -> RegistryPerson:
        return RegistryPerson(item.citizen_id, item.full_name, date.fromisoformat(item.date_of_birth),
                              item.sex, item.province_code)

    def get(self, citizen_id: str) -> RegistryPerson | None:
        Person = self._t.Person
        try:
            return self._person(Person.get(f"P#{citizen_id}", "P"))
        except Person.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: read failed") from e

    def get_many(self, citizen_ids: Sequence[str]) -> dict[str, RegistryPerson]:
        """The people found among `citizen_ids`, in BatchGets of 100 keys."""
        Person = self._t.Person
        ids = sorted(set(citizen_ids))
        out: dict[str, RegistryPerson] = {}
        try:
            for i in range(0, len(ids), 100):
                for item in Person.batch_get([(f"P#{c}", "P") for c in ids[i:i + 100]]):
                    out[item.citizen_id] = self._person(item)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: read failed") from e
        return out

    def _candidates(self, block_key: str) -> list[RegistryPerson]:
        try:
            return [self._person(i) for i in self._t.Person.query(f"BK#{block_key}", limit=200)]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: query failed") from e

    def import_people(self, people: Iterable[RegistryPerson], progress=None) -> int:
        Person = self._t.Person
        n = 0
        try:
            with Person.batch_write() as batch:
                for p in people:
                    attrs = dict(citizen_id=p.citizen_id, full_name=p.full_name,
                                 date_of_birth=p.date_of_birth.isoformat(), sex=p.sex,
                                 province_code=p.province_code)
                    batch.save(Person(f"P#{p.citizen_id}", "P", **attrs))
                    for key in person_keys(p):
                        batch.save(Person(f"BK#{key}", p.citizen_id, **attrs))
                    n += 1
                    if progress and n % 1000 == 0:
                        progress(n)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: write failed") from e
        return n
