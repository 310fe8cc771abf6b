"""A citizen's own access log (`GET /v1/access-log/me`), and `shown()`, which the routes that
return a person's data call before they return it."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping

from chalice import Blueprint

from chalicelib import errors
from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.cleaning.access import Reader
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)


def shown(route_name: str, people: Mapping[str, Iterable[str]]) -> None:
    """The caller is about to be shown `people`'s data (citizen id -> keys): logged first, so a
    read whose entry cannot be written fails (503) instead of going unlogged."""
    p = current_principal()
    container().person_access.shown(Reader.acting(p.role.value, p.subject, p.facility_id, p.province_code),
                                    route_name, people)


@route(bp, "/v1/access-log/me", methods=["GET"], openapi={
    "summary": "Who read my data (records, passport, complaints), what and when", "tags": ["access-log"],
    "description": "Citizens only, their own history: the reader's role and the facility or province it acted "
                   "for, the route and the keys of what was shown, newest first, 100 a page (`next_before`, "
                   "then `?before=`). Kept VAXPASS_ACCESS_LOG_RETENTION_DAYS."})
def my_access_log():
    p = current_principal()
    policy.require_citizen(p, p.citizen_id or "")
    params: Mapping[str, str] = bp.current_request.query_params or {}
    return container().person_access.mine(p.citizen_id or "", before=_before(params.get("before")))


def _before(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text[:40])
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise errors.ValidationError("before: an ISO-8601 time with its offset, as next_before gives it")
    return at
