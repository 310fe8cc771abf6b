"""Public routes for verifiers: our DSC trust list (JSON and JWKS) and the revocation list."""
from __future__ import annotations

from typing import Mapping

from chalice import Blueprint, Response

from chalicelib.errors import ValidationError
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)
_CACHE: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}


@route(bp, "/v1/trust-list", methods=["GET"], auth=False, openapi={
    "summary": "Document signer certificates of this issuer (trust list)", "tags": ["verifiers"]})
def trust_list():
    # scope=all: the verifier bundle our apps download (our DSCs and the foreign ones imported).
    params: Mapping[str, str] = bp.current_request.query_params or {}
    scope = params.get("scope", "own")
    if scope not in ("own", "all"):
        raise ValidationError("scope is `own` (default) or `all`", details={"field": "scope"})
    return Response(body=container().trust.trust_list(scope=scope), headers=_CACHE)


@route(bp, "/v1/trust-list/gateway", methods=["GET"], auth=False, openapi={
    "summary": "Our DSCs and CSCA in the EU gateway's trust list form, signed by the national trust anchor",
    "tags": ["verifiers"]})
def trust_list_gateway():
    return Response(body=container().gateway_trust.published(), headers=_CACHE)


@route(bp, "/v1/trust-list/jwks", methods=["GET"], auth=False, openapi={
    "summary": "The trust list as a JWKS", "tags": ["verifiers"]})
def trust_list_jwks():
    return Response(body=container().trust.jwks(), headers=_CACHE)


@route(bp, "/v1/revocation-list", methods=["GET"], auth=False, openapi={
    "summary": "Revoked certificate identifiers", "tags": ["verifiers"]})
def revocation_list():
    return Response(body=container().trust.revocation_list(), headers=_CACHE)
