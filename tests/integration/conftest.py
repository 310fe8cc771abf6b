from __future__ import annotations

import uuid

import boto3
import pytest


@pytest.fixture(scope="session")
def region() -> str:
    import os

    return os.environ["AWS_REGION"]


@pytest.fixture(scope="session")
def sqs(aws_endpoint, region):
    return boto3.client("sqs", endpoint_url=aws_endpoint, region_name=region)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
