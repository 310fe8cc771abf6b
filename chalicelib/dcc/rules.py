"""Business rules in the EU gateway's format: parsing, selection and evaluation against a DCC.

A country publishes acceptance rules (what it accepts at its border) and invalidation rules (what
its own certificates no longer prove). A verifier applies the arrival country's acceptance rules
and the issuer's invalidation rules that are valid at the verification time, each rule seeing the
data the reference verifier apps pass: {"payload": <DCC payload>, "external": {...}}.

Pure: the caller supplies the rules, value sets and clock.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Iterable, Mapping

from chalicelib.dcc.certlogic import CertLogicError, evaluate, validate
from chalicelib.errors import ValidationError

RULE_TYPES = ("Acceptance", "Invalidation")
CERTIFICATE_TYPES = ("General", "Vaccination", "Test", "Recovery")
# The gateway's identifier format: type prefix, country, four digits (VR-VN-0001).
IDENTIFIER = re.compile(r"^(GR|VR|TR|RR|IR)-([A-Z]{2})-\d{4}$")
_PREFIX_TYPES = {"GR": "General", "VR": "Vaccination", "TR": "Test", "RR": "Recovery"}
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
# The gateway refuses an acceptance rule that takes effect sooner than 48 hours after upload,
# so that every verifier app has downloaded it by then.
ACCEPTANCE_NOTICE = timedelta(hours=48)
_REQUIRED = ("Identifier", "Type", "Country", "Version", "SchemaVersion", "Engine", "EngineVersion",
             "CertificateType", "Description", "ValidFrom", "ValidTo", "AffectedFields", "Logic")


class RuleFormatError(ValidationError):
    """A rule document does not have the gateway's shape; the message names the field."""

    code = "RULE_INVALID"


class Outcome(StrEnum):
    PASSED = "PASSED"
    FAIL = "FAIL"
    OPEN = "OPEN"


