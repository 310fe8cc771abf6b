"""Reports whether the services vaxpass depends on can be reached (GET /v1/health)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

from chalicelib import errors


class Probe(Protocol):
    @property
    def name(self) -> str: ...

    def check(self) -> None:
        """Returns if the dependency answers; raises a DomainError (DependencyUnavailable) if not."""


@dataclass(frozen=True)
class FunctionProbe:
    name: str
    fn: Callable[[], None]

    def check(self) -> None:
        self.fn()


class HealthService:
    def __init__(self, probes: Iterable[Probe]) -> None:
        self._probes = list(probes)

    def report(self) -> dict:
        checks = {}
        for probe in self._probes:
            started = time.perf_counter()
            try:
                probe.check()
                status, detail = "ok", None
            except errors.DependencyUnavailable as e:
                status, detail = "unreachable", e.message
            entry = {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
            if detail:
                entry["detail"] = detail
            checks[probe.name] = entry
        healthy = all(c["status"] == "ok" for c in checks.values())
        return {"status": "ok" if healthy else "degraded", "checks": checks}
