"""The countersign worker's identity source: who a passport names, from the population registry."""
from __future__ import annotations

from typing import Sequence

from chalicelib.issuance.domain import Identity


class RegistryIdentities:
    """Passports carry the registry's identity, not the facility's typed values."""

    def __init__(self, registry) -> None:
        self._registry = registry

    def identity(self, citizen_id: str) -> Identity | None:
        person = self._registry.get(citizen_id)
        if person is None:
            return None
        return Identity(person.citizen_id, person.full_name, person.date_of_birth.isoformat())

    def identities(self, citizen_ids: Sequence[str]) -> dict[str, Identity]:
        """A chunk's people in the registry's batched read (DynamoDB: BatchGets)."""
        return {p.citizen_id: Identity(p.citizen_id, p.full_name, p.date_of_birth.isoformat())
                for p in self._registry.get_many(citizen_ids).values()}
