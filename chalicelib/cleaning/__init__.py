"""Cleaning engine (pure): matches vaccination records against the population registry port.

Public API for the SQS worker and the CLI:
    Matcher(registry).clean(record) -> CleaningResult
    invalid_result(record_id, errors) -> CleaningResult
    blocking_keys(full_name, dob) / person_keys(person) / query_keys(record)
    Registry (port), InMemoryRegistry (adapter)
"""
from chalicelib.cleaning.matcher import CleaningResult, Candidate, Matcher, Outcome, invalid_result
from chalicelib.cleaning.registry import (
    InMemoryRegistry, Registry, blocking_keys, person_keys, query_keys, read_registry_csv,
)

__all__ = [
    "Candidate", "CleaningResult", "InMemoryRegistry", "Matcher", "Outcome", "Registry",
    "blocking_keys", "invalid_result", "person_keys", "query_keys", "read_registry_csv",
]
