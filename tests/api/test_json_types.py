"""Request bodies take JSON's types as their schema states them (no lax coercion), and
a documented rule the schema cannot state is refused with its own error type."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.inspections.schemas import InspectionLine
from api.registry.schemas import EstateIn, HouseholdIn


def _types(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {e["type"] for e in exc.value.errors()}


@pytest.mark.parametrize("value", [False, True, "3"])
def test_an_integer_field_refuses_booleans_and_strings(value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        EstateIn.model_validate({"name": "x", "households_total": value})
    assert _types(exc) == {"int_type"}


def test_an_integer_field_takes_a_whole_number_written_with_a_point() -> None:
    # JSON Schema's integer includes 3.0; 3.5 is not one.
    assert EstateIn.model_validate({"name": "x", "households_total": 3.0}).households_total == 3
    with pytest.raises(ValidationError):
        EstateIn.model_validate({"name": "x", "households_total": 3.5})


@pytest.mark.parametrize("value", [0, 1, "true"])
def test_a_boolean_field_takes_only_true_or_false(value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        HouseholdIn.model_validate({"id": "H-1", "building": "1", "publish_consent": value})
    assert _types(exc) == {"bool_type"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ({"category": "wet", "checked": 1, "mis_sorted": 2}, "mis_sorted exceeds"),
        ({"category": "wet", "checked": 5, "mis_sorted": 1, "re_sorted": 2}, "re_sorted exceeds"),
    ],
)
def test_contradicting_values_are_a_rule_not_a_schema_error(
    line: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        InspectionLine.model_validate(line)
    assert _types(exc) == {"rule"}
    assert reason in exc.value.errors()[0]["msg"]


def test_a_day_outside_the_served_days_is_a_period_error() -> None:
    with pytest.raises(ValidationError) as exc:
        HouseholdIn.model_validate({"id": "H-1", "building": "1", "enrolled_on": "1989-12-31"})
    assert _types(exc) == {"period"}


def test_leaving_before_enrolling_is_a_rule() -> None:
    with pytest.raises(ValidationError) as exc:
        HouseholdIn.model_validate(
            {"id": "H-1", "building": "1", "enrolled_on": "2026-03-02", "left_on": "2026-03-01"}
        )
    assert _types(exc) == {"rule"}


def test_bounds_of_a_json_integer_are_documented_as_minimum_and_maximum() -> None:
    # A validator in front of the int must not turn the bounds into raw ge/le keys,
    # which JSON Schema ignores (the schema would then allow -1 weekdays).
    from api.volunteers.schemas import AvailabilityWindow

    days = AvailabilityWindow.model_json_schema()["properties"]["days"]["items"]
    assert (days["minimum"], days["maximum"]) == (0, 6)
    assert "ge" not in days and "le" not in days
