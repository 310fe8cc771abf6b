"""Fakes of the platform ports: the access log (chalicelib/cleaning/access.py), the dead-letter
queues, health probes, a JWKS source (chalicelib/auth/tokens.py), and the audit check of logged
revocations (chalicelib/signing/anchor.py's LoggedRevocations, served by RevocationService)."""
from __future__ import annotations

import copy

from chalicelib import errors


class FakeAccessLog:
    def __init__(self) -> None:
        self.entries: list = []
        self.down = False  # the store refuses writes: nothing may be shown then

    def record_read(self, entry):
        if self.down:
            raise errors.DependencyUnavailable("access log: write failed; the result is not shown")
        if not entry.people and not entry.record_id:
            raise ValueError("an access-log entry names a record or the people it showed")
        self.entries.append(entry)

    def reads_of_record(self, facility_id, record_id, *, since=None):
        return sorted((e for e in self.entries if (e.facility_id, e.record_id) == (facility_id, record_id)
                       and (since is None or e.at >= since)), key=lambda e: e.at)

    def reads_by(self, reader_key, *, since=None):
        return sorted((e for e in self.entries if e.reader.key() == reader_key and (since is None or e.at >= since)),
                      key=lambda e: e.at)

    def latest_reads_of_person(self, person, *, before, limit):
        newest = sorted(self.reads_of_person(person), key=lambda e: e.at, reverse=True)
        return [e for e in newest if before is None or e.at < before][:limit]

    def reads_of_person(self, person, *, since=None):
        from dataclasses import replace

        return sorted((replace(e, people=tuple(d for d in e.people if d.person == person)) for e in self.entries
                       if any(d.person == person for d in e.people) and (since is None or e.at >= since)),
                      key=lambda e: e.at)


class FakeDeadLetters:
    """Messages sent to a queue's DLQ with their reason (DeadLetters.send)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, str]] = []  # (queue, body, code, message)

    def send(self, logical, body, code, message):
        self.sent.append((logical, body, code, message[:1000]))

    def peek(self, logical, limit=10):
        return [{"message_id": f"m{i}", "receive_count": "1", "error_code": c, "error_message": m, "body": b}
                for i, (q, b, c, m) in enumerate(self.sent) if q == logical][:limit]


class FakeOperatorIdentity:
    """The ARN the CLI's credentials name (StsOperatorIdentity)."""

    def __init__(self, arn: str = "arn:aws:iam::000000000000:user/operator-1") -> None:
        self.arn = arn

    def who(self) -> str:
        return self.arn


class FakeProbe:
    def __init__(self, name: str, down: bool = False) -> None:
        self.name = name
        self.down = down

    def check(self):
        if self.down:
            raise errors.DependencyUnavailable(f"{self.name} unreachable")


class FakeJwksSource:
    """The identity provider's JWKS in memory; `fetches` counts the downloads the cache makes,
    `fail` makes the provider unreachable."""

    def __init__(self, *jwks: dict) -> None:
        self.keys = list(jwks)
        self.fetches = 0
        self.fail = False

    def fetch(self):
        from chalicelib.auth.tokens import JwksUnavailable

        self.fetches += 1
        if self.fail:
            raise JwksUnavailable("the token keys cannot be read")
        return {"keys": copy.deepcopy(self.keys)}


class FakeLoggedRevocations:
    """Answers `audit verify`'s question about each logged revocation: in effect unless listed
    in `not_applied` (uvci -> why)."""

    def __init__(self, not_applied: dict[str, str] | None = None) -> None:
        self.not_applied = dict(not_applied or {})
        self.asked: list[tuple[str, int, bool]] = []

    def not_in_effect(self, entry, sequence, *, lifted=False):
        self.asked.append((entry.get("uvci"), sequence, lifted))
        return self.not_applied.get(entry.get("uvci"))
