"""Test-wide setup. Unit tests never open sockets; integration tests use LocalStack via
AWS_ENDPOINT_URL (started by `make test`), with resources created under a unique prefix."""
from __future__ import annotations

import os
import uuid

import pytest

# Credentials LocalStack accepts; never real ones. setdefault keeps an operator's choice.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_REGION", "ap-southeast-1")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
# One resource prefix per test session, set before app.py is imported: Chalice binds SQS handlers
# to queue names at import, and LocalStack has no reset, so each run gets its own resources.
os.environ["VAXPASS_STAGE"] = "test"
os.environ["VAXPASS_RESOURCE_PREFIX"] = f"vxt-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def aws_endpoint() -> str:
    import urllib.request

    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        pytest.fail("integration tests need AWS_ENDPOINT_URL (run them with `make test`)")
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=5) as resp:
            resp.read()
    except OSError as e:
        pytest.fail(f"LocalStack not reachable at {url}: {e} (run `make test`)")
    return url
