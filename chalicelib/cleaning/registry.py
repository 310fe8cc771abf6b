"""The population registry port, its blocking keys, and an in-memory adapter.

Blocking: a record without a usable id is compared only with registry people who share a blocking
key with it. Keys are designed so that each single error kind, and most pairs of them, leave at
least one key intact:
- `n|<sorted diacritics-free name tokens>|<birth year>` survives every diacritic, case, spacing,
  Unicode-form and Đ/D error, family/given swaps, a year-only date of birth and day/month swaps.
- `d|<YYYYMMDD>|<one diacritics-free token>` for every token of the name survives a typo in any one
  token (the other tokens still match), combined with any form error or a missing id.
Queries from a record add the day/month-swapped date, so a swap combined with a typo is found too.
Blocks stay small: a full date of birth plus one name token is shared by a handful of people even
in a registry of millions, except for the most common tokens (Nguyễn, Văn, Thị: a thousand or more
people a day nationally), which a search reads only in part (README, "Population registry"). The
DynamoDB adapter indexes exactly `blocking_keys(...)` per person.

The cleaning worker reads the registry per chunk (`get_many`, `candidates_many`): one batched read
for the ids a chunk's records typed, and the blocking keys of only the records the id did not
settle, so a chunk of a hundred records costs a few requests, not a few hundred. Both are the
single lookups in bulk: they answer for the keys a record gives, never anything else.
"""
from __future__ import annotations

import csv
from datetime import date
from typing import Iterable, Iterator, Protocol, Sequence, TextIO

from chalicelib.identity.names import name_keys
from chalicelib.errors import Conflict
from chalicelib.intake.errors import MissingColumns
from chalicelib.intake.records import (
    REGISTRY_FIELDS, BirthDate, RegistryPerson, VaccinationRecord, registry_person_from_row,
)


class DuplicatePerson(Conflict):
    code = "DUPLICATE_PERSON"


class Registry(Protocol):
    def get(self, citizen_id: str) -> RegistryPerson | None: ...

    def get_many(self, citizen_ids: Sequence[str]) -> dict[str, RegistryPerson]:
        """The people holding these ids; ids no one holds are left out."""

    def candidates(self, block_key: str) -> list[RegistryPerson]: ...

    def candidates_many(self, block_keys: Sequence[str]) -> dict[str, list[RegistryPerson]]:
        """`candidates` of every key (an empty list for an empty block)."""


def blocking_keys(full_name: str, dob: BirthDate | date) -> list[str]:
    """The keys a person (registry side) is indexed under."""
    fold = name_keys(full_name).fold
    keys = [f"n|{' '.join(sorted(fold))}|{dob.year}"]
    if isinstance(dob, BirthDate) and dob.year_only:
        return keys
    ymd = f"{dob.year:04d}{dob.month:02d}{dob.day:02d}"
    keys.extend(f"d|{ymd}|{token}" for token in sorted(set(fold)))
    return keys


def person_keys(person: RegistryPerson) -> list[str]:
    return blocking_keys(person.full_name, person.date_of_birth)


def query_keys(record: VaccinationRecord) -> list[str]:
    """Keys to look up for a record: its own keys plus those of the day/month-swapped date."""
    dob = record.date_of_birth
    keys = blocking_keys(record.full_name, dob)
    if dob.month is not None and dob.day is not None and dob.day != dob.month and dob.day <= 12:
        keys.extend(k for k in blocking_keys(record.full_name, BirthDate(dob.year, dob.day, dob.month))
                    if k not in keys)
    return keys


class InMemoryRegistry:
    """Dict + blocking index; for the offline CLI, tests and benchmarks."""

    def __init__(self, people: Iterable[RegistryPerson] = ()) -> None:
        self._by_id: dict[str, RegistryPerson] = {}
        self._index: dict[str, list[RegistryPerson]] = {}
        for person in people:
            self.add(person)

    def add(self, person: RegistryPerson) -> None:
        if person.citizen_id in self._by_id:
            raise DuplicatePerson("duplicate citizen_id in registry")
        self._by_id[person.citizen_id] = person
        index = self._index
        for key in person_keys(person):
            bucket = index.get(key)
            if bucket is None:
                index[key] = [person]
            else:
                bucket.append(person)

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, citizen_id: str) -> RegistryPerson | None:
        return self._by_id.get(citizen_id)

    def get_many(self, citizen_ids: Sequence[str]) -> dict[str, RegistryPerson]:
        return {i: p for i in citizen_ids if (p := self._by_id.get(i)) is not None}

    def candidates(self, block_key: str) -> list[RegistryPerson]:
        return self._index.get(block_key, [])

    def candidates_many(self, block_keys: Sequence[str]) -> dict[str, list[RegistryPerson]]:
        return {k: self._index.get(k, []) for k in block_keys}


def read_registry_csv(text: TextIO) -> Iterator[RegistryPerson]:
    reader = csv.DictReader(text)
    missing = [f for f in REGISTRY_FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise MissingColumns(f"registry file lacks columns: {', '.join(missing)}",
                             details={"missing": missing})
    for row in reader:
        yield registry_person_from_row(row)
