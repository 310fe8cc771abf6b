"""Population registry held in DynamoDB (the registry table), loaded from a registry file.

Each person is stored once under P#<citizen_id> and once more under each of their blocking keys
(BK#<key>, sort key = citizen id) so that a candidate search is one Query per key.

Per chunk (`get_many`, `candidates_many`): the people of a chunk's ids in BatchGets of 100
(pynamodb sends UnprocessedKeys again), and the blocking Queries of the records that need them a
few at a time, through the same cache as single ones.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import lru_cache
from typing import Iterable, Sequence

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables
from chalicelib.cleaning.registry import person_keys
from chalicelib.intake.records import RegistryPerson


class DynamoRegistry:
    def __init__(self, tables: Tables, cache_size: int = 4096, parallel: int = 8) -> None:
        self._t = tables
        # Records of one batch share names and birth years; a small cache saves repeated queries.
        self.candidates = lru_cache(maxsize=cache_size)(self._candidates)
        # A chunk's blocking Queries are independent: several in flight cut its latency, not its
        # request count.
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="registry")

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
        try:
            return {item.citizen_id: self._person(item) for item in
                    self._t.Person.batch_get([(f"P#{i}", "P") for i in dict.fromkeys(citizen_ids) if i])}
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: read failed") from e

    def candidates_many(self, block_keys: Sequence[str]) -> dict[str, list[RegistryPerson]]:
        keys = list(dict.fromkeys(block_keys))
        if not keys:
            return {}
        # The first in this thread: it builds the client the others share (one, not one per thread).
        out = {keys[0]: self.candidates(keys[0])}
        out.update(zip(keys[1:], self._pool.map(self.candidates, keys[1:])))
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
