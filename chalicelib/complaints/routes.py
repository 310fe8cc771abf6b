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

from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.auth.principal import NATIONAL_ROLES, Role
from chalicelib.complaints.domain import COMPLAINABLE, STATUSES
from chalicelib.complaints.service import Actor
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)
_TAGS = ["complaints"]
_VALUES = {"type": "object", "propertyNames": {"enum": list(COMPLAINABLE)},
           "additionalProperties": {"type": "string", "maxLength": 200}}


def _json_object() -> dict:
    body = bp.current_request.json_body
    return body if isinstance(body, dict) else {}


def _citizen() -> str:
    p = current_principal()
    policy.require_roles(p, Role.CITIZEN)
    return p.citizen_id or ""


@route(bp, "/v1/complaints", methods=["POST"], content_types=["application/json"], openapi={
    "summary": "File a complaint about one of my vaccination records (idempotent on Idempotency-Key)",
    "tags": _TAGS, "description": "Citizens only. Routed to the facility that recorded the dose, due "
                                  "after the configured number of working days.",
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                    "schema": {"type": "string", "maxLength": 128}}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["record_id"],
        "properties": {"record_id": {"type": "string"}, "facility_id": {"type": "string"},
                       "fields": {"type": "array", "items": {"enum": list(COMPLAINABLE)}},
                       "proposed": _VALUES, "text": {"type": "string", "maxLength": 2000}}}}}},
    "responses": {"200": {"description": "the complaint (the same one again for a repeated key)"}}})
def file_complaint():
    citizen_id = _citizen()
    return container().complaints.file(citizen_id, _json_object(),
                                       bp.current_request.headers.get("idempotency-key"))


@route(bp, "/v1/complaints/mine", methods=["GET"], openapi={
    "summary": "My complaints, newest first, with their status and outcome", "tags": _TAGS})
def my_complaints():
    return container().complaints.mine(_citizen())


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
    return container().complaints.view(_readable(complaint_id))


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
    return container().complaints.for_facility(facility_id, params.get("status"), params.get("order", "due"))


@route(bp, "/v1/complaints/{complaint_id}/status", methods=["POST"], content_types=["application/json"], openapi={
    "summary": "Work a complaint: in_progress, resolved (with a correction of the record) or rejected",
    "tags": _TAGS, "description": "The facility, or its province acting for it.",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["status"],
        "properties": {"status": {"enum": ["in_progress", "resolved", "rejected"]},
                       "reason": {"type": "string", "maxLength": 1000},
                       "correction": _VALUES, "apply_proposed": {"type": "boolean"}}}}}},
    "responses": {"200": {"description": "the complaint after the change"},
                  "409": {"description": "not allowed from the current status, or changed meanwhile"}}})
def change_status(complaint_id: str):
    p = current_principal()
    policy.require_roles(p, Role.FACILITY, Role.PROVINCE)
    complaint = container().complaints.get(complaint_id)
    policy.require_facility(p, complaint.facility_id, complaint.province_code)
    body = _json_object()
    actor = Actor(p.role.value, (p.facility_id if p.role is Role.FACILITY else p.province_code) or "")
    return container().complaints.change_status(complaint, body, actor, writer=p)


@route(bp, "/v1/provinces/{code}/complaints/overdue", methods=["GET"], openapi={
    "summary": "Overdue open complaints of a province, earliest due first, with the accountable facility head",
    "tags": _TAGS})
def overdue(code: str):
    policy.require_province(current_principal(), code)
    return container().complaints.overdue_in_province(code)
