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


@pytest.fixture(scope="session")
def stack(aws_endpoint, region):
    """Every resource of infra/spec.py, created on LocalStack under a prefix unique to this run."""
    from chalicelib.settings import get_settings
    from infra.bootstrap import bootstrap

    settings = get_settings()
    assert settings.endpoint_url == aws_endpoint
    created = bootstrap(settings.resource_prefix, region=region, endpoint_url=aws_endpoint)
    return settings, created


@pytest.fixture
def app_client(stack):
    """The real Chalice app, wired to this run's LocalStack resources."""
    from chalice.test import Client

    from app import app
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    set_container(Container(settings))
    with Client(app) as client:
        yield client
    set_container(None)


@pytest.fixture
def runner(stack, sqs, region):
    """The local event source mapping over the real app's SQS handlers."""
    from app import app
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    set_container(Container(settings))
    yield EventRunner(app, sqs, region=region, wait_time_s=0)
    set_container(None)
