"""Contract tests: one test class per port family, run on the fake (tests/fakes/) and on the real
adapter against LocalStack. Each module's `impl` fixture is parametrised with both; the LocalStack
half is marked `integration` (`make unit` leaves it out, `make test` runs both).

The LocalStack half builds its adapters through the composition root, on resources of their own
(a prefix of the session's, `<prefix>-c`): the contract tests append to the audit chain and put
records without the counters a pipeline would move, which must not show in the integration tests'
audits and reconciliations."""
from __future__ import annotations

import uuid

import pytest

FAKE, LOCALSTACK = "fake", "localstack"
BOTH = [FAKE, pytest.param(LOCALSTACK, marks=pytest.mark.integration)]


@pytest.fixture(scope="session")
def contract_container(aws_endpoint):
    """The real composition root on this session's contract resources."""
    import os

    from chalicelib.settings import get_settings
    from chalicelib.wiring import Container
    from infra.bootstrap import bootstrap

    base = get_settings()
    prefix = f"{base.resource_prefix}-c"
    bootstrap(prefix, region=os.environ["AWS_REGION"], endpoint_url=aws_endpoint)
    import dataclasses

    return Container(dataclasses.replace(base, resource_prefix=prefix, endpoint_url=aws_endpoint))


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


def real(request) -> "Container":  # noqa: F821 - resolved lazily: only the LocalStack half needs it
    """The composition root on LocalStack (asked for only by the LocalStack half)."""
    return request.getfixturevalue("contract_container")


def own_queue(container, unique: str) -> str:
    """A queue for one test (its messages are nobody else's)."""
    sqs = container.client("sqs")
    return sqs.create_queue(QueueName=f"{container.settings.resource_prefix}-q-{unique}")["QueueUrl"]


class OneTable:
    """The DynamoDB adapters that share one table behind one object, as its fake is one: each
    method is the first adapter's that has it."""

    def __init__(self, *adapters) -> None:
        self._adapters = adapters

    def __getattr__(self, name):
        for adapter in self._adapters:
            if hasattr(adapter, name):
                return getattr(adapter, name)
        raise AttributeError(name)
