"""POST /v1/vaccination-records: a facility's records submitted through the API, idempotent on the
caller's Idempotency-Key (within the caller's own namespace), stored through
`IntakeService.process_rows` like the rows of a file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Protocol, Sequence

from chalicelib import errors
from chalicelib.auth.principal import Principal
from chalicelib.intake.records import FieldError, lone_surrogate_field
from chalicelib.intake.service import ChunkResult, IntakeService, Writer


@dataclass(frozen=True)
class IdempotentCall:
    request_hash: str
    response: dict | None


class ApiCallStore(Protocol):
    def lookup(self, namespace: str, key: str) -> IdempotentCall | None: ...

    def complete(self, namespace: str, key: str, *, batch_id: str, request_hash: str,
                 response: dict, chunk: ChunkResult, now: datetime) -> None: ...


def _refuse_lone_surrogates(records: list, facility_id: str | None, idempotency_key: str) -> None:
    """Python's json accepts a `\\ud800` escape, and nothing can encode it afterwards (the request
    hash, DynamoDB, SQS, the response): the call is refused whole, naming the record and field,
    before any of it is hashed or stored. validate_row refuses the same text in any other path."""
    for name, value in (("facility_id", facility_id), ("Idempotency-Key", idempotency_key)):
        if value and lone_surrogate_field({name: value}):
            raise errors.ValidationError(f"{name} is not valid Unicode text",
                                         details={"field": name, "code": "INVALID_UNICODE"})
    for number, record in enumerate(records, start=1):
        field = lone_surrogate_field(record) if isinstance(record, dict) else (
            "(record)" if lone_surrogate_field({"(record)": record}) else None)
        if field is not None:
            raise errors.ValidationError(
                f"record {number}: {field} is not valid Unicode text (it holds a lone surrogate such as "
                f"\\ud800)", details={"record": number, "field": field, "code": "INVALID_UNICODE"})


def request_hash(records: Sequence[dict]) -> str:
    import json

    return hashlib.sha256(json.dumps(records, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


def call_namespace(p: Principal) -> str:
    """Whose Idempotency-Key this is: role, scope and subject, hashed to a fixed-width name so no
    caller's key can be spelled to land in another caller's namespace (nor a '#' shift them)."""
    import json

    raw = json.dumps([p.role.value, p.facility_id or "", p.province_code or "", p.subject])
    return hashlib.sha256(raw.encode()).hexdigest()


class RecordSubmission:
    """POST /v1/vaccination-records: up to N records per call, idempotent on the caller's key.

    A retried call with the same key and body gets the first answer again (nothing is stored
    twice); the same key with a different body is a 409, since the caller is confused about what
    it sent. Keys belong to their caller (`call_namespace`): two callers using the same key never
    see each other's calls or answers."""

    def __init__(self, intake: IntakeService, calls: ApiCallStore, clock: Callable[[], datetime],
                 max_records: int) -> None:
        self._intake = intake
        self._calls = calls
        self._now = clock
        self._max = max_records

    def submit(self, *, records: object, idempotency_key: str | None, facility_id: str | None,
               writer: Principal) -> dict:
        if not idempotency_key or len(idempotency_key) > 128:
            raise errors.ValidationError("the Idempotency-Key header is required (at most 128 characters)",
                                         details={"field": "Idempotency-Key"})
        if not isinstance(records, list) or not records:
            raise errors.ValidationError("body must be {\"records\": [ ... ]} with at least one record",
                                         details={"field": "records"})
        if len(records) > self._max:
            raise errors.ValidationError(f"at most {self._max} records per call",
                                         details={"field": "records", "count": len(records)})
        _refuse_lone_surrogates(records, facility_id, idempotency_key)
        namespace = call_namespace(writer)
        digest = request_hash(records)
        previous = self._calls.lookup(namespace, idempotency_key)
        if previous is not None:
            if previous.request_hash != digest:
                raise errors.Conflict("this Idempotency-Key was used with a different body")
            if previous.response is not None:
                return {**previous.response, "replayed": True}
        batch_id = "api-" + hashlib.sha256(f"{namespace}#{idempotency_key}".encode()).hexdigest()[:24]
        rows = [(i, r if isinstance(r, dict) else FieldError(i, "(record)", "NOT_AN_OBJECT",
                                                             "each record must be a JSON object", ""))
                for i, r in enumerate(records, start=1)]
        chunk = self._intake.process_rows(batch_id, rows, writer=Writer(writer), default_facility=facility_id)
        response = {"batch_id": batch_id, "received": chunk.received, "accepted": chunk.accepted,
                    "duplicates": chunk.duplicates, "rejected": chunk.rejected,
                    "results": chunk.per_row, "replayed": False}
        self._calls.complete(namespace, idempotency_key, batch_id=batch_id, request_hash=digest,
                             response=response, chunk=chunk, now=self._now())
        return response
