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


def s3_get_or_none(s3, bucket: str, key: str, what: str) -> bytes | None:
    """An S3 object's bytes, None if there is no such object; any other failure is `what` failing."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise errors.DependencyUnavailable(f"{what}: read failed") from e
    except BotoCoreError as e:
        raise errors.DependencyUnavailable(f"{what}: read failed") from e
