"""Property: for any sequence of writes (API submissions, corrections, complaint-style corrections)
by any principals (facilities with and without a province claim, provinces, national roles; their
own and other scopes; field names in any case), no record ever ends owned by, or changed by, a
principal outside its scope.

Run against the real intake, submission and correction services over the fakes (many
examples, fast). tests/integration/test_intake_attacks.py runs the same model, fewer examples,
through the real HTTP routes on LocalStack.

The scope oracle here is written independently of chalicelib/auth/policy.py on purpose: the test
states the rule, it does not replay the implementation.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import errors
from chalicelib.auth.principal import Principal, Role
from chalicelib.signing.facilities import Facility, ProvinceFixed
from chalicelib.wiring import Container
from tests.properties import examples
from tests.unit.intake.test_authorisation import intake_world

FACILITIES = {"F1": "001", "F2": "001", "F3": "079"}
PRINCIPALS = [
    Principal("f1", Role.FACILITY, facility_id="F1", province_code="001"),
    Principal("f1-noprov", Role.FACILITY, facility_id="F1"),
    Principal("f1-lying", Role.FACILITY, facility_id="F1", province_code="079"),
    Principal("f3", Role.FACILITY, facility_id="F3", province_code="079"),
    Principal("p001", Role.PROVINCE, province_code="001"),
    Principal("p079", Role.PROVINCE, province_code="079"),
    Principal("ministry", Role.MINISTRY),
    Principal("operator", Role.OPERATOR),
]
FACILITY_FIELD = st.sampled_from(["facility_id", "Facility_ID", "FACILITY_ID", " facility_id", None])
PROVINCE_FIELD = st.sampled_from(["province_code", "Province_Code", "PROVINCE_CODE"])


def in_scope(p: Principal, facility: str, province: str) -> bool:
    if p.role in (Role.MINISTRY, Role.OPERATOR):
        return True
    if p.role is Role.FACILITY:
        return p.facility_id == facility and p.province_code in (None, province)
    if p.role is Role.PROVINCE:
        return p.province_code == province
    return False


@st.composite
def records(draw):
    row = {"record_id": draw(st.sampled_from(["R1", "R2"])), "citizen_id": "001090123456",
           "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-17", "vaccine_product": "AstraZeneca",
           "lot_number": draw(st.sampled_from(["L1", "L2", "L3"])), "dose_number": "1",
           "vaccination_date": "2021-08-20"}
    field = draw(FACILITY_FIELD)
    if field is not None:
        row[field] = draw(st.sampled_from(["F1", "F2", "F3", "F9"]))
    row[draw(PROVINCE_FIELD)] = draw(st.sampled_from(["001", "1", "079"]))
    return row


submissions = st.tuples(st.just("submit"), st.sampled_from(PRINCIPALS),
                        st.lists(records(), min_size=1, max_size=3),
                        st.sampled_from([None, "F1", "F3"]), st.sampled_from(["k1", "k2"]))
corrections = st.tuples(st.just("correct"), st.sampled_from(PRINCIPALS), st.sampled_from(["F1", "F2", "F3"]),
                        st.sampled_from(["R1", "R2"]),
                        st.sampled_from([{"lot_number": "C1"}, {"lot_number": "L1"}, {"province_code": "079"},
                                         {"Facility_ID": "F3"}]))
moves = st.tuples(st.just("move"), st.sampled_from(["F2"]), st.sampled_from(["001", "079"]))
operations = st.lists(st.one_of(submissions, corrections, moves), min_size=1, max_size=8)


def snapshot(w: Container) -> dict:
    return {k: (v["version"], v["province_code"], v["data"]["facility_id"]) for k, v in w.record_store.items.items()}


def run(w: Container, op) -> Principal | None:
    """One operation; returns who wrote (None for a registry change, which is an operator's)."""
    kind, *args = op
    try:
        if kind == "submit":
            p, rows, facility, key = args
            w.submission.submit(records=[dict(r) for r in rows], idempotency_key=key, facility_id=facility, writer=p)
            return p
        if kind == "correct":
            p, facility, record_id, changes = args
            w.corrections.correct(facility, record_id, writer=p, changes=changes)
            return p
    except errors.DomainError:
        return args[0]
    # An operator re-registering a facility: refused if it would move it to another province
    # (FACILITY_PROVINCE_FIXED), so records are never stranded under a province it left.
    facility, province = args
    try:
        w.facility_registry.save_facility(Facility(facility, f"Trạm Y tế {facility}", province, "BS. Lan"), None)
    except ProvinceFixed:
        assert w.facility_registry.facilities[facility].province != province
    return None


def check(before: dict, after: dict, owners: dict, p: Principal | None, registry: dict) -> None:
    for key, (version, province, data_facility) in after.items():
        facility = key[0]
        assert data_facility == facility  # a record's data never names another facility than its key
        if key not in before:
            assert p is not None and in_scope(p, facility, province), (p, key, province)
            assert province == registry[facility]  # created only under the registered province
            owners[key] = province
            continue
        assert province == owners[key]  # the owner never changes
        if version != before[key][0]:
            assert p is not None and in_scope(p, facility, province), (p, key, province)
    assert set(before) <= set(after)  # nothing disappears


@settings(max_examples=examples(4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_no_record_is_ever_owned_or_changed_by_a_principal_outside_its_scope(ops):
    w = intake_world(FACILITIES)
    owners: dict = {}
    for op in ops:
        before = snapshot(w)
        registry = {f: facility.province for f, facility in w.facility_registry.facilities.items()}
        p = run(w, op)
        check(before, snapshot(w), owners, p, registry)
