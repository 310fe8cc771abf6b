"""Translates botocore failures into domain errors at the adapter boundary."""
from __future__ import annotations

from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import errors

THROTTLING_CODES = {"ThrottlingException", "Throttling", "ProvisionedThroughputExceededException",
                    "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"}


@contextmanager
def aws_call(what: str):
    try:
        yield
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            raise errors.Throttled(f"{what}: throttled") from e
        raise errors.DependencyUnavailable(f"{what}: {code or 'error'}") from e
    except BotoCoreError as e:
        raise errors.DependencyUnavailable(f"{what}: {type(e).__name__}") from e
