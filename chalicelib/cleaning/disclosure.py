"""What a facility may learn from the cleaning of its record, and nothing more (pure).

The engine finds the registry person a record is about; the facility that typed the record must
not turn that into a lookup service for the population registry. So a cleaning result leaves the
system only as `facility_view(...)`:

- a registry value is suggested only for a *near miss* of what the facility typed (a name with the
  same letters up to diacritics, case, form or word order, or a letter slip in a word or two; a
  date of birth with day and month swapped or one digit off; a citizen id with one digit wrong or
  two swapped; a sex typed the other way), and only when every other field the facility typed
  agrees with that person. Otherwise the view says which fields differ, not how;
- a value the facility left out (no citizen id, only the birth year) is not a near miss: it is
  never filled in, so a name and a date of birth never return a citizen id;
- `matched_citizen_id` is shown only when it is the id the facility typed, or the suggested one;
- no candidate ids, scores or other people's data: AMBIGUOUS gives a count (`candidate_count`);
- no confidence figure: it is a function of the score, which grades differences the view keeps
  quiet about;
- the explanation is rebuilt from what the view discloses, never copied from the engine's text.

The same function runs when the worker stores a result (so nothing else is stored) and when a
result is read (so results stored before these rules, or for an older record version, are
filtered the same way). The engine itself suggests through `suggested_fields`, so the offline CLI,
the benchmark and the API agree on what a suggestion is.
"""
from __future__ import annotations

from enum import Enum
from typing import Collection, Mapping

from chalicelib.cleaning.compare import (
    DateMatch, IdMatch, NameMatch, SexMatch, compare_dates, compare_ids, compare_names, compare_sex,
)
from chalicelib.identity import id_consistency_problems
from chalicelib.intake.records import parse_birth_date

# The fields cleaning compares with the registry, in the order the view lists them.
COMPARED = ("citizen_id", "full_name", "date_of_birth", "sex")

# Per field (the kind enums are str-valued, so "DIFFERENT" of one field equals another's: never
# mix them in one set).
NEAR_MISS: Mapping[str, frozenset] = {
    "citizen_id": frozenset({IdMatch.ONE_EDIT}),
    "full_name": frozenset({NameMatch.NORMALIZED, NameMatch.D_FOR_DJ, NameMatch.UNACCENTED,
                            NameMatch.DIACRITIC_CONFLICT, NameMatch.SWAPPED,
                            NameMatch.SWAPPED_UNACCENTED, NameMatch.TYPO}),
    "date_of_birth": frozenset({DateMatch.DAY_MONTH_SWAPPED, DateMatch.ONE_DIGIT}),
    # M or F: a view saying "sex differs" has said the registry's value already.
    "sex": frozenset({SexMatch.DIFFERENT}),
}

_LABEL = {"citizen_id": "citizen id", "full_name": "name", "date_of_birth": "date of birth", "sex": "sex"}
_NEAR_PHRASE: dict[tuple[str, Enum], str] = {
    ("citizen_id", IdMatch.ONE_EDIT): "the citizen id differs by one digit or two swapped digits",
    ("full_name", NameMatch.NORMALIZED): "the name differs only in form (Unicode form, tone-mark "
                                         "placement, case or spaces)",
    ("full_name", NameMatch.D_FOR_DJ): "the name has D where the registry has Đ",
    ("full_name", NameMatch.UNACCENTED): "the name was typed without diacritics",
    ("full_name", NameMatch.DIACRITIC_CONFLICT): "the name has other diacritics on the same letters",
    ("full_name", NameMatch.SWAPPED): "the name's words are in another order",
    ("full_name", NameMatch.SWAPPED_UNACCENTED): "the name's words are in another order, without diacritics",
    ("full_name", NameMatch.TYPO): "the name differs by a letter in a word or two",
    ("date_of_birth", DateMatch.DAY_MONTH_SWAPPED): "the date of birth has day and month swapped",
    ("date_of_birth", DateMatch.ONE_DIGIT): "the date of birth differs in one digit",
    ("sex", SexMatch.DIFFERENT): "the sex differs",
}


def typed_fields(values: Mapping[str, object]) -> set[str]:
    """The compared fields the record has a value for."""
    return {f for f in COMPARED if values.get(f)}


def suggested_fields(kinds: Mapping[str, Enum], mismatched: Collection[str], typed: Collection[str]) -> set[str]:
    """Of the fields offered (`kinds`: field -> how the typed value compares with the registry's),
    those whose registry value may be suggested: a near miss, while every other field that was
    typed agrees (is not among `mismatched`). A field that was not typed is never suggested."""
    out = set()
    for f, kind in kinds.items():
        if f not in typed or kind not in NEAR_MISS.get(f, ()):
            continue
        if any(g in mismatched for g in COMPARED if g != f and g in typed):
            continue
        out.add(f)
    return out


