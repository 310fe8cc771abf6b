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
        """A chunk's people in the registry's batched reads where it has them (DynamoDB: BatchGet);
        one read per person otherwise (the HTTPS gateway)."""
        get_many = getattr(self._registry, "get_many", None)
        people = get_many(citizen_ids) if get_many is not None else {c: self._registry.get(c) for c in citizen_ids}
        return {p.citizen_id: Identity(p.citizen_id, p.full_name, p.date_of_birth.isoformat())
                for p in people.values() if p is not None}
