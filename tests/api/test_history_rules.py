"""The registry's history rules (api.registry.history), case by case, worked by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from api.registry.history import (
    Applied,
    History,
    Membership,
    Spell,
    apply_row,
    touched_days,
    union_days,
)
from api.registry.schemas import HouseholdIn

TODAY = date(2026, 12, 1)
D = date.fromisoformat


def row(**fields: Any) -> HouseholdIn:
    return HouseholdIn.model_validate({"id": "h1", "building": "3", **fields})


def ok(applied: Applied) -> History:
    assert not applied.errors, applied.errors
    assert applied.history is not None
    return applied.history


def refused(applied: Applied, field: str) -> str:
    assert applied.history is None
    assert [e.field for e in applied.errors] == [field]
    return applied.errors[0].message


CARRIED = History((Membership(None, None, "3", "3-1"),), (Spell(D("2025-01-01"), None),))


def test_a_new_household_belongs_from_its_effective_date_or_its_enrolment() -> None:
    new = ok(apply_row(None, row(building_group="3-1"), TODAY))
    assert new.memberships == (Membership(TODAY, None, "3", "3-1"),)
    assert new.spells == () and not new.publish_consent
    applied = apply_row(None, row(enrolled_on="2026-03-01"), TODAY)
    assert ok(applied).memberships[0].valid_from == D("2026-03-01")
    assert ok(applied).spells == (Spell(D("2026-03-01"), None),)
    assert applied.touched == ((D("2026-03-01"), TODAY),)  # 275 past days changed
    assert applied.days_touched == 275
    later = ok(apply_row(None, row(effective_on="2026-01-01", enrolled_on="2026-03-01"), TODAY))
    assert later.memberships[0].valid_from == D("2026-01-01")
    refused(apply_row(None, row(left_on="2026-03-01"), TODAY), "left_on")


def test_a_move_applies_from_its_effective_date() -> None:
    applied = apply_row(CARRIED, row(building="5", effective_on="2026-05-01"), TODAY)
    moved = ok(applied)
    assert moved.memberships == (
        Membership(None, D("2026-05-01"), "3", "3-1"),
        Membership(D("2026-05-01"), None, "5", None),
    )
    assert moved.spells == CARRIED.spells
    assert moved.place_on(D("2026-04-30")) == ("3", "3-1")
    assert moved.place_on(D("2026-05-01")) == ("5", None)
    assert applied.touched == ((D("2026-05-01"), TODAY),)
    # Without effective_on: from today, nothing in the past changes.
    today = apply_row(CARRIED, row(building="5"), TODAY)
    assert ok(today).memberships[-1].valid_from == TODAY and today.touched == ()
    # A planned move (in the future) is allowed and touches no past day.
    assert apply_row(CARRIED, row(building="5", effective_on="2027-01-01"), TODAY).touched == ()


def test_a_group_change_alone_is_a_move() -> None:
    moved = ok(apply_row(CARRIED, row(building_group="3-2", effective_on="2026-06-01"), TODAY))
    assert [m.place for m in moved.memberships] == [("3", "3-1"), ("3", "3-2")]


def test_a_move_on_the_same_effective_date_corrects_it_and_back_merges() -> None:
    moved = ok(apply_row(CARRIED, row(building="5", effective_on="2026-05-01"), TODAY))
    corrected = ok(apply_row(moved, row(building="6", effective_on="2026-05-01"), TODAY))
    assert [m.place for m in corrected.memberships] == [("3", "3-1"), ("6", None)]
    undone = apply_row(
        moved, row(building="3", building_group="3-1", effective_on="2026-05-01"), TODAY
    )
    assert ok(undone).memberships == CARRIED.memberships
    assert undone.touched == ((D("2026-05-01"), TODAY),)


def test_a_move_dated_before_the_latest_recorded_move_is_refused() -> None:
    moved = ok(apply_row(CARRIED, row(building="5", effective_on="2026-05-01"), TODAY))
    message = refused(
        apply_row(moved, row(building="6", effective_on="2026-04-01"), TODAY), "effective_on"
    )
    assert "2026-05-01" in message and "building 5" in message
    # Restating where it is changes nothing, whatever the date.
    same = apply_row(moved, row(building="5", effective_on="2026-04-01"), TODAY)
    assert ok(same) == moved and same.touched == ()


def test_leaving_and_re_enrolling_make_two_spells() -> None:
    left = apply_row(CARRIED, row(building_group="3-1", left_on="2026-04-01"), TODAY)
    assert ok(left).spells == (Spell(D("2025-01-01"), D("2026-04-01")),)
    assert left.touched == ((D("2026-04-01"), TODAY),)
    back = apply_row(ok(left), row(building_group="3-1", enrolled_on="2026-06-15"), TODAY)
    assert ok(back).spells == (
        Spell(D("2025-01-01"), D("2026-04-01")),
        Spell(D("2026-06-15"), None),
    )
    assert back.touched == ((D("2026-06-15"), TODAY),)
    assert not ok(back).enrolled_on(D("2026-05-01")) and ok(back).enrolled_on(D("2026-06-15"))
    # Re-enrolling on the day it left: touching spells are allowed.
    same_day = ok(apply_row(ok(left), row(building_group="3-1", enrolled_on="2026-04-01"), TODAY))
    assert len(same_day.spells) == 2


def test_contradictory_enrolments_are_refused() -> None:
    inside_open = apply_row(CARRIED, row(building_group="3-1", enrolled_on="2026-02-01"), TODAY)
    assert "left_on first" in refused(inside_open, "enrolled_on")
    before = apply_row(CARRIED, row(building_group="3-1", left_on="2024-12-31"), TODAY)
    assert "before its enrolment" in refused(before, "left_on")
    two = History(
        CARRIED.memberships,
        (Spell(D("2025-01-01"), D("2026-04-01")), Spell(D("2026-06-15"), None)),
    )
    inside_closed = apply_row(two, row(building_group="3-1", enrolled_on="2026-03-01"), TODAY)
    assert "until 2026-04-01" in refused(inside_closed, "enrolled_on")
    overlap = apply_row(
        two, row(building_group="3-1", enrolled_on="2025-01-01", left_on="2026-07-01"), TODAY
    )
    assert "next enrolment" in refused(overlap, "left_on")
    earlier_overlap = apply_row(
        two, row(building_group="3-1", enrolled_on="2024-01-01", left_on="2025-06-01"), TODAY
    )
    refused(earlier_overlap, "left_on")


def test_earlier_spells_and_earlier_starts_can_be_recorded_late() -> None:
    earlier = ok(
        apply_row(
            CARRIED,
            row(building_group="3-1", enrolled_on="2023-01-01", left_on="2024-01-01"),
            TODAY,
        )
    )
    assert [s.enrolled_on for s in earlier.spells] == [D("2023-01-01"), D("2025-01-01")]
    new = ok(apply_row(None, row(enrolled_on="2026-03-01"), TODAY))
    started_earlier = ok(apply_row(new, row(enrolled_on="2026-02-01"), TODAY))
    assert started_earlier.spells == (Spell(D("2026-02-01"), None),)
    # Its first membership reaches back with it: it belongs somewhere when enrolled.
    assert started_earlier.memberships[0].valid_from == D("2026-02-01")


def test_absent_fields_change_nothing() -> None:
    named = ok(apply_row(None, row(display_name="3号楼 302室", publish_consent=True), TODAY))
    again = apply_row(named, row(), TODAY)
    assert ok(again) == named and again.touched == ()
    assert ok(again).display_name == "3号楼 302室" and ok(again).publish_consent
    withdrawn = ok(apply_row(named, row(publish_consent=False), TODAY))
    assert withdrawn.display_name == "3号楼 302室" and not withdrawn.publish_consent
    # A sheet without enrolment columns never un-enrols anybody.
    assert ok(apply_row(CARRIED, row(building_group="3-1"), TODAY)) == CARRIED


def test_touched_days_count_only_past_days_that_changed() -> None:
    one = History((Membership(D("2026-01-01"), None, "3", None),), (Spell(D("2026-01-10"), None),))
    two = History(
        (Membership(D("2026-01-01"), None, "3", None),),
        (Spell(D("2026-01-10"), D("2026-11-20")),),
    )
    assert touched_days(one, two, TODAY) == [(D("2026-11-20"), TODAY)]
    assert touched_days(two, one, D("2026-11-25")) == [(D("2026-11-20"), D("2026-11-25"))]
    assert touched_days(one, one, TODAY) == []
    assert (
        union_days([(D("2026-01-01"), D("2026-01-11")), (D("2026-01-05"), D("2026-01-21"))]) == 20
    )
    assert union_days([]) == 0


@pytest.mark.parametrize("field", ["enrolled_on", "left_on", "effective_on"])
def test_dates_far_off_are_refused_up_front(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        row(**{field: "9999-12-31"})
