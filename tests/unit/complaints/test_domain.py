"""Complaints domain and service over in-memory fakes: the state machine, due dates over weekends
and holidays, overdue, validation, idempotent filing and resolution with a correction. No sockets."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib import errors
from chalicelib.auth.principal import Principal, Role
from chalicelib.cleaning.corrections import EDITABLE
from chalicelib.complaints import domain
from chalicelib.complaints.domain import (IN_PROGRESS, RECEIVED, REJECTED, RESOLVED, VIETNAM, Complaint,
                                          InvalidTransition, WorkingCalendar, new_complaint, validate_filing)
from chalicelib.complaints.service import Actor, ComplaintService
from tests.fakes import FakeComplaintStore, FakeCorrector, FakeFacilityHeads, FakeRecords

FRIDAY = datetime(2025, 3, 7, 10, 30, tzinfo=timezone.utc)
CID = "001090123456"


def a_complaint(now=FRIDAY, days=3, calendar=WorkingCalendar()) -> Complaint:
    return new_complaint(complaint_id="C1", citizen_id=CID, facility_id="F1", province_code="001", record_id="R1",
                         fields=("full_name",), proposed={"full_name": "Nguyễn Văn An"}, text="sai tên",
                         now=now, sla_working_days=days, calendar=calendar)


# -- due dates --------------------------------------------------------------------------------
def test_due_date_skips_the_weekend_and_keeps_the_time_of_day():
    assert WorkingCalendar().add_working_days(FRIDAY, 3) == datetime(2025, 3, 12, 10, 30, tzinfo=timezone.utc)


def test_filed_on_a_saturday_counts_from_monday():
    saturday = FRIDAY + timedelta(days=1)
    assert WorkingCalendar().add_working_days(saturday, 1).date() == date(2025, 3, 10)


def test_vietnamese_holidays_are_not_working_days():
    # Tue 29 April 2025 + 2 working days: 30/4 and 1/5 are holidays, Fri 2/5 counts, 3-4/5 a weekend
    start = datetime(2025, 4, 29, 9, 0, tzinfo=timezone.utc)
    assert VIETNAM.add_working_days(start, 2).date() == date(2025, 5, 5)
    assert not VIETNAM.is_working_day(date(2026, 2, 17))  # Tết
    assert not VIETNAM.is_working_day(date(2031, 9, 2))   # fixed every year
    assert WorkingCalendar().add_working_days(start, 2).date() == date(2025, 5, 1)


def test_new_complaint_is_received_with_a_due_date_and_history():
    c = a_complaint()
    assert c.status == RECEIVED and c.due_at.date() == date(2025, 3, 12) and c.version == 1
    assert [h.status for h in c.history] == [RECEIVED]


def test_overdue_only_while_open_and_after_the_due_time():
    c = a_complaint()
    assert not c.is_overdue(c.due_at) and c.is_overdue(c.due_at + timedelta(seconds=1))
    closed = c.move_to(REJECTED, actor="facility:F1", now=FRIDAY, reason="đúng dữ liệu")
    assert not closed.is_overdue(c.due_at + timedelta(days=30))


# -- state machine ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", [[IN_PROGRESS, RESOLVED], [IN_PROGRESS, REJECTED], [RESOLVED], [REJECTED]])
def test_allowed_paths(path):
    c = a_complaint()
    for status in path:
        c = c.move_to(status, actor="facility:F1", now=FRIDAY, reason="lý do")
    assert c.status == path[-1] and c.version == 1 + len(path)
    assert [h.status for h in c.history] == [RECEIVED, *path]


@pytest.mark.parametrize("start, to", [(RESOLVED, IN_PROGRESS), (RESOLVED, REJECTED), (REJECTED, RESOLVED),
                                       (IN_PROGRESS, IN_PROGRESS), (IN_PROGRESS, RECEIVED), (RECEIVED, RECEIVED)])
def test_forbidden_transitions_are_conflicts(start, to):
    c = replace(a_complaint(), status=start)
    with pytest.raises(InvalidTransition) as e:
        c.move_to(to, actor="facility:F1", now=FRIDAY, reason="x")
    assert isinstance(e.value, errors.Conflict) and e.value.details["from"] == start


def test_a_rejection_needs_a_reason_and_unknown_statuses_are_refused():
    with pytest.raises(errors.ValidationError):
        a_complaint().move_to(REJECTED, actor="facility:F1", now=FRIDAY)
    with pytest.raises(errors.ValidationError):
        a_complaint().move_to("closed", actor="facility:F1", now=FRIDAY)


def test_round_trip_through_dict():
    c = a_complaint().move_to(RESOLVED, actor="facility:F1", now=FRIDAY,
                              resolution=domain.Resolution("corrected", None, {"full_name": "A"}, 2))
    assert Complaint.from_dict(c.to_dict()) == c


# -- validation -------------------------------------------------------------------------------
def test_filing_is_validated():
    f = validate_filing({"record_id": " R1 ", "proposed": {"date_of_birth": "1990-05-17"}, "text": "dòng 1\ndòng 2"})
    assert f.record_id == "R1" and f.fields == ("date_of_birth",) and f.text == "dòng 1\ndòng 2"
    for bad in ({}, {"record_id": "R1"}, {"record_id": "R1", "fields": ["citizen_id"]},
                {"record_id": "R1", "proposed": {"province_code": "079"}},
                {"record_id": "R1", "fields": ["sex"], "text": "x" * (domain.MAX_TEXT + 1)},
                {"record_id": "R1", "fields": ["sex"], "text": "bad\x00byte"},
                {"record_id": "R1", "proposed": {"full_name": "two\nlines"}},
                {"record_id": "R1", "fields": "sex"}):
        with pytest.raises(errors.ValidationError):
            validate_filing(bad)


def test_complainable_fields_can_all_be_corrected():
    assert set(domain.COMPLAINABLE) <= set(EDITABLE)


# -- service over fakes -----------------------------------------------------------------------
@pytest.fixture
def svc():
    clock = {"now": FRIDAY}
    records = FakeRecords()
    records.add("F1", "R1", CID)
    ids = iter(f"C{i}" for i in range(1, 100))
    store, corrector = FakeComplaintStore(), FakeCorrector()
    service = ComplaintService(records, store, corrector, FakeFacilityHeads({"F1": "BS. Lan"}), lambda: clock["now"],
                               sla_working_days=3, calendar=WorkingCalendar(), new_id=lambda: next(ids))
    return service, store, corrector, clock


FACILITY = Actor("facility", "F1")
WRITER = Principal("s-f1", Role.FACILITY, facility_id="F1", province_code="001")


def test_filing_routes_to_the_record_facility_and_is_idempotent(svc):
    service, store, _, _ = svc
    body = {"record_id": "R1", "proposed": {"full_name": "Nguyễn Văn An"}, "text": "sai tên"}
    first = service.file(CID, body, "k1")
    again = service.file(CID, body, "k1")
    assert first["complaint_id"] == again["complaint_id"] == "C1" and first["facility_id"] == "F1"
    assert store.counters.total("NATIONAL", "complaints_received") == 1
    with pytest.raises(errors.NotFound):
        service.file("001099999999", body, "k1")  # not their record
    with pytest.raises(errors.ValidationError):
        service.file(CID, body, None)


def test_resolving_with_the_proposal_corrects_the_record_once(svc):
    service, store, corrector, _ = svc
    cid = service.file(CID, {"record_id": "R1", "proposed": {"full_name": "Nguyễn Văn An"}}, "k")["complaint_id"]
    service.change_status(service.get(cid), {"status": "in_progress"}, FACILITY, writer=WRITER)
    out = service.change_status(service.get(cid), {"status": "resolved", "apply_proposed": True}, FACILITY,
                                writer=WRITER)
    assert out["status"] == "resolved" and out["resolution"]["kind"] == "corrected"
    assert out["resolution"]["record_version"] == 2
    # the correction is written as the one working the complaint, for intake to authorise
    assert corrector.calls == [("F1", "R1", {"full_name": "Nguyễn Văn An"}, WRITER)]
    with pytest.raises(InvalidTransition):
        service.change_status(service.get(cid), {"status": "resolved", "apply_proposed": True}, FACILITY, writer=WRITER)
    assert len(corrector.calls) == 1 and store.counters.total("NATIONAL", "complaints_resolved") == 1
    assert [h["actor"] for h in out["history"]] == ["citizen", "facility:F1", "facility:F1"]


def test_a_stale_complaint_is_a_conflict(svc):
    service, _, _, _ = svc
    cid = service.file(CID, {"record_id": "R1", "fields": ["sex"]}, "k")["complaint_id"]
    stale = service.get(cid)
    service.change_status(stale, {"status": "in_progress"}, FACILITY, writer=WRITER)
    with pytest.raises(errors.Conflict):
        service.change_status(stale, {"status": "rejected", "reason": "x"}, FACILITY, writer=WRITER)


def test_attack_two_resolutions_at_once_correct_the_record_once(svc):
    """Both read the received complaint; the second to write is refused before it touches the
    record, so the record holds the correction the complaint says it got."""
    service, store, corrector, _ = svc
    cid = service.file(CID, {"record_id": "R1", "fields": ["lot_number"]}, "k")["complaint_id"]
    seen_by_a, seen_by_b = service.get(cid), service.get(cid)
    province = Actor("province", "001")
    out = service.change_status(seen_by_a, {"status": "resolved", "correction": {"lot_number": "A"}}, FACILITY,
                                writer=WRITER)
    with pytest.raises(errors.Conflict):
        service.change_status(seen_by_b, {"status": "resolved", "correction": {"lot_number": "B"}}, province,
                              writer=WRITER)
    assert [c[2] for c in corrector.calls] == [{"lot_number": "A"}]
    assert out["resolution"]["correction"] == {"lot_number": "A"}


def test_a_refused_correction_drops_the_claim(svc):
    service, store, corrector, _ = svc
    cid = service.file(CID, {"record_id": "R1", "fields": ["lot_number"]}, "k")["complaint_id"]

    def refuse(*args, **kwargs):
        raise errors.ValidationError("the corrected record is not valid")
    corrector.correct = refuse
    with pytest.raises(errors.ValidationError):
        service.change_status(service.get(cid), {"status": "resolved", "correction": {"lot_number": "?"}},
                              FACILITY, writer=WRITER)
    # the facility fixes its correction and resolves at once: nothing holds the complaint
    out = service.change_status(service.get(cid), {"status": "rejected", "reason": "no change"}, FACILITY,
                                writer=WRITER)
    assert out["status"] == "rejected"


def test_attack_province_code_spelled_1_does_not_read_as_nothing_overdue(svc):
    service, _, _, clock = svc
    service.file(CID, {"record_id": "R1", "fields": ["sex"]}, "k")
    clock["now"] = FRIDAY + timedelta(days=6)
    for code in ("1", "01", " 001"):
        view = service.overdue_in_province(code)
        assert (view["province_code"], len(view["complaints"])) == ("001", 1), code
    with pytest.raises(errors.NotFound):
        service.overdue_in_province("999")


def test_overdue_view_names_the_facility_head(svc):
    service, _, _, clock = svc
    service.file(CID, {"record_id": "R1", "fields": ["sex"]}, "k")
    assert service.overdue_in_province("001")["complaints"] == []
    clock["now"] = FRIDAY + timedelta(days=6)  # Thursday after: due Wednesday
    view = service.overdue_in_province("001")
    assert ([(c["complaint_id"], c["facility_head"], c["overdue"]) for c in view["complaints"]]
            == [("C1", "BS. Lan", True)])
    assert service.overdue_counts("001") == {"F1": 1}