@dataclass(frozen=True)
class Rule:
    identifier: str
    type: str
    country: str
    version: tuple[int, int, int]
    certificate_type: str
    valid_from: datetime
    valid_to: datetime
    logic: Any
    descriptions: tuple[tuple[str, str], ...]
    document: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    def description(self, lang: str = "en") -> str:
        for language, text in self.descriptions:
            if language == lang:
                return text
        return self.descriptions[0][1] if self.descriptions else self.identifier

    def valid_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment <= self.valid_to


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    outcome: Outcome
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"identifier": self.rule.identifier, "version": self.rule.version_text,
                "country": self.rule.country, "type": self.rule.type, "result": str(self.outcome),
                "description": self.rule.description(), "error": self.error}


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The one serialisation we publish and hash, so a client can check hash == sha256(body)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def rule_hash(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


def _field(document: Mapping[str, Any], name: str, kind: type) -> Any:
    value = document.get(name)
    if not isinstance(value, kind):
        raise RuleFormatError(f"rule field {name}: missing or not a {kind.__name__}")
    return value


def _instant(document: Mapping[str, Any], name: str) -> datetime:
    text = _field(document, name, str)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise RuleFormatError(f"rule field {name}: not an ISO-8601 date-time") from e
    if moment.tzinfo is None:
        raise RuleFormatError(f"rule field {name}: has no time zone offset")
    return moment


def parse_rule(document: Any) -> Rule:
    """A gateway-format rule; RuleFormatError names the first field that is wrong."""
    if not isinstance(document, dict):
        raise RuleFormatError("rule: not a JSON object")
    for name in _REQUIRED:
        if name not in document:
            raise RuleFormatError(f"rule field {name}: missing")
    identifier = _field(document, "Identifier", str)
    rule_type = _field(document, "Type", str)
    if rule_type not in RULE_TYPES:
        raise RuleFormatError(f"rule field Type: must be one of {', '.join(RULE_TYPES)}")
    certificate_type = _field(document, "CertificateType", str)
    if certificate_type not in CERTIFICATE_TYPES:
        raise RuleFormatError(f"rule field CertificateType: must be one of {', '.join(CERTIFICATE_TYPES)}")
    country = _field(document, "Country", str)
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise RuleFormatError("rule field Country: must be two upper-case letters")
    version = _field(document, "Version", str)
    if not _VERSION.match(version):
        raise RuleFormatError("rule field Version: must be MAJOR.MINOR.PATCH")
    descriptions = []
    for entry in _field(document, "Description", list):
        if not (isinstance(entry, dict) and isinstance(entry.get("lang"), str) and isinstance(entry.get("desc"), str)):
            raise RuleFormatError("rule field Description: entries must be {lang, desc} strings")
        descriptions.append((entry["lang"], entry["desc"]))
    if not descriptions:
        raise RuleFormatError("rule field Description: empty")
    major, minor, patch = (int(part) for part in version.split("."))
    return Rule(identifier=identifier, type=rule_type, country=country, version=(major, minor, patch),
                certificate_type=certificate_type, valid_from=_instant(document, "ValidFrom"),
                valid_to=_instant(document, "ValidTo"), logic=document["Logic"],
                descriptions=tuple(descriptions), document=document)


def gateway_problems(rule: Rule, *, uploaded_at: datetime, previous: Rule | None = None) -> list[str]:
    """What the EU gateway would refuse in a rule we publish (its documented upload constraints)."""
    problems = []
    match = IDENTIFIER.match(rule.identifier)
    if match is None:
        problems.append(f"{rule.identifier}: identifier must look like VR-VN-0001")
    else:
        prefix, country = match.groups()
        if country != rule.country:
            problems.append(f"{rule.identifier}: identifier country differs from Country {rule.country}")
        if prefix == "IR" and rule.type != "Invalidation":
            problems.append(f"{rule.identifier}: IR- identifiers are for invalidation rules")
        if prefix != "IR" and rule.type == "Invalidation":
            problems.append(f"{rule.identifier}: an invalidation rule's identifier starts with IR-")
        if prefix in _PREFIX_TYPES and _PREFIX_TYPES[prefix] != rule.certificate_type:
            problems.append(f"{rule.identifier}: prefix {prefix} does not match CertificateType "
                            f"{rule.certificate_type}")
    if rule.document.get("Engine") != "CERTLOGIC":
        problems.append(f"{rule.identifier}: Engine must be CERTLOGIC")
    if rule.valid_to <= rule.valid_from:
        problems.append(f"{rule.identifier}: ValidTo must be after ValidFrom")
    if rule.type == "Acceptance" and rule.valid_from < uploaded_at + ACCEPTANCE_NOTICE:
        problems.append(f"{rule.identifier}: ValidFrom must be at least 48 hours after upload")
    if previous is not None:
        if rule.version <= previous.version:
            problems.append(f"{rule.identifier}: Version {rule.version_text} must be greater than "
                            f"{previous.version_text}")
        if rule.valid_from <= previous.valid_from:
            problems.append(f"{rule.identifier}: ValidFrom must be later than the previous version's")
    problems.extend(f"{rule.identifier}: Logic: {issue.message}" for issue in validate(rule.logic))
    return problems


def certificate_type_of(payload: Mapping[str, Any]) -> str | None:
    for group, name in (("v", "Vaccination"), ("t", "Test"), ("r", "Recovery")):
        if payload.get(group):
            return name
    return None


def applicable_rules(rules: Iterable[Rule], *, arrival: str, issuer: str | None, certificate_type: str | None,
                     at: datetime) -> list[Rule]:
    """The arrival country's acceptance rules and the issuer's invalidation rules valid at `at`,
    for this certificate type, only the highest version of each identifier (as the apps do)."""
    # Keyed by owner and type too: another country's rule named like one of ours never replaces it.
    chosen: dict[tuple[str, str, str], Rule] = {}
    for rule in rules:
        owner = arrival if rule.type == "Acceptance" else issuer
        if rule.country != owner or not rule.valid_at(at):
            continue
        if rule.certificate_type not in ("General", certificate_type):
            continue
        key = (rule.country, rule.type, rule.identifier)
        current = chosen.get(key)
        if current is None or rule.version > current.version:
            chosen[key] = rule
    return sorted(chosen.values(), key=lambda rule: (rule.type, rule.identifier))


def evaluate_logic(logic: Any, data: Any) -> tuple[bool, str | None]:
    """(passed, error): only the value `true` passes; an error or a non-boolean answer does not."""
    try:
        value = evaluate(logic, data)
    except CertLogicError as e:
        return False, str(e)
    if value is True or value is False:
        return value, None
    return False, "rule did not evaluate to a boolean"


def evaluate_rules(rules: Iterable[Rule], payload: Any, external: Mapping[str, Any]) -> list[RuleResult]:
    data = {"payload": payload, "external": dict(external)}
    results = []
    for rule in rules:
        passed, error = evaluate_logic(rule.logic, data)
        outcome = Outcome.OPEN if error else Outcome.PASSED if passed else Outcome.FAIL
        results.append(RuleResult(rule, outcome, error))
    return results


def external_parameters(*, at: datetime, country: str, value_sets: Mapping[str, list[str]],
                        issued_at: int | None = None, expires_at: int | None = None,
                        kid: str | None = None, issuer: str | None = None) -> dict[str, Any]:
    """`external` as the reference verifier apps fill it (times as ISO-8601 with offset)."""
    def iso(seconds: int | None) -> str | None:
        if seconds is None:
            return None
        return datetime.fromtimestamp(seconds, tz=UTC).isoformat()

    return {"validationClock": at.astimezone(UTC).isoformat(), "valueSets": dict(value_sets), "countryCode": country,
            "exp": iso(expires_at), "iat": iso(issued_at), "issuerCountryCode": issuer, "kid": kid}


def check_certificate(rules: Iterable[Rule], payload: Mapping[str, Any], *, arrival: str, issuer: str | None,
                      at: datetime, value_sets: Mapping[str, list[str]], issued_at: int | None = None,
                      expires_at: int | None = None, kid: str | None = None) -> list[RuleResult]:
    """Every rule that applies to this certificate entering `arrival` at `at`, with its outcome."""
    selected = applicable_rules(rules, arrival=arrival, issuer=issuer,
                                certificate_type=certificate_type_of(payload), at=at)
    external = external_parameters(at=at, country=arrival, value_sets=value_sets, issued_at=issued_at,
                                   expires_at=expires_at, kid=kid, issuer=issuer)
    return evaluate_rules(selected, payload, external)


def passes(results: Iterable[RuleResult]) -> bool:
    """A certificate passes when no rule FAILs; OPEN is reported but, as in the apps, not a refusal."""
    return all(result.outcome is not Outcome.FAIL for result in results)


def national_rule_documents() -> list[dict[str, Any]]:
    """Our own rules, authored as JSON in data/rules/ and reviewed like code."""
    from importlib import resources

    folder = resources.files("chalicelib.dcc.data").joinpath("rules")
    return [json.loads(entry.read_text("utf-8")) for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".json") and entry.name != "published.json"]


def publication_log() -> list[dict[str, Any]]:
    """Every rule version we uploaded to the gateway: identifier, version, uploaded_at, hash."""
    from importlib import resources

    text = resources.files("chalicelib.dcc.data").joinpath("rules", "published.json").read_text("utf-8")
    entries: list[dict[str, Any]] = json.loads(text)
    return entries
