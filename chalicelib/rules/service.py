"""Publishes our business rules and value sets in the gateway's shapes, keeps other countries'
rules, and answers a citizen's travel check: does my passport pass country CC's rules today?

The list/hash shape is the one the EU gateway's business rule service serves, so the verifier
apps that read the gateway can read ours: GET /rules is [{identifier, version, country, hash}],
and GET /rules/{country}/{hash} returns the exact bytes whose SHA-256 is that hash.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Protocol

from chalicelib import errors
from chalicelib.dcc.certlogic import validate
from chalicelib.dcc.rules import (IDENTIFIER, Rule, RuleFormatError, canonical_bytes, check_certificate,
                                  national_rule_documents, parse_rule, passes, rule_hash)
from chalicelib.dcc.valuesets import rule_value_sets, value_set_documents, value_set_hash


# Published rules are a few KB; the cap keeps a stored rule far below DynamoDB's 400 KB item.
MAX_RULE_BYTES = 100_000


@dataclass(frozen=True)
class StoredRule:
    country: str
    identifier: str
    version: str
    hash: str
    document: dict[str, Any]


class RuleStore(Protocol):
    def put_many(self, rules: list[StoredRule]) -> None:
        """Stores rules (idempotent: the same identifier and version is overwritten)."""

    def for_country(self, country: str) -> list[StoredRule]: ...

    def all(self) -> list[StoredRule]: ...


class PassportSource(Protocol):
    def current_passport(self, citizen_id: str) -> dict | None: ...


class SignerCertificates(Protocol):
    def all(self) -> list: ...


@dataclass(frozen=True)
class ImportReport:
    stored: list[str]
    refused: list[tuple[str, str]]  # (file or identifier, reason)


class RuleNotFound(errors.NotFound):
    code = "RULE_NOT_FOUND"


class UnknownCountry(errors.ValidationError):
    code = "COUNTRY_INVALID"


class RulesService:
    def __init__(self, store: RuleStore, passports: PassportSource, signers: SignerCertificates,
                 clock: Callable[[], datetime], country: str) -> None:
        self._store = store
        self._passports = passports
        self._signers = signers
        self._now = clock
        self._country = country

    # -- publication -------------------------------------------------------------------------
    def _national(self) -> list[StoredRule]:
        return [_stored(document) for document in national_rule_documents()]

    def rule_list(self) -> list[dict[str, str]]:
        return [{"identifier": r.identifier, "version": r.version, "country": r.country, "hash": r.hash}
                for r in [*self._national(), *self._store.all()]]

    def rule_bytes(self, country: str, digest: str) -> bytes:
        country = _country(country)
        candidates = self._national() if country == self._country else self._store.for_country(country)
        for rule in candidates:
            if rule.hash == digest:
                return canonical_bytes(rule.document)
        raise RuleNotFound("no rule of that country has this hash")

    def value_set_list(self) -> list[dict[str, str]]:
        return [{"id": set_id, "hash": value_set_hash(document)}
                for set_id, document in value_set_documents().items()]

    def value_set_bytes(self, digest: str) -> bytes:
        for document in value_set_documents().values():
            if value_set_hash(document) == digest:
                return canonical_bytes(document)
        raise RuleNotFound("no value set has this hash")

    # -- import ------------------------------------------------------------------------------
    def import_rules(self, documents: Iterable[tuple[str, Any]]) -> ImportReport:
        """Stores every valid foreign rule; each refused one is reported with its reason."""
        stored, refused, accepted = [], [], []
        for source, document in documents:
            try:
                rule = parse_rule(document)
            except RuleFormatError as e:
                refused.append((source, str(e)))
                continue
            named = IDENTIFIER.match(rule.identifier)
            if named is None or named.group(2) != rule.country:
                refused.append((source, f"{rule.identifier[:40]}: identifier must look like VR-{rule.country}-0001 "
                                        "(its country is the rule's Country)"))
                continue
            if rule.country == self._country:
                refused.append((source, f"{rule.identifier}: our own rules are authored in the repository"))
                continue
            if len(canonical_bytes(document)) > MAX_RULE_BYTES:
                refused.append((source, f"{rule.identifier}: larger than {MAX_RULE_BYTES // 1000} KB"))
                continue
            issues = validate(rule.logic)
            if issues:
                refused.append((source, f"{rule.identifier}: Logic: {issues[0].message}"))
                continue
            accepted.append(_stored(document))
            stored.append(f"{rule.identifier} {rule.version_text}")
        if accepted:
            self._store.put_many(accepted)
        return ImportReport(stored, refused)

    # -- travel check ------------------------------------------------------------------------
    def travel_check(self, citizen_id: str, country: str) -> dict[str, Any]:
        from chalicelib.dcc.trust import TrustStore
        from chalicelib.dcc.verify import verify_hc1

        arrival = _country(country)
        passport = self._passports.current_passport(citizen_id)
        if passport is None or not passport.get("hc1") or passport.get("status") == "REVOKED":
            raise errors.NotFound("you have no valid passport to check")
        now = self._now()
        trust = TrustStore.from_certificates(entry.certificate for entry in self._signers.all())
        result = verify_hc1(passport["hc1"], trust, now=now)
        if result.payload is None:
            raise errors.DependencyUnavailable("your passport could not be read; try again later")
        # Ours hold the issuer's invalidation rules; selection keeps the arrival country's acceptance.
        foreign = [] if arrival == self._country else _rules(self._store.for_country(arrival))
        rules = _rules(self._national()) + foreign
        kid = base64.b64encode(result.kid).decode("ascii") if result.kid is not None else None
        outcomes = check_certificate(rules, result.payload, arrival=arrival, issuer=result.issuer, at=now,
                                     value_sets=rule_value_sets(), issued_at=result.issued_at,
                                     expires_at=result.expires_at, kid=kid)
        # An expired passport, or one whose signer is no longer published, passes no border.
        return {"country": arrival, "checked_at": now.isoformat(),
                "rules_known": arrival == self._country or bool(foreign),
                "passes": result.valid and passes(outcomes), "passport_valid": result.valid,
                "rules": [outcome.to_json() for outcome in outcomes],
                "failed": [outcome.rule.identifier for outcome in outcomes if outcome.outcome == "FAIL"]}


def _country(value: str) -> str:
    if not (isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha()):
        raise UnknownCountry("country must be a two-letter ISO 3166 code, e.g. DE")
    return value.upper()


def _stored(document: dict[str, Any]) -> StoredRule:
    return StoredRule(document["Country"], document["Identifier"], document["Version"], rule_hash(document),
                      document)


def _rules(stored: Iterable[StoredRule]) -> list[Rule]:
    return [parse_rule(rule.document) for rule in stored]
