"""Public routes for verifiers: our DSC trust list (JSON and JWKS) and the revocation list."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)
_CACHE: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}


@route(bp, "/v1/trust-list", methods=["GET"], auth=False, openapi={
    "summary": "Document signer certificates of this issuer (trust list)", "tags": ["verifiers"]})
def trust_list():
    return Response(body=container().trust.trust_list(), headers=_CACHE)


@route(bp, "/v1/trust-list/jwks", methods=["GET"], auth=False, openapi={
    "summary": "The trust list as a JWKS", "tags": ["verifiers"]})
def trust_list_jwks():
    return Response(body=container().trust.jwks(), headers=_CACHE)


@route(bp, "/v1/revocation-list", methods=["GET"], auth=False, openapi={
    "summary": "Revoked certificate identifiers", "tags": ["verifiers"]})
def revocation_list():
    return Response(body=container().trust.revocation_list(), headers=_CACHE)
