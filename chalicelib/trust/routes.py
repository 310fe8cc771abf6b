"""Public routes for verifiers: our DSC trust list (JSON and JWKS) and the revocation list
(the signed index and its batches, static objects the publisher built)."""
from __future__ import annotations

from typing import Mapping

from chalice import Blueprint, Response

from chalicelib.errors import ValidationError
from chalicelib.platform.http import route
from chalicelib.trust.revocations import etag
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
    "summary": "The signed index of the revocation batches (its root; `?page=N` for index page N)",
    "tags": ["verifiers"]})
def revocation_list():
    params: Mapping[str, str] = bp.current_request.query_params or {}
    page = params.get("page")
    if page is not None and not (page.isascii() and page.isdigit() and len(page) <= 6):
        raise ValidationError("page is an index page number (0, 1, ...)", details={"field": "page"})
    return _static(container().revocation_publisher.index(int(page) if page is not None else None))


@route(bp, "/v1/revocation-list/{batch_id}", methods=["GET"], auth=False, openapi={
    "summary": "One signed revocation batch (at most 1,000 hashes of one kid and hash type)",
    "tags": ["verifiers"]})
def revocation_batch(batch_id):
    return _static(container().revocation_publisher.batch(batch_id))


def _static(body: bytes) -> Response:
    """A published object, with its ETag: a verifier that has it already gets a 304, no body."""
    tag = etag(body)
    headers = {**_CACHE, "ETag": tag}
    if tag in (bp.current_request.headers.get("if-none-match") or "").replace(" ", "").split(","):
        return Response(body="", status_code=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
    return Response(body=body.decode("utf-8"), headers=headers)