def compare_field(field: str, data: Mapping[str, str], original: Mapping[str, str], registered: str) -> Enum | None:
    """How the record's value of `field` compares with a registry value given as stored text."""
    typed = str(data.get(field) or "")
    if field == "citizen_id":
        return compare_ids(typed, registered)
    if field == "full_name":
        raw = original.get("full_name")
        return compare_names(typed, registered, typed_raw=raw if isinstance(raw, str) else None)
    if field == "date_of_birth":
        mine, theirs = parse_birth_date(typed), parse_birth_date(registered)
        full = theirs.as_date() if theirs is not None else None
        if mine is None or full is None:
            return None
        return compare_dates(mine, full)
    if field == "sex":
        return compare_sex(typed, registered)
    return None


def facility_view(cleaning: Mapping | None, data: Mapping[str, str],
                  original: Mapping[str, str] | None = None) -> dict | None:
    """The cleaning result as it may leave the system, for a record whose canonical values are
    `data` (and raw typed values `original`). Accepts the engine's full result or a stored view."""
    if not cleaning:
        return None
    original = original or {}
    outcome = str(cleaning.get("outcome") or "")
    mismatched = [f for f in COMPARED if f in (cleaning.get("mismatched_fields") or ())]
    typed = typed_fields(data)
    offered = {f: str(v) for f, v in (cleaning.get("suggestion") or {}).items() if f in COMPARED and v}
    kinds = {f: k for f, v in offered.items() if (k := compare_field(f, data, original, v)) is not None}
    keep = suggested_fields(kinds, mismatched, typed)
    suggestion = {f: offered[f] for f in COMPARED if f in keep}
    matched = cleaning.get("matched_citizen_id")
    if not matched or matched not in (data.get("citizen_id"), suggestion.get("citizen_id")):
        matched = None
    view = {"record_id": str(cleaning.get("record_id") or ""), "outcome": outcome,
            "matched_citizen_id": matched, "mismatched_fields": mismatched, "suggestion": suggestion}
    count = None
    if outcome == "AMBIGUOUS":
        count = cleaning.get("candidate_count")
        count = int(count) if isinstance(count, int) else len(cleaning.get("candidates") or ())
        view["candidate_count"] = count
    errors = [{k: e.get(k) for k in ("row_number", "field", "code", "message")}
              for e in (cleaning.get("errors") or ()) if isinstance(e, Mapping)]
    if errors:
        view["errors"] = errors
    view["explanation"] = _explain(outcome, data, mismatched, {f: kinds[f] for f in keep}, typed, count, errors)
    return view


def _explain(outcome: str, data: Mapping[str, str], mismatched: list[str], suggested: Mapping[str, Enum],
             typed: set[str], count: int | None, errors: list[dict]) -> str:
    if outcome == "INVALID":
        return "; ".join(str(e.get("message") or "") for e in errors) or "the record is not valid"
    if outcome == "AMBIGUOUS":
        return (f"{count} registry people fit about equally well; a person must decide "
                "(adding the citizen id settles it)")
    if outcome == "NOT_FOUND":
        return _not_found(data, mismatched, typed)
    parts = [_NEAR_PHRASE[(f, kind)] + " (the registry's value is suggested)" for f, kind in suggested.items()]
    silent = [f for f in mismatched if f in typed and f not in suggested]
    if silent:
        parts.append(_fields(silent) + (" differs" if len(silent) == 1 else " differ")
                     + " from the registry (a value is suggested only for a near miss while every other "
                       "field agrees)")
    if "citizen_id" not in typed:
        parts.append("no citizen id recorded")
    if outcome in ("VERIFIED", "VERIFIED_NORMALIZED") and not parts:
        parts.append("citizen id, name and date of birth agree with the registry")
    return "; ".join(parts)


def _not_found(data: Mapping[str, str], mismatched: list[str], typed: set[str]) -> str:
    if "citizen_id" not in typed:
        return "no citizen id, and no single registry person fits the name and date of birth"
    if mismatched:
        return f"the citizen id is in the registry, but the {_fields(mismatched)} of this record do not fit it"
    reasons = ["citizen id not in the registry"]
    dob = parse_birth_date(str(data.get("date_of_birth") or ""))
    contradicted = id_consistency_problems(str(data.get("citizen_id")), sex=data.get("sex") or None,
                                           birth_year=dob.year if dob else None)
    if contradicted:
        reasons.append("the id's structure contradicts the record's " + " and ".join(contradicted))
    return "; ".join(reasons)


def _fields(fields: list[str]) -> str:
    labels = [_LABEL[f] for f in fields]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
