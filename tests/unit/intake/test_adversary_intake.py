"""Intake attacks from the adversarial review of issue 10 that need a design decision before a
fix (the real services over the in-memory ports of tests/fakes/intake.py)."""
from __future__ import annotations

import pytest

from chalicelib.auth.principal import Principal, Role
from tests.fakes.intake import IntakeWorld
from tests.unit.intake.test_authorisation import rec, stored, submit

F1 = Principal("s-f1", Role.FACILITY, facility_id="F1")


@pytest.mark.xfail(strict=True, reason=(
    "design decision: a facility re-registered in another province (e.g. the 2025 province mergers) "
    "leaves its stored records under the old province, and every later write of them (a correction, "
    "a complaint resolution, a re-upload) is refused FACILITY_NOT_IN_PROVINCE or "
    "PROVINCE_CHANGE_NOT_ALLOWED; issue 10 says a move is an explicit correction by the owner, which "
    "no route offers (corrections may not change province_code)"))
def test_attack_facility_moved_to_another_province_strands_its_records():
    w = IntakeWorld({"F1": "001"})
    submit(w, F1, [rec()])
    assert stored(w)["province_code"] == "001"
    w.facilities.facilities["F1"] = "079"  # the operator registers the facility in its new province
    out = w.corrections.correct("F1", "R1", writer=F1, changes={"lot_number": "L2"})
    assert out["status"] == "corrected" and stored(w)["version"] == 2
