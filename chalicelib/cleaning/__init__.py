"""Cleaning engine (pure): matches vaccination records against the population registry port.

Public API for the SQS worker and the CLI:
    Matcher(registry).clean(record) -> CleaningResult
    invalid_result(record_id, errors) -> CleaningResult
    blocking_keys(full_name, dob) / person_keys(person) / query_keys(record)
    Registry (port), InMemoryRegistry (adapter)

Names are resolved lazily (PEP 562): chalicelib.intake.records imports cleaning.normalize, and an
eager import of the matcher here would close an import cycle back into intake.records.
"""
from importlib import import_module

_EXPORTS = {
    "Candidate": "matcher", "CleaningResult": "matcher", "Matcher": "matcher", "Outcome": "matcher",
    "invalid_result": "matcher",
    "InMemoryRegistry": "registry", "Registry": "registry", "blocking_keys": "registry",
    "person_keys": "registry", "query_keys": "registry", "read_registry_csv": "registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"chalicelib.cleaning.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
