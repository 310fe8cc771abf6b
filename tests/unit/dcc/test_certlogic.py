"""CertLogic behaviour the specification states in prose but its suites do not pin down."""
from __future__ import annotations

import pytest

from chalicelib.dcc.certlogic import CertLogicError, evaluate, plus_time, validate


@pytest.mark.parametrize("date, unit, expected", [
    # The specification's leap-day table (JavaScript Date setUTC* overflow).
    ("2020-02-29", "day", "2020-03-01T00:00:00.000Z"),
    ("2020-02-29", "month", "2020-03-29T00:00:00.000Z"),
    ("2020-02-29", "year", "2021-03-01T00:00:00.000Z"),
    ("2021-01-31", "month", "2021-03-03T00:00:00.000Z"),
    ("2021-06-01T00:30:00+01:00", "hour", "2021-06-01T00:30:00.000Z"),
    ("2021-06-01T00:00:00.123999-1:30", "day", "2021-06-02T01:30:00.123Z"),
    ("2021", "day", "2022-01-01T00:00:00.000Z"),
    ("2021-02", "day", "2021-03-01T00:00:00.000Z"),
])
def test_plus_time_follows_javascript_date_arithmetic(date, unit, expected):
    assert plus_time(date, 1, unit).isoformat() == expected


def test_not_equal_is_strict():
    assert evaluate({"!==": [1, True]}, None) is True
    assert evaluate({"!==": ["a", {"var": "x"}]}, {"x": "a"}) is False


@pytest.mark.parametrize("expr", [
    {"plusTime": [{"var": "d"}, 1, "week"]},
    {"after": [1, 2]},
    {"<": ["1", 2]},
    {"!": [{"plusTime": [{"var": "d"}, 0, "day"]}]},
    {"or": [True, False]},
    {"plusTime": ["31.12.2021", 0, "day"]},
])
def test_attack_type_mismatch_is_an_error_not_a_value(expr):
    # A rule must never pass by accident on data of the wrong type: the evaluator raises.
    with pytest.raises(CertLogicError):
        evaluate(expr, {"d": "2021-01-01"})


def test_validator_reports_nested_issues_and_wrong_operand_counts():
    issues = validate({"and": [{"var": "a."}, {"plusTime": [{"var": "x"}, "1", "week"]}, {"===": [1]}]})
    messages = [issue.message for issue in issues]
    assert "data access path doesn't have a valid format: a." in messages
    assert any("plusTime" in message for message in messages)
    assert 'an operation with operator "===" must have 2 operands' in messages


def test_attack_deeply_nested_rule_is_an_error_not_a_crash():
    expr: object = True
    for _ in range(20_000):
        expr = {"!": [expr]}
    with pytest.raises(CertLogicError):
        evaluate(expr, {})
    assert validate(expr)


def test_attack_date_past_year_9999_is_an_error_not_a_crash():
    with pytest.raises(CertLogicError):
        evaluate({"plusTime": ["9999-12-31", 1, "year"]}, {})
    # Day and hour offsets are integer arithmetic on milliseconds: any size still compares.
    assert evaluate({"after": [{"plusTime": ["2021-01-01", 10**12, "day"]},
                               {"plusTime": ["2021-01-01", 0, "day"]}]}, {}) is True


@pytest.mark.parametrize("path, data, expected", [
    ("x.01", {"x": {"1": "one", "01": "zero-one"}}, "one"),  # parseInt("01") is 1
    ("v.length", {"v": [1, 2, 3]}, 3),
    ("v.-1", {"v": [1, 2, 3]}, None),
    ("s.0", {"s": "abc"}, "a"),
    ("n.x", {"n": 5}, None),
])
def test_var_reads_data_as_the_reference_implementation_does(path, data, expected):
    assert evaluate({"var": path}, data) == expected


def test_var_path_must_be_a_string():
    with pytest.raises(CertLogicError):
        evaluate({"var": 0}, [1])


def test_any_nonzero_number_is_truthy():
    assert evaluate({"if": [{"var": "x"}, "yes", "no"]}, {"x": 0.5}) == "yes"
    assert evaluate({"!": [{"var": "x"}]}, {"x": 0.0}) is True


def test_attack_nested_reductions_stop_after_a_step_budget():
    many = list(range(2000))
    inner = {"reduce": [many, {"+": [{"var": "accumulator"}, 1]}, 0]}
    outer = {"reduce": [many, {"+": [{"var": "accumulator"}, inner]}, 0]}  # 4 million additions
    with pytest.raises(CertLogicError, match="too many steps"):
        evaluate(outer, {})
    assert evaluate(inner, {}) == 2000


def test_operands_beyond_those_an_operation_reads_are_ignored_as_certlogic_js_does():
    assert evaluate({"if": [True, "a", "b", "ignored"]}, None) == "a"
    assert evaluate({"!": [False, "ignored"]}, None) is True
    with pytest.raises(CertLogicError):
        evaluate({"if": [True, "a"]}, None)
    assert any("if" in issue.message for issue in validate({"if": [True, "a", "b", "c"]}))
