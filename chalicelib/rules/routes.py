"""Business rule routes: our rules and value sets in the gateway's shapes (public, for verifier
apps), and a citizen's travel check of their own passport against a country's rules."""
from __future__ import annotations

from typing import Mapping

from chalice import Blueprint, Response

from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)
_CACHE: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}


@route(bp, "/v1/rules", methods=["GET"], auth=False, openapi={
    "summary": "Business rules (gateway shape): [{identifier, version, country, hash}]", "tags": ["verifiers"]})
def rule_list():
    return Response(body=container().rules.rule_list(), headers=_CACHE)


@route(bp, "/v1/rules/{country}/{digest}", methods=["GET"], auth=False, openapi={
    "summary": "One business rule; its SHA-256 is the hash in the list", "tags": ["verifiers"],
    "responses": {"404": {"description": "RULE_NOT_FOUND"}}})
def rule(country: str, digest: str):
    # Sent as the exact UTF-8 text that was hashed, not re-serialised by the framework.
    return Response(body=container().rules.rule_bytes(country, digest).decode("utf-8"), headers=_CACHE)


@route(bp, "/v1/valuesets", methods=["GET"], auth=False, openapi={
    "summary": "Value sets the rules use: [{id, hash}]", "tags": ["verifiers"]})
def value_set_list():
    return Response(body=container().rules.value_set_list(), headers=_CACHE)


@route(bp, "/v1/valuesets/{digest}", methods=["GET"], auth=False, openapi={
    "summary": "One value set; its SHA-256 is the hash in the list", "tags": ["verifiers"]})
def value_set(digest: str):
    return Response(body=container().rules.value_set_bytes(digest).decode("utf-8"), headers=_CACHE)


@route(bp, "/v1/passports/me/travel-check", methods=["GET"], openapi={
    "summary": "Does my passport pass country CC's business rules now? (?country=CC)", "tags": ["passports"],
    "responses": {"400": {"description": "COUNTRY_INVALID"}, "404": {"description": "no valid passport"}}})
def travel_check():
    p = current_principal()
    policy.require_citizen(p, p.citizen_id or "")
    query: Mapping[str, str] = bp.current_request.query_params or {}
    return container().rules.travel_check(p.citizen_id or "", query.get("country", ""))
