"""The principal of the request being handled, for views: `current_principal()`.

`platform.http.route` authenticates protected routes before the view runs and binds the principal
here for the duration of the call; a ContextVar (not a module global) keeps concurrent requests in
threaded servers (`chalice local`, tests) from seeing each other's principal.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from chalicelib import errors
from chalicelib.auth.principal import Principal

_current: ContextVar[Principal | None] = ContextVar("vaxpass_principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller; Unauthorized (401) on a public route or outside a request."""
    principal = _current.get()
    if principal is None:
        raise errors.Unauthorized("this call is not authenticated")
    return principal


@contextmanager
def bound_principal(principal: Principal) -> Iterator[Principal]:
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)
