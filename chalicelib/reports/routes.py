"""HTTP routes of the progress reports and the ministry dashboard (a static page plus its JS and
CSS, served from this package so the page works offline: no CDN, nothing fetched elsewhere).

Who sees what:
  /v1/reports/provinces, .csv, /v1/reports/daily   ministry, operator
  /v1/reports/provinces/{code}, daily?province=    ministry, operator; a province its own code only
  /dashboard and its assets                         public files (no data in them); the data
                                                    comes from the routes above with the token

The page takes the token from its form or the URL fragment, never from the query, and keeps it in
sessionStorage. Its headers keep it there: no Referer is ever sent, no script but ours runs (CSP
without 'unsafe-inline'), the form cannot be submitted anywhere, and no other site can frame it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from chalice import Blueprint, Response

from chalicelib import errors
from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.auth.principal import NATIONAL_ROLES, Role
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)
STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
_JSON: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "no-store"}
# The page may only talk to this origin: a forgotten CDN link or injected script would fail.
_PAGE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
         "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                                    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                                    "form-action 'none'; frame-ancestors 'none'"}


def _csv_response() -> Response:
    return Response(body=container().reports.provinces_csv(), headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": 'attachment; filename="vaxpass-provinces.csv"'})


def _params() -> Mapping[str, str]:
    return bp.current_request.query_params or {}


def _national() -> None:
    policy.require_roles(current_principal(), *NATIONAL_ROLES)


def _province_or_national(code: str | None) -> None:
    p = current_principal()
    if code is None:
        policy.require_roles(p, *NATIONAL_ROLES)
    else:
        policy.require_roles(p, Role.PROVINCE, *NATIONAL_ROLES)
        policy.require_province(p, code)


@route(bp, "/v1/reports/provinces", methods=["GET"], openapi={
    "summary": "National totals and one row per province (?format=csv for CSV)", "tags": ["reports"]})
def provinces():
    _national()
    if _params().get("format") == "csv":
        return _csv_response()
    return Response(body=container().reports.provinces(), headers=_JSON)


@route(bp, "/v1/reports/provinces.csv", methods=["GET"], openapi={
    "summary": "Province report as CSV (UTF-8 with BOM, formula-safe)", "tags": ["reports"]})
def provinces_csv():
    _national()
    return _csv_response()


@route(bp, "/v1/reports/provinces/{code}", methods=["GET"], openapi={
    "summary": "One province and its facilities", "tags": ["reports"]})
def province(code: str):
    _province_or_national(code)
    return Response(body=container().reports.province(code), headers=_JSON)


@route(bp, "/v1/reports/daily", methods=["GET"], openapi={
    "summary": "Passports issued per UTC day (?days=N, ?province=CODE)", "tags": ["reports"]})
def daily():
    p = _params()
    _province_or_national(p.get("province"))
    return Response(body=container().reports.daily(p.get("days", "30"), p.get("province")), headers=_JSON)


@route(bp, "/dashboard", methods=["GET"], auth=False, openapi={
    "summary": "The ministry dashboard page (data needs a token: typed into its form or given as "
               "#token=…; kept in sessionStorage; ?token= is refused)", "tags": ["reports"]})
def dashboard():
    return Response(body=(STATIC / "dashboard.html").read_text(encoding="utf-8"),
                    headers={"Content-Type": "text/html; charset=utf-8", **_PAGE})


@route(bp, "/dashboard/{asset}", methods=["GET"], auth=False, openapi={
    "summary": "The dashboard's script and style sheet", "tags": ["reports"]})
def dashboard_asset(asset: str):
    # Only the files listed: the name never reaches the file system unchecked.
    if asset not in ASSETS:
        raise errors.NotFound("no such file", details={"asset": asset})
    return Response(body=(STATIC / asset).read_text(encoding="utf-8"),
                    headers={"Content-Type": ASSETS[asset], **_PAGE})
