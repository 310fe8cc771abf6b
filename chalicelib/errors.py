"""Domain error base classes. HTTP mapping lives in chalicelib/platform/http.py, nowhere else."""
from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user may see. `code` is stable; `message` is safe to show."""

    code = "ERROR"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationError(DomainError):
    code = "VALIDATION_ERROR"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    code = "CONFLICT"


class Gone(DomainError):
    """The thing existed and was withdrawn for good (e.g. a revoked passport's QR code)."""

    code = "GONE"


class Unauthorized(DomainError):
    code = "UNAUTHORIZED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class DependencyUnavailable(DomainError):
    """An AWS service or the population registry could not be reached; retrying may help."""

    code = "DEPENDENCY_UNAVAILABLE"


class Throttled(DependencyUnavailable):
    code = "THROTTLED"


class TooManyRequests(DomainError):
    """The caller went over its rate; `retry_after_s` says when the next call can succeed."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_s: int, details: dict | None = None) -> None:
        super().__init__(message, details={**(details or {}), "retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class SealBroken(DomainError):
    """An encrypted field did not open under its item's context: copied from another item or
    altered. Never retried (the data itself is wrong); the item's key is logged, not its content."""

    code = "SEAL_BROKEN"
