"""The cleaning engine: finds the registry person a vaccination record is about, if it can tell.

The record is never changed. The result says what was found, which fields differ from the
registry, the registry's values as suggestions where the typed value is a near miss
(`disclosure.suggested_fields`), and why, in words an operator can check. This full result is
the engine's (the offline CLI prints it); what a facility is shown is `disclosure.facility_view`.

Scoring is a small hand-set evidence model (log-odds-like weights per comparison kind) chosen so
that a decision needs two independent agreeing identifiers: an exact id alone does not confirm a
person whose name and birth date both disagree (children vaccinated under a parent's number), and
without an id, name and full date of birth must both agree closely. Precision beats recall: when
two candidates score close, the answer is AMBIGUOUS with both listed, never a guess.

A comparison kind that is never disclosed (a name only "similar", an id two slips away) weighs the
same as a plain difference: otherwise the outcome itself (MISMATCH or NOT_FOUND) would grade a
guessed name or id and let a caller home in on the registry's value by retrying.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Sequence

from chalicelib.cleaning.compare import (
    DateMatch, IdMatch, NameMatch, SexMatch, compare_dates, compare_ids, compare_names, compare_sex,
)
from chalicelib.cleaning.disclosure import COMPARED, suggested_fields, typed_fields
from chalicelib.cleaning.registry import Registry, query_keys
from chalicelib.identity import id_consistency_problems
from chalicelib.intake.records import FieldError, RegistryPerson, VaccinationRecord


class Outcome(str, Enum):
    VERIFIED = "VERIFIED"
    VERIFIED_NORMALIZED = "VERIFIED_NORMALIZED"
    MISMATCH = "MISMATCH"
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    AMBIGUOUS = "AMBIGUOUS"


ID_WEIGHT = {IdMatch.EQUAL: 14.0, IdMatch.ONE_EDIT: 8.0, IdMatch.TWO_EDITS: -6.0, IdMatch.MISSING: 0.0,
             IdMatch.OLD_CMND: 0.0, IdMatch.DIFFERENT: -6.0}
NAME_WEIGHT = {NameMatch.EXACT: 8.0, NameMatch.NORMALIZED: 8.0, NameMatch.D_FOR_DJ: 7.0,
               NameMatch.UNACCENTED: 6.0, NameMatch.SWAPPED: 6.0,
               NameMatch.SWAPPED_UNACCENTED: 5.0, NameMatch.TYPO: 3.0,
               NameMatch.DIACRITIC_CONFLICT: 2.0, NameMatch.SIMILAR: -8.0,
               NameMatch.DIFFERENT: -8.0}
# A swapped or one-digit-off date is far less likely for the true person than an exact one, so it
# scores well below EXACT: otherwise a namesake born on the swapped day makes an exact match
# AMBIGUOUS (seen at 1M registry people).
DOB_WEIGHT = {DateMatch.EXACT: 7.0, DateMatch.DAY_MONTH_SWAPPED: 3.0, DateMatch.ONE_DIGIT: 2.5,
              DateMatch.YEAR_ONLY: 2.0, DateMatch.SAME_YEAR: -3.0, DateMatch.DIFFERENT: -6.0}
SEX_WEIGHT = {SexMatch.EQUAL: 1.0, SexMatch.MISSING: 0.0, SexMatch.DIFFERENT: -2.0}

ACCEPT_SCORE = 12.0  # e.g. exact name + exact date of birth, or exact id + anything agreeing
MARGIN = 3.0  # the best must beat the runner-up by this much
REVIEW_SCORE = 8.0  # candidates listed for a human when nothing is accepted
MAX_LISTED = 5

_NAME_PHRASE = {
    NameMatch.EXACT: "name identical",
    NameMatch.NORMALIZED: "name differs only in form (Unicode form, tone-mark placement, case or spaces)",
    NameMatch.D_FOR_DJ: "name has D where the registry has Đ",
    NameMatch.UNACCENTED: "name typed without diacritics",
    NameMatch.SWAPPED: "name tokens in another order",
    NameMatch.SWAPPED_UNACCENTED: "name tokens in another order and without diacritics",
    NameMatch.TYPO: "name differs by a letter in a word or two",
    NameMatch.DIACRITIC_CONFLICT: "name has different diacritics (a different name on its own)",
    NameMatch.SIMILAR: "name only similar",
    NameMatch.DIFFERENT: "name different",
}
_DOB_PHRASE = {
    DateMatch.EXACT: "date of birth identical",
    DateMatch.DAY_MONTH_SWAPPED: "date of birth has day and month swapped",
    DateMatch.ONE_DIGIT: "date of birth differs in one digit",
    DateMatch.YEAR_ONLY: "only the birth year recorded, and it agrees",
    DateMatch.SAME_YEAR: "date of birth differs (same year)",
    DateMatch.DIFFERENT: "date of birth different",
}
_ID_PHRASE = {
    IdMatch.EQUAL: "citizen id identical",
    IdMatch.ONE_EDIT: "citizen id differs by one digit or two swapped digits",
    IdMatch.TWO_EDITS: "citizen id differs by two digit slips",
    IdMatch.MISSING: "citizen id missing",
    IdMatch.OLD_CMND: "old 9-digit CMND number, not comparable",
    IdMatch.DIFFERENT: "citizen id different",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    citizen_id: str
    score: float
    confidence: float
    mismatched_fields: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"citizen_id": self.citizen_id, "score": round(self.score, 2),
                "confidence": self.confidence, "mismatched_fields": list(self.mismatched_fields)}


@dataclass(frozen=True, slots=True)
class CleaningResult:
    record_id: str
    outcome: Outcome
    matched_citizen_id: str | None = None
    confidence: float = 0.0
    mismatched_fields: tuple[str, ...] = ()
    suggestion: dict[str, str] = field(default_factory=dict)
    candidates: tuple[Candidate, ...] = ()
    explanation: str = ""
    errors: tuple[FieldError, ...] = ()

    def to_dict(self) -> dict:
        out = {
            "record_id": self.record_id, "outcome": self.outcome.value,
            "matched_citizen_id": self.matched_citizen_id, "confidence": self.confidence,
            "mismatched_fields": list(self.mismatched_fields), "suggestion": dict(self.suggestion),
            "candidates": [c.to_dict() for c in self.candidates], "explanation": self.explanation,
        }
        if self.errors:
            out["errors"] = [{"row_number": e.row_number, "field": e.field, "code": e.code,
                              "message": e.message} for e in self.errors]
        return out


def invalid_result(record_id: str, errors: Sequence[FieldError]) -> CleaningResult:
    """The result for a row that failed validation: nothing to match on."""
    return CleaningResult(record_id=record_id, outcome=Outcome.INVALID, errors=tuple(errors),
                          explanation="; ".join(e.message for e in errors))


def _confidence(score: float) -> float:
    # Maps the evidence score onto 0..1: 0.5 at REVIEW_SCORE, ~0.93 at ACCEPT_SCORE, ~1 above 20.
    return round(1.0 / (1.0 + math.exp(-(score - REVIEW_SCORE) / 1.5)), 4)


@dataclass(frozen=True, slots=True)
class _Evidence:
    person: RegistryPerson
    id: IdMatch
    name: NameMatch
    dob: DateMatch
    sex: SexMatch
    score: float

    def mismatched_fields(self) -> tuple[str, ...]:
        fields = []
        if self.id is not IdMatch.EQUAL:
            fields.append("citizen_id")
        if self.name not in (NameMatch.EXACT, NameMatch.NORMALIZED):
            fields.append("full_name")
        if self.dob is not DateMatch.EXACT:
            fields.append("date_of_birth")
        if self.sex is SexMatch.DIFFERENT:
            fields.append("sex")
        return tuple(fields)

    def candidate(self) -> Candidate:
        return Candidate(self.person.citizen_id, self.score, _confidence(self.score),
                         self.mismatched_fields())

    def explain(self) -> str:
        parts = [_ID_PHRASE[self.id], _NAME_PHRASE[self.name], _DOB_PHRASE[self.dob]]
        if self.sex is SexMatch.DIFFERENT:
            parts.append("sex differs")
        return "; ".join(parts)


def _suggestion(record: VaccinationRecord, ev: _Evidence, fields: tuple[str, ...]) -> dict[str, str]:
    p = ev.person
    values = {"citizen_id": p.citizen_id, "full_name": p.full_name,
              "date_of_birth": p.date_of_birth.isoformat(), "sex": p.sex}
    kinds: dict[str, Enum] = {"citizen_id": ev.id, "full_name": ev.name, "date_of_birth": ev.dob, "sex": ev.sex}
    # A name differing only in form is not a mismatch, but the registry's spelling is offered.
    offered = set(fields) | ({"full_name"} if ev.name is NameMatch.NORMALIZED else set())
    typed = typed_fields({"citizen_id": record.citizen_id, "full_name": record.full_name,
                          "date_of_birth": record.date_of_birth, "sex": record.sex})
    keep = suggested_fields({f: kinds[f] for f in offered}, fields, typed)
    return {f: values[f] for f in COMPARED if f in keep}


class Matcher:
    """Matches records against a `Registry` port. Stateless apart from the port: safe to share."""

    def __init__(self, registry: Registry, *, accept_score: float = ACCEPT_SCORE,
                 margin: float = MARGIN) -> None:
        self._registry = registry
        self._accept = accept_score
        self._margin = margin

    def _evaluate(self, record: VaccinationRecord, person: RegistryPerson) -> _Evidence:
        id_kind = compare_ids(record.citizen_id, person.citizen_id)
        name_kind = compare_names(record.full_name, person.full_name,
                                  typed_raw=record.original.get("full_name"))
        dob_kind = compare_dates(record.date_of_birth, person.date_of_birth)
        sex_kind = compare_sex(record.sex, person.sex)
        score = (ID_WEIGHT[id_kind] + NAME_WEIGHT[name_kind] + DOB_WEIGHT[dob_kind]
                 + SEX_WEIGHT[sex_kind])
        return _Evidence(person, id_kind, name_kind, dob_kind, sex_kind, score)

    def _accepted(self, record: VaccinationRecord, ev: _Evidence, note: str = "") -> CleaningResult:
        fields = ev.mismatched_fields()
        if fields:
            outcome = Outcome.MISMATCH
        elif ev.name is NameMatch.NORMALIZED:
            outcome = Outcome.VERIFIED_NORMALIZED
        else:
            outcome = Outcome.VERIFIED
        return CleaningResult(
            record_id=record.record_id, outcome=outcome, matched_citizen_id=ev.person.citizen_id,
            confidence=_confidence(ev.score), mismatched_fields=fields,
            suggestion=_suggestion(record, ev, fields), explanation=ev.explain() + note)

    def _by_id(self, record: VaccinationRecord, by_id: RegistryPerson | None
               ) -> tuple[_Evidence | None, CleaningResult | None]:
        """The evidence of the typed id's holder, and the result when it settles the record."""
        id_ev = self._evaluate(record, by_id) if by_id is not None else None
        # Fast path for the common case: id, name and date agree; no search can do better.
        if id_ev is not None and (id_ev.name in (NameMatch.EXACT, NameMatch.NORMALIZED)
                                  and id_ev.dob is DateMatch.EXACT and id_ev.sex is not SexMatch.DIFFERENT):
            return id_ev, self._accepted(record, id_ev)
        return id_ev, None

    def clean(self, record: VaccinationRecord) -> CleaningResult:
        by_id = self._registry.get(record.citizen_id) if record.citizen_id else None
        id_ev, settled = self._by_id(record, by_id)
        if settled is not None:
            return settled
        return self._decide(record, by_id, id_ev, [self._registry.candidates(k) for k in query_keys(record)])

    def clean_many(self, records: Sequence[VaccinationRecord]) -> list[CleaningResult]:
        """`clean` of each record, with the registry read per chunk: one `get_many` for the typed
        ids, then one `candidates_many` for the blocking keys of the records the id did not settle."""
        people = self._registry.get_many(sorted({r.citizen_id for r in records if r.citizen_id}))
        looks = []
        for record in records:
            by_id = people.get(record.citizen_id) if record.citizen_id else None
            looks.append((by_id, *self._by_id(record, by_id)))
        keys = {i: query_keys(r) for i, (r, (_, _, settled)) in enumerate(zip(records, looks)) if settled is None}
        blocks = self._registry.candidates_many(list(dict.fromkeys(k for ks in keys.values() for k in ks))) \
            if keys else {}
        return [settled if settled is not None
                else self._decide(record, by_id, id_ev, [blocks.get(k, []) for k in keys[i]])
                for i, (record, (by_id, id_ev, settled)) in enumerate(zip(records, looks))]

    def _decide(self, record: VaccinationRecord, by_id: RegistryPerson | None, id_ev: _Evidence | None,
                blocks: Sequence[Sequence[RegistryPerson]]) -> CleaningResult:
        people: dict[str, RegistryPerson] = {}
        if by_id is not None:
            people[by_id.citizen_id] = by_id
        for block in blocks:
            for person in block:
                people[person.citizen_id] = person
        ranked = sorted((self._evaluate(record, p) for p in people.values()),
                        key=lambda e: (-e.score, e.person.citizen_id))

        best = ranked[0] if ranked else None
        runner_up = ranked[1].score if len(ranked) > 1 else -math.inf
        if best is not None and best.score >= self._accept and runner_up < best.score - self._margin:
            return self._accepted(record, best)

        plausible = [e for e in ranked if e.score >= REVIEW_SCORE][:MAX_LISTED]
        listed = tuple(e.candidate() for e in plausible)
        if len(plausible) >= 2:
            return CleaningResult(
                record_id=record.record_id, outcome=Outcome.AMBIGUOUS, candidates=listed,
                explanation=f"{len(plausible)} registry people fit about equally well; "
                            "a person must choose")
        # Which fields differ from the holder of the typed id (if there is one): that much the
        # facility may know about the id it typed.
        differ = id_ev.mismatched_fields() if id_ev is not None else ()
        return CleaningResult(record_id=record.record_id, outcome=Outcome.NOT_FOUND, mismatched_fields=differ,
                              candidates=listed, explanation=self._not_found_reason(record, by_id, best))

    @staticmethod
    def _not_found_reason(record: VaccinationRecord, by_id: RegistryPerson | None,
                          best: _Evidence | None) -> str:
        reasons = []
        if by_id is not None:
            reasons.append("the citizen id belongs to a registry person whose name and date of "
                           "birth do not fit this record")
        elif record.citizen_id:
            reasons.append("citizen id not in the registry")
            dob = record.date_of_birth
            contradicted = id_consistency_problems(record.citizen_id, sex=record.sex or None,
                                                   birth_year=dob.year)
            if contradicted:
                reasons.append("the id's structure contradicts the record's "
                               + " and ".join(contradicted))
        else:
            reasons.append("no citizen id")
        if best is None:
            reasons.append("no registry person with a similar name and birth date")
        else:
            reasons.append(f"closest registry person: {best.explain()}")
        return "; ".join(reasons)
