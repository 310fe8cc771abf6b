"""Who heads a facility (accountable for its complaints), read from the facility registry."""
from __future__ import annotations


class RegistryFacilityHeads:
    def __init__(self, facility_registry) -> None:
        self._registry = facility_registry

    def head(self, facility_id: str) -> str | None:
        facility = self._registry.get_facility(facility_id)
        return facility.head or None if facility else None
