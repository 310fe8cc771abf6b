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
from chalicelib.signing.service import MAX_PEOPLE_PER_BATCH
from chalicelib.wiring import container

bp = Blueprint(__name__)
_FACILITY = {"name": "facility_id", "in": "path", "required": True, "schema": {"type": "string"}}
_BATCH = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}
NEW_BATCH = {"type": "object", "additionalProperties": False,
             "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": MAX_PEOPLE_PER_BATCH}}}
SIGNATURE = {
    "type": "object", "additionalProperties": False, "required": ["signature", "algorithm"],
    "properties": {"signature": {"type": "string", "minLength": 1, "maxLength": 2048, "description": "base64"},
                   "algorithm": {"type": "string", "enum": ["ES256", "RS256", "PS256"]},
                   "certificate": {"type": "string", "maxLength": 16384, "description": "PEM"},
                   "certificate_fingerprint": {"type": "string", "maxLength": 128},
                   "signer_id": {"type": "string", "minLength": 1, "maxLength": 64,
                                 "description": "focal agency id (province callers)"}}}


def _facility_in_scope(facility_id: str):
    """The facility, once the caller (the facility, or its province) may sign for it."""
    p = current_principal()
    policy.require_roles(p, Role.FACILITY, Role.PROVINCE)
    facility = container().facility_registry.get_facility(facility_id)
    if facility is None:
        raise errors.NotFound("no such facility", details={"facility_id": facility_id})
    policy.require_facility(p, facility_id, facility.province)
    return p, facility


@route(bp, "/v1/facilities/{facility_id}/signing-batches", methods=["POST"],
       openapi={"summary": "Open a signing batch: up to 10,000 verified, unsigned people and their Merkle root",
                "tags": ["signing"], "parameters": [_FACILITY],
                "responses": {"200": {"description": "the manifest to sign"},
                              "409": {"description": "nothing to sign"}}},
       body=NEW_BATCH, body_required=False)
def create_signing_batch(facility_id: str, body: dict):
    _facility_in_scope(facility_id)
    limit = body.get("limit", MAX_PEOPLE_PER_BATCH)
    return container().signing.create_batch(facility_id, limit=limit, now=container().clock())


@route(bp, "/v1/signing-batches/{batch_id}", methods=["GET"], openapi={
    "summary": "A signing batch's manifest and status", "tags": ["signing"], "parameters": [_BATCH]})
def get_signing_batch(batch_id: str):
    stored = container().signing.get_batch(batch_id)
    _facility_in_scope(stored.manifest["facility_id"])
    return {"status": stored.status, "manifest": stored.manifest}


@route(bp, "/v1/signing-batches/{batch_id}/signature", methods=["POST"],
       openapi={"summary": "Submit the facility's signature over the batch's Merkle root", "tags": ["signing"],
                "parameters": [_BATCH],
                "responses": {"200": {"description": "the attestation recorded in the audit log"}}},
       body=SIGNATURE)
def submit_signature(batch_id: str, body: dict):
    stored = container().signing.get_batch(batch_id)
    p, facility = _facility_in_scope(stored.manifest["facility_id"])
    # A facility signs as itself; a province names the focal agency that signs for it.
    signer_id = facility.facility_id if p.role is Role.FACILITY else body.get("signer_id")
    if signer_id is None:
        raise errors.ValidationError("signer_id (the focal agency) is required", details={"field": "signer_id"})
    return container().signing.submit_signature(
        batch_id, signature_b64=body["signature"], algorithm=body["algorithm"], signer_id=signer_id,
        certificate_pem=body.get("certificate"), certificate_fingerprint=body.get("certificate_fingerprint"),
        now=container().clock())
