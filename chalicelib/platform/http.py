"""The one place where domain errors become HTTP responses.

Registered as Chalice HTTP middleware in app.py, so routes raise domain errors and never build
error responses themselves. Unexpected exceptions become a 500 with a correlation id; their text
is logged, never sent to the client.
"""
from __future__ import annotations

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


def error_middleware(event, get_response):
    try:
        return get_response(event)
    except errors.DomainError as err:
        return error_response(err)
    except ChaliceViewError:
        # Chalice's own 4xx (BadRequestError from bad JSON, etc.) keep their meaning.
        raise
    except Exception:  # noqa: BLE001 - last-resort boundary: log with traceback, answer 500
        from chalicelib.platform.logging import get_logger

        incident = uuid.uuid4().hex
        get_logger().exception("unhandled error", incident=incident, path=event.path)
        return Response(body=error_body("INTERNAL", f"internal error (incident {incident})"),
                        status_code=500, headers={"Content-Type": "application/json"})
