"""The one place where domain errors become HTTP responses.

Every route is registered through `route(bp, path, ...)`, which wraps the view: routes raise
domain errors and never build error responses themselves. (Chalice turns exceptions raised in a
view into a 500 before HTTP middleware sees them, so the translation must wrap the view.)
Unexpected exceptions become a 500 with an incident id; their text is logged, never sent.
"""
from __future__ import annotations

import functools
import uuid

from chalice import Response
from chalice.app import ChaliceViewError

from chalicelib import errors

STATUS = {
    errors.ValidationError: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Throttled: 429,
    errors.DependencyUnavailable: 503,
}


def status_for(err: errors.DomainError) -> int:
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def error_response(err: errors.DomainError) -> Response:
    headers = {"Content-Type": "application/json"}
    if isinstance(err, errors.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return Response(body=error_body(err.code, err.message, err.details), status_code=status_for(err),
                    headers=headers)


def translate_errors(view, path: str):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except errors.DomainError as err:
            return error_response(err)
        except ChaliceViewError:
            # Chalice's own 4xx (BadRequestError from bad JSON, etc.) keep their meaning.
            raise
        except Exception:  # noqa: BLE001 - last-resort boundary: log with traceback, answer 500
            from chalicelib.platform.logging import get_logger

            incident = uuid.uuid4().hex
            get_logger().exception("unhandled error", incident=incident, route=path)
            return Response(body=error_body("INTERNAL", f"internal error (incident {incident})"),
                            status_code=500, headers={"Content-Type": "application/json"})
    return wrapped


def route(bp, path: str, **kwargs):
    """`@route(bp, "/v1/x", methods=["GET"])`: bp.route with domain-error translation."""
    def decorator(view):
        bp.route(path, **kwargs)(translate_errors(view, path))
        return view
    return decorator
