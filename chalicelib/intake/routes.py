"""HTTP routes of intake: facility submissions, batch progress, a record's cleaning result and
its corrections. Authorisation: `chalicelib.auth.policy`, with the scope taken from the token."""
from __future__ import annotations

from typing import Mapping

from chalice import Blueprint

from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.auth.principal import NATIONAL_ROLES, Principal, Role
from chalicelib.cleaning.access import Reader
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)
_RECORD_ID = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string"}}
# The envelope only: each record is checked by intake's validate_row, a rejection per record.
# How many records a call may hold is a setting (VAXPASS_MAX_RECORDS_PER_REQUEST), checked by the
# service. The body cap is Lambda's own request payload limit: nothing larger reaches it on AWS.
SUBMISSION = {
    "type": "object", "additionalProperties": False, "required": ["records"],
    "properties": {"facility_id": {"type": "string", "maxLength": 64,
                                   "description": "the facility the records are for (facility callers: their own)"},
                   "records": {"type": "array", "minItems": 1, "items": {"type": "object"}}}}
CORRECTION = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "facility_id": {"type": "string", "maxLength": 64},
        "accept_suggestion": {"type": "boolean"},
        # Which fields may change is the corrections service's rule (it names every refused one).
        "changes": {"type": "object", "maxProperties": 32,
                    "propertyNames": {"maxLength": 64, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "additionalProperties": {"type": ["string", "integer", "null"], "maxLength": 1024}}}}
SUBMISSION_MAX_BYTES = 6 * 1024 * 1024


def _caller(p: Principal) -> Reader:
    return Reader.acting(p.role.value, p.subject, p.facility_id, p.province_code)


def _charge(p: Principal, records: int) -> None:
    """Counts records against the caller's per-minute allowance (429 with Retry-After past it)."""
    container().submission_limiter.charge(_caller(p).key(), records)


@route(bp, "/v1/vaccination-records", methods=["POST"], content_types=["application/json"], openapi={
    "summary": "Submit up to 500 vaccination records (idempotent on Idempotency-Key)", "tags": ["intake"],
    "description": "Facilities submit their own records (facility_id defaults to the token's); "
                   "provinces records of facilities in their province; ministry and operators any. "
                   "Only records of registered facilities, under their registered province "
                   "(else UNKNOWN_FACILITY, FACILITY_NOT_IN_PROVINCE per record); a record outside "
                   "the caller's scope, as sent or as stored, refuses the whole call (403).",
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                    "schema": {"type": "string", "maxLength": 128}}],
    "responses": {"200": {"description": "per-record result and the batch id"},
                  "429": {"description": "over the caller's records per minute (RATE_LIMITED, Retry-After)"}}},
       body=SUBMISSION, max_body_bytes=SUBMISSION_MAX_BYTES)
def submit_records(body: dict):
    p = current_principal()
    records = body["records"]
    facility_id = body.get("facility_id")
    if p.role is Role.FACILITY:
        facility_id = policy.facility_in_scope(p, facility_id)
    else:
        policy.require_roles(p, Role.PROVINCE, *NATIONAL_ROLES)
    # Scope is checked by the service on the validated records and the stored ones, not here.
    _charge(p, len(records))
    return container().submission.submit(
        records=records, idempotency_key=bp.current_request.headers.get("idempotency-key"),
        facility_id=facility_id, writer=p)


@route(bp, "/v1/batches/{batch_id}", methods=["GET"], openapi={
    "summary": "Progress of a batch: received, accepted, duplicates, rejected, cleaned", "tags": ["intake"],
    "description": "The batch's province, the ministry and operators."})
def get_batch(batch_id: str):
    p = current_principal()
    policy.require_roles(p, Role.PROVINCE, *NATIONAL_ROLES)
    progress = container().batch_progress.get(batch_id)
    policy.require_province(p, progress.get("province_code"))
    return progress


def _record_in_scope(record_id: str, requested_facility: object) -> tuple[str, dict]:
    """The facility the caller acts for and the record's view, once the caller may see it."""
    p = current_principal()
    facility_id = policy.facility_in_scope(p, requested_facility)
    view = container().corrections.view(facility_id, record_id)
    policy.require_facility(p, facility_id, (view.get("record") or {}).get("province_code"))
    return facility_id, view


@route(bp, "/v1/vaccination-records/{record_id}", methods=["GET"], openapi={
    "summary": "A record and its cleaning result (explanation, suggestion)", "tags": ["corrections"],
    "description": "Suggests a registry value only for a near miss of the typed one while the other fields "
                   "agree; never another person's data. Every read is written to the access log.",
    "parameters": [_RECORD_ID, {"name": "facility_id", "in": "query", "required": False,
                                "schema": {"type": "string"},
                                "description": "required for province, ministry and operator callers"}]})
def get_record(record_id: str):
    params: Mapping[str, str] = bp.current_request.query_params or {}
    view = _record_in_scope(record_id, params.get("facility_id"))[1]
    return container().corrections.show(view, _caller(current_principal()))


@route(bp, "/v1/vaccination-records/{record_id}/corrections", methods=["POST"], openapi={
    "summary": "Correct a record: accept the suggestion or edit fields", "tags": ["corrections"],
    "responses": {"429": {"description": "over the caller's records per minute (RATE_LIMITED, Retry-After)"}}},
       body=CORRECTION)
def correct_record(record_id: str, body: dict):
    facility_id, _ = _record_in_scope(record_id, body.get("facility_id"))  # the stored owner's scope
    changes = body.get("changes")
    accept = body.get("accept_suggestion", False)
    _charge(current_principal(), 1)
    return container().corrections.correct(facility_id, record_id, writer=current_principal(),
                                           accept_suggestion=accept, changes=changes)
