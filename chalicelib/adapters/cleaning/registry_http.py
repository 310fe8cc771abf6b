"""Population registry adapter for the national registry gateway (HTTPS, optionally mutual TLS).

Gateway contract (JSON):
  GET {base}/v1/citizens/{citizen_id}      -> 200 person | 404
  GET {base}/v1/candidates?block_key=KEY   -> 200 {"people": [person, ...]}
  person = {"citizen_id", "full_name", "date_of_birth" (YYYY-MM-DD), "sex" (M|F), "province_code"}

Timeouts, retries with backoff on 429/5xx and connection errors, and a client-side rate limit keep
a cleaning surge from overrunning the gateway; failures become DependencyUnavailable/Throttled so
the SQS message is retried later rather than a record being marked NOT_FOUND.

The gateway answers one person or one block per request, so the per-chunk reads (`get_many`,
`candidates_many`) are the single requests in turn, each through the rate limit.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any, Sequence
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError
from urllib3.util import Retry, Timeout

from chalicelib import errors
from chalicelib.intake.records import RegistryPerson
from chalicelib.platform.token_bucket import TokenBucket as RateLimiter


class HttpRegistry:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0, retries: int = 3,
                 rate_limit_per_s: float = 50.0, client_cert: str | None = None,
                 client_key: str | None = None, ca_bundle: str | None = None) -> None:
        self._base = base_url.rstrip("/")
        retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=0.2,
                      backoff_jitter=0.1, status_forcelist=(429, 500, 502, 503, 504),
                      allowed_methods=frozenset({"GET"}), raise_on_status=False)
        kwargs: dict[str, Any] = {"timeout": Timeout(total=timeout_s), "retries": retry, "maxsize": 16}
        if self._base.startswith("https://"):
            kwargs.update(cert_reqs="CERT_REQUIRED", ca_certs=ca_bundle, cert_file=client_cert,
                          key_file=client_key)
        self._http = urllib3.PoolManager(**kwargs)
        self._limiter = RateLimiter(rate_limit_per_s)

    @classmethod
    def from_settings(cls, s) -> "HttpRegistry":
        if not s.registry_url:
            raise errors.DependencyUnavailable("VAXPASS_REGISTRY_URL is not set")
        return cls(s.registry_url, timeout_s=s.registry_timeout_s, retries=s.registry_retries,
                   rate_limit_per_s=s.registry_rate_limit_per_s, client_cert=s.registry_client_cert,
                   client_key=s.registry_client_key, ca_bundle=s.registry_ca_bundle)

    def _get(self, path: str) -> dict | None:
        self._limiter.acquire()
        try:
            resp = self._http.request("GET", self._base + path, headers={"Accept": "application/json"})
        except MaxRetryError as e:
            raise errors.DependencyUnavailable("registry gateway unreachable") from e
        except HTTPError as e:
            raise errors.DependencyUnavailable(f"registry gateway: {type(e).__name__}") from e
        if resp.status == 404:
            return None
        if resp.status == 429:
            raise errors.Throttled("registry gateway throttled the request")
        if resp.status != 200:
            raise errors.DependencyUnavailable(f"registry gateway answered {resp.status}")
        try:
            return json.loads(resp.data)
        except ValueError as e:
            raise errors.DependencyUnavailable("registry gateway sent malformed JSON") from e

    @staticmethod
    def _person(d: dict) -> RegistryPerson:
        try:
            return RegistryPerson(d["citizen_id"], d["full_name"], date.fromisoformat(d["date_of_birth"]),
                                  d["sex"], d.get("province_code", ""))
        except (KeyError, TypeError, ValueError) as e:
            raise errors.DependencyUnavailable("registry gateway sent an incomplete person") from e

    def get(self, citizen_id: str) -> RegistryPerson | None:
        body = self._get(f"/v1/citizens/{quote(citizen_id, safe='')}")
        return None if body is None else self._person(body)

    def get_many(self, citizen_ids: Sequence[str]) -> dict[str, RegistryPerson]:
        return {i: p for i in dict.fromkeys(citizen_ids) if i and (p := self.get(i)) is not None}

    def candidates(self, block_key: str) -> list[RegistryPerson]:
        body = self._get("/v1/candidates?" + urlencode({"block_key": block_key}))
        return [] if body is None else [self._person(p) for p in body.get("people", [])]

    def candidates_many(self, block_keys: Sequence[str]) -> dict[str, list[RegistryPerson]]:
        return {k: self.candidates(k) for k in dict.fromkeys(block_keys)}
