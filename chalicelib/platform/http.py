"""The one place where domain errors become HTTP responses.

Every route is registered through `route(bp, path, ...)`, which wraps the view: routes raise
domain errors and never build error responses themselves. (Chalice turns exceptions raised in a
view into a 500 before HTTP middleware sees them, so the translation must wrap the view.)
Unexpected exceptions become a 500 with an incident id; their text is logged, never sent.

Authentication happens here too (`auth=True`, the default): the bearer token is verified before
the view runs and the principal is bound for `chalicelib.auth.context.current_principal()`. We do
not use a Chalice built-in authorizer, although `chalice local` and `chalice.test.Client` run them:
an authorizer can only answer an invalid token with 401 by raising, which both local runners let
escape as an exception (the test client raises, `chalice local` drops the connection), and the
gateway's own 401 for a missing header carries neither `WWW-Authenticate` nor our error codes.
Verifying here behaves the same locally, in tests and on AWS.

Request bodies are declared, never read by hand: `body=SCHEMA` parses the JSON body once, checks
it against SCHEMA (a validator compiled here, once per route; see `platform.contract`) after
authentication and before the view runs, and hands the view the checked body as its `body`
argument. SCHEMA is also the route's OpenAPI `requestBody`, so `openapi=` may not carry one.

Each registered view carries its `RouteDoc` (auth flag, body contract and OpenAPI metadata) as
`route_doc`, so `platform.openapi` documents exactly the routes the app has.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Mapping

from chalice import Response
from chalice.app import ChaliceViewError

from chalicelib import errors
from chalicelib.platform.contract import MAX_BODY_BYTES, BodyContract, BodyTooLarge

STATUS = {
    errors.ValidationError: 400,
    BodyTooLarge: 413,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.Throttled: 429,
    errors.TooManyRequests: 429,
    errors.DependencyUnavailable: 503,
    # Stored data that does not open where it is: nothing the caller did, nothing a retry fixes.
    errors.SealBroken: 500,
}


def status_for(err: errors.DomainError) -> int:
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    body: dict[str, dict[str, object]] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def error_response(err: errors.DomainError) -> Response:
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if isinstance(err, errors.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(err, errors.TooManyRequests):
        headers["Retry-After"] = str(err.retry_after_s)
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


@dataclass(frozen=True)
class RouteDoc:
    """What `route()` knows about a route beyond Chalice: is it protected, and its OpenAPI text.

    `openapi` holds OpenAPI operation fields (summary, description, responses, parameters, tags);
    `platform.openapi` adds the request body from `contract`, path parameters, security and error
    responses."""

    auth: bool = True
    openapi: Mapping = field(default_factory=dict)
    contract: BodyContract | None = None


def authenticated(view, bp):
    """Verifies the bearer token, then runs the view with the principal bound."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        from chalicelib.auth.context import bound_principal
        from chalicelib.wiring import container

        header = bp.current_request.headers.get("authorization")
        principal = container().token_verifier.verify_header(header)
        with bound_principal(principal):
            return view(*args, **kwargs)
    return wrapped


def with_body(view, bp, contract: BodyContract):
    """Runs the view with `body=`, the request's JSON body once `contract` accepts it."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        return view(*args, body=contract.parse(bp.current_request.raw_body), **kwargs)
    return wrapped


def route(bp, path: str, *, auth: bool = True, openapi: Mapping | None = None, body: Mapping | None = None,
          body_required: bool = True, max_body_bytes: int = MAX_BODY_BYTES, **kwargs):
    """`@route(bp, "/v1/x", methods=["GET"])`: bp.route with authentication (unless `auth=False`)
    and domain-error translation. `openapi={"summary": ...}` documents it in /v1/openapi.json.
    `body=SCHEMA` (with `body_required`, `max_body_bytes`): the view is called with the checked
    JSON body as `body`, and SCHEMA is its documented requestBody."""
    meta = dict(openapi or {})
    if "requestBody" in meta:
        raise TypeError(f"{path}: declare the request body with body=SCHEMA, not openapi['requestBody']")
    contract = None
    if body is not None:
        contract = BodyContract(body, required=body_required, max_bytes=max_body_bytes)
        kwargs.setdefault("content_types", ["application/json"])

    def decorator(view):
        inner = with_body(view, bp, contract) if contract is not None else view
        handler = translate_errors(authenticated(inner, bp) if auth else inner, path)
        handler.route_doc = RouteDoc(auth=auth, openapi=meta, contract=contract)
        bp.route(path, **kwargs)(handler)
        return view
    return decorator
