"""HTTP routes of facility bulk signing: request a manifest, read it, submit its signature.

Who may sign: the facility itself, or its province's focal agency (a province token; the agency
id is the signer). The ministry and operators watch but do not sign for facilities.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import errors
from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.auth.principal import Role
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)
_FACILITY = {"name": "facility_id", "in": "path", "required": True, "schema": {"type": "string"}}
_BATCH = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _json_object() -> dict:
    body = bp.current_request.json_body
    return body if isinstance(body, dict) else {}


def _facility_in_scope(facility_id: str):
    """The facility, once the caller (the facility, or its province) may sign for it."""
    p = current_principal()
    policy.require_roles(p, Role.FACILITY, Role.PROVINCE)
    facility = container().facility_registry.get_facility(facility_id)
    if facility is None:
        raise errors.NotFound("no such facility", details={"facility_id": facility_id})
    policy.require_facility(p, facility_id, facility.province)
    return p, facility


@route(bp, "/v1/facilities/{facility_id}/signing-batches", methods=["POST"], content_types=["application/json"],
       openapi={"summary": "Open a signing batch: up to 10,000 verified, unsigned people and their Merkle root",
                "tags": ["signing"], "parameters": [_FACILITY],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"limit": {"type": "integer", "minimum": 1,
                                                              "maximum": 10000}}}}}},
                "responses": {"200": {"description": "the manifest to sign"},
                              "409": {"description": "nothing to sign"}}})
def create_signing_batch(facility_id: str):
    _facility_in_scope(facility_id)
    limit = _json_object().get("limit", 10000)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise errors.ValidationError("limit must be an integer", details={"field": "limit"})
    return container().signing.create_batch(facility_id, limit=limit, now=container().clock())


@route(bp, "/v1/signing-batches/{batch_id}", methods=["GET"], openapi={
    "summary": "A signing batch's manifest and status", "tags": ["signing"], "parameters": [_BATCH]})
def get_signing_batch(batch_id: str):
    stored = container().signing.get_batch(batch_id)
    _facility_in_scope(stored.manifest["facility_id"])
    return {"status": stored.status, "manifest": stored.manifest}


@route(bp, "/v1/signing-batches/{batch_id}/signature", methods=["POST"], content_types=["application/json"],
       openapi={"summary": "Submit the facility's signature over the batch's Merkle root", "tags": ["signing"],
                "parameters": [_BATCH],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["signature", "algorithm"],
                    "properties": {"signature": {"type": "string", "description": "base64"},
                                   "algorithm": {"type": "string", "enum": ["ES256", "RS256", "PS256"]},
                                   "certificate": {"type": "string", "description": "PEM"},
                                   "certificate_fingerprint": {"type": "string"},
                                   "signer_id": {"type": "string",
                                                 "description": "focal agency id (province callers)"}}}}}},
                "responses": {"200": {"description": "the attestation recorded in the audit log"}}})
def submit_signature(batch_id: str):
    stored = container().signing.get_batch(batch_id)
    p, facility = _facility_in_scope(stored.manifest["facility_id"])
    body = _json_object()
    signer_id = facility.facility_id if p.role is Role.FACILITY else body.get("signer_id")
    if not isinstance(signer_id, str) or not signer_id:
        raise errors.ValidationError("signer_id (the focal agency) is required", details={"field": "signer_id"})
    for field in ("signature", "algorithm"):
        if not isinstance(body.get(field), str):
            raise errors.ValidationError(f"{field} is required", details={"field": field})
    return container().signing.submit_signature(
        batch_id, signature_b64=body["signature"], algorithm=body["algorithm"], signer_id=signer_id,
        certificate_pem=body.get("certificate") if isinstance(body.get("certificate"), str) else None,
        certificate_fingerprint=body.get("certificate_fingerprint")
        if isinstance(body.get("certificate_fingerprint"), str) else None,
        now=container().clock())
