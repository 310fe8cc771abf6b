"""Composition root: builds AWS clients, adapters and services lazily, once per process.

Handlers call `container()` and ask for what they need; nothing is created at import time. Tests
build `Container(Settings(...))` themselves to point at their own LocalStack resources.
"""
from __future__ import annotations

import threading
from functools import cached_property

import boto3
from botocore.config import Config

from chalicelib.settings import Settings, get_settings


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}

    # -- AWS clients --------------------------------------------------------------------------
    def client(self, service: str):
        """A boto3 client for the configured region and endpoint (LocalStack or AWS)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(
                    service, endpoint_url=self.settings.endpoint_url,
                    config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                  max_pool_connections=32))
            return self._clients[service]

    @cached_property
    def _session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=self.settings.region)

    @cached_property
    def queue_urls(self) -> "QueueUrls":
        from chalicelib.aws.sqs import QueueUrls

        return QueueUrls(self.client("sqs"), self.settings)

    # -- services -----------------------------------------------------------------------------
    @cached_property
    def health(self):
        from chalicelib.aws.health import aws_probes
        from chalicelib.health.service import HealthService

        return HealthService(aws_probes(self))


_container: Container | None = None
_container_lock = threading.Lock()


def container() -> Container:
    global _container
    with _container_lock:
        if _container is None:
            _container = Container(get_settings())
        return _container


def set_container(c: Container | None) -> None:
    """Replaces the process-wide container (tests, the local event runner)."""
    global _container
    with _container_lock:
        _container = c
