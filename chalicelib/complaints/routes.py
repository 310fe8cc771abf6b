"""HTTP routes of citizen complaints. Who may do what (chalicelib.auth.policy, scope from the token):

  POST /v1/complaints                          a citizen, about one of their own records
  GET  /v1/complaints/mine                     a citizen, their own complaints
  GET  /v1/complaints/{id}                     the citizen who filed it; its facility, that facility's
                                               province, ministry, operator
  GET  /v1/facilities/{id}/complaints          the facility itself, its province, ministry, operator
  POST /v1/complaints/{id}/status              the facility itself; its province acting for it (the
                                               ministry and operators watch, they do not work complaints)
  GET  /v1/provinces/{code}/complaints/overdue the province itself, ministry, operator
"""
from __future__ import annotations

from typing import Mapping

from chalice import Blueprint

from chalicelib.access.routes import shown
from chalicelib.access.service import people_of
from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.auth.principal import NATIONAL_ROLES, Role
from chalicelib.complaints.domain import (COMPLAINABLE, IN_PROGRESS, MAX_REASON, MAX_TEXT, MAX_VALUE, REJECTED,
                                          RESOLVED, STATUSES)
from chalicelib.complaints.service import Actor
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)
_TAGS = ["complaints"]
# The shape of a request; what the text may hold (no control characters, NFC) is the domain's.
_VALUES = {"type": "object", "propertyNames": {"enum": list(COMPLAINABLE)},
           "additionalProperties": {"type": ["string", "integer"], "maxLength": MAX_VALUE}}
FILING = {
    "type": "object", "additionalProperties": False, "required": ["record_id"],
    "properties": {"record_id": {"type": "string", "minLength": 1, "maxLength": 64},
                   "facility_id": {"type": "string", "minLength": 1, "maxLength": 64},
                   "fields": {"type": "array", "items": {"enum": list(COMPLAINABLE)}, "uniqueItems": True,
                              "maxItems": len(COMPLAINABLE)},
                   "proposed": _VALUES, "text": {"type": "string", "maxLength": MAX_TEXT}}}
STATUS_CHANGE = {
    "type": "object", "additionalProperties": False, "required": ["status"],
    "properties": {"status": {"enum": [IN_PROGRESS, RESOLVED, REJECTED]},
                   "reason": {"type": "string", "maxLength": MAX_REASON},
                   "correction": _VALUES, "apply_proposed": {"type": "boolean"}}}


def _citizen() -> str:
    p = current_principal()
    policy.require_roles(p, Role.CITIZEN)
    return p.citizen_id or ""


@route(bp, "/v1/complaints", methods=["POST"], body=FILING, openapi={
    "summary": "File a complaint about one of my vaccination records (idempotent on Idempotency-Key)",
    "tags": _TAGS, "description": "Citizens only. Routed to the facility that recorded the dose, due "
                                  "after the configured number of working days.",
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                    "schema": {"type": "string", "maxLength": 128}}],
    "responses": {"200": {"description": "the complaint (the same one again for a repeated key)"}}})
def file_complaint(body: dict):
    citizen_id = _citizen()
    return container().complaints.file(citizen_id, body, bp.current_request.headers.get("idempotency-key"))


@route(bp, "/v1/complaints/mine", methods=["GET"], openapi={
    "summary": "My complaints, newest first, with their status and outcome", "tags": _TAGS})
def my_complaints():
    citizen_id = _citizen()
    mine = container().complaints.mine(citizen_id)
    shown("GET /v1/complaints/mine", {citizen_id: [c["complaint_id"] for c in mine["complaints"]]})
    return mine


def _readable(complaint_id: str):
    p = current_principal()
    complaint = container().complaints.get(complaint_id)
    if p.role is Role.CITIZEN:
        policy.require_citizen(p, complaint.citizen_id)
    else:
        policy.require_facility(p, complaint.facility_id, complaint.province_code)
    return complaint


@route(bp, "/v1/complaints/{complaint_id}", methods=["GET"], openapi={
    "summary": "A complaint with its history and outcome", "tags": _TAGS})
def get_complaint(complaint_id: str):
    complaint = _readable(complaint_id)
    shown("GET /v1/complaints/{complaint_id}", {complaint.citizen_id: [complaint.complaint_id]})
    return container().complaints.view(complaint)


@route(bp, "/v1/facilities/{facility_id}/complaints", methods=["GET"], openapi={
    "summary": "A facility's complaints (?status=, ?order=due|newest)", "tags": _TAGS,
    "parameters": [{"name": "status", "in": "query", "required": False, "schema": {"enum": list(STATUSES)}},
                   {"name": "order", "in": "query", "required": False, "schema": {"enum": ["due", "newest"]}}]})
def facility_complaints(facility_id: str):
    p = current_principal()
    policy.require_roles(p, Role.FACILITY, Role.PROVINCE, *NATIONAL_ROLES)
    province = None
    if p.role is Role.PROVINCE:
        # A province's scope over a facility is the facility's registered province.
        facility = container().facility_registry.get_facility(facility_id)
        province = facility.province if facility else None
    policy.require_facility(p, facility_id, province)
    params: Mapping[str, str] = bp.current_request.query_params or {}
    found = container().complaints.for_facility(facility_id, params.get("status"), params.get("order", "due"))
    shown("GET /v1/facilities/{facility_id}/complaints", people_of(found["complaints"]))
    return found


@route(bp, "/v1/complaints/{complaint_id}/status", methods=["POST"], body=STATUS_CHANGE, openapi={
    "summary": "Work a complaint: in_progress, resolved (with a correction of the record) or rejected",
    "tags": _TAGS, "description": "The facility, or its province acting for it.",
    "responses": {"200": {"description": "the complaint after the change"},
                  "409": {"description": "not allowed from the current status, or changed meanwhile"}}})
def change_status(complaint_id: str, body: dict):
    p = current_principal()
    policy.require_roles(p, Role.FACILITY, Role.PROVINCE)
    complaint = container().complaints.get(complaint_id)
    policy.require_facility(p, complaint.facility_id, complaint.province_code)
    actor = Actor(p.role.value, (p.facility_id if p.role is Role.FACILITY else p.province_code) or "")
    return container().complaints.change_status(complaint, body, actor, writer=p)


@route(bp, "/v1/provinces/{code}/complaints/overdue", methods=["GET"], openapi={
    "summary": "Overdue open complaints of a province, earliest due first, with the accountable facility head",
    "tags": _TAGS})
def overdue(code: str):
    policy.require_province(current_principal(), code)
    found = container().complaints.overdue_in_province(code)
    shown("GET /v1/provinces/{code}/complaints/overdue", people_of(found["complaints"]))
    return found
