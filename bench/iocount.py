"""Counts every AWS request a piece of the app makes, by service and operation, and the writes per
DynamoDB item: what "count the I/O" means, measured instead of read off the code.

The benchmarks (bench/bench_pipeline.py) and tests use it. It listens to botocore events, so every
request is seen whichever code path makes it, on the two kinds of clients the app has:
- the boto3 clients the Container makes (`Container.client`): one boto3 session per container,
  whose event emitter every client copies when it is created;
- pynamodb's own clients: pynamodb does not take a session; each `Connection` builds one per thread
  with `botocore.session.get_session()` imported into `pynamodb.connection.base`, and creates its
  client from it. `watch_pynamodb()` wraps that function so every new session gets the hooks.
Both must be hooked before the first client is created (emitters are copied at creation).

Two events are used: `before-parameter-build` fires once per API call with the call's parameters
(the keys a write names), `before-send` once per HTTP attempt (so `retries` = attempts - calls:
throttling and TransactionConflict retries show up there).

Nothing here is imported by the app: it is measurement, not behaviour.
"""
from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

_WRITE_OPS = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


def _key_names() -> dict[str, tuple[str, ...]]:
    from infra.spec import TABLES

    return {t.logical: (t.hash_key,) + ((t.range_key,) if t.range_key else ()) for t in TABLES}


def _scalar(value: dict) -> str:
    # DynamoDB JSON: {"S": "NATIONAL"} -> "NATIONAL"
    return str(next(iter(value.values()))) if isinstance(value, dict) and value else str(value)


def _by_first(counts: Counter) -> dict[str, int]:
    """Sums a Counter keyed by (service, operation) or (table, key) by its first part."""
    out: Counter = Counter()
    for (first, _), n in counts.items():
        out[first] += n
    return dict(out)


@dataclass
class Figures:
    """What one stage did: API calls and attempts by (service, operation), writes by (table, key)."""

    calls: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    item_writes: Counter = field(default_factory=Counter)
    # Write units: an item written in a transaction costs 2, otherwise 1 (items under 1 KB).
    item_wru: Counter = field(default_factory=Counter)

    def by_service(self) -> dict[str, int]:
        return _by_first(self.calls)

    def total_writes(self) -> int:
        return sum(self.item_writes.values())

    def hottest(self) -> tuple[tuple[str, str], int, float]:
        """The item written most often, its writes, and its share of the stage's item writes."""
        if not self.item_writes:
            return ("-", "-"), 0, 0.0
        item, n = self.item_writes.most_common(1)[0]
        return item, n, n / self.total_writes()

    def hottest_wru(self) -> int:
        return self.item_wru.most_common(1)[0][1] if self.item_wru else 0

    def wru_by_table(self) -> dict[str, int]:
        return _by_first(self.item_wru)

    def retries(self) -> int:
        return max(0, sum(self.attempts.values()) - sum(self.calls.values()))


class RequestCounter:
    """Collects Figures for the stage named by `stage(name)`; requests outside a stage are not counted
    (setup, and the event runner's own polling, which is Lambda's work, not the function's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stage: str | None = None
        self.stages: dict[str, Figures] = {}
        self._keys = _key_names()
        self._pynamodb_patched = False
        self._local = threading.local()

    # -- hooking clients -------------------------------------------------------------------------
    def watch_session(self, botocore_session) -> None:
        """Hooks a botocore session: every client it creates afterwards is counted."""
        botocore_session.register("before-parameter-build", self._on_call)
        botocore_session.register("before-send", self._on_send)

    def watch_container(self, container) -> None:
        """Hooks the boto3 session of a Container (before it has made any client)."""
        self.watch_session(container._session._session)

    def watch_client(self, client) -> None:
        """Hooks one existing client (e.g. a KMS client a benchmark made itself)."""
        client.meta.events.register("before-parameter-build", self._on_call)
        client.meta.events.register("before-send", self._on_send)

    def watch_pynamodb(self) -> None:
        import pynamodb.connection.base as base

        if self._pynamodb_patched:
            return
        original = base.get_session

        def counted_session():
            session = original()
            self.watch_session(session)
            return session

        base.get_session = counted_session
        self._pynamodb_patched = True

    # -- stages ----------------------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str) -> Iterator[Figures]:
        with self._lock:
            figures = self.stages.setdefault(name, Figures())
            self._stage = name
        try:
            yield figures
        finally:
            with self._lock:
                self._stage = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Requests made by this thread meanwhile are not counted (a benchmark polling progress)."""
        self._local.paused = True
        try:
            yield
        finally:
            self._local.paused = False

    def _figures(self) -> Figures | None:
        if self._stage is None or getattr(self._local, "paused", False):
            return None
        return self.stages[self._stage]

    # -- event handlers --------------------------------------------------------------------------
    def _on_call(self, params=None, model=None, **_) -> None:
        if model is None:
            return
        service = model.service_model.service_name
        with self._lock:
            figures = self._figures()
            if figures is None:
                return
            figures.calls[(service, model.name)] += 1
            if service == "dynamodb" and model.name in _WRITE_OPS:
                units = 2 if model.name == "TransactWriteItems" else 1
                for item in self._written_items(model.name, params or {}):
                    figures.item_writes[item] += 1
                    figures.item_wru[item] += units

    def _on_send(self, event_name: str = "", **_) -> None:
        # before-send.<service id>.<operation>
        parts = event_name.split(".")
        if len(parts) >= 3:
            with self._lock:
                figures = self._figures()
                if figures is not None:
                    figures.attempts[(parts[1], parts[2])] += 1

    def _written_items(self, op: str, params: dict) -> list[tuple[str, str]]:
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            return [self._item(params.get("TableName", ""), params.get("Item") or params.get("Key") or {})]
        if op == "TransactWriteItems":
            out = []
            for entry in params.get("TransactItems", []):
                for kind in ("Put", "Update", "Delete"):  # a ConditionCheck writes nothing
                    if kind in entry:
                        e = entry[kind]
                        out.append(self._item(e.get("TableName", ""), e.get("Item") or e.get("Key") or {}))
            return out
        if op == "BatchWriteItem":
            out = []
            for table, requests in (params.get("RequestItems") or {}).items():
                for r in requests:
                    body = r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key") or {}
                    out.append(self._item(table, body))
            return out
        return []

    def _item(self, table: str, attrs: dict) -> tuple[str, str]:
        logical = next((name for name in self._keys if table.endswith(f"-{name}")), table)
        names = self._keys.get(logical, tuple(sorted(attrs))[:2])
        return logical, "/".join(_scalar(attrs[n]) for n in names if n in attrs)
