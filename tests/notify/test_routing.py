"""Routing rules (pure): steps, escalation, reminders without storms, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from api.notify.routing import (
    COMMITTEE,
    DUTY,
    AlarmView,
    Policy,
    in_quiet,
    moot,
    next_steps,
    phones,
)

T0 = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
POLICY = Policy(escalate_minutes=10, reminder_minutes=30)


def _run(
    kind: str,
    policy: Policy,
    minutes: int,
    state_at: dict[int, str] | None = None,
    start: datetime = T0,
) -> list[tuple[int, str, tuple[str, ...], datetime]]:
    """Poll every minute for `minutes`, planning as the dispatcher does."""
    planned: dict[str, datetime] = {}
    out = []
    state = "open"
    for m in range(minutes + 1):
        state = (state_at or {}).get(m, state)
        now = start + timedelta(minutes=m)
        view = AlarmView(1, kind, state, dict(planned), told=bool(planned))
        for s in next_steps(view, policy, now):
            planned[s.name] = s.due_at
            out.append((m, s.name, s.audiences, s.due_at))
    return out


def test_open_then_escalation_then_a_reminder_per_interval() -> None:
    steps = _run("overflow", POLICY, 95)
    assert [(m, n, a) for m, n, a, _ in steps] == [
        (0, "open", (DUTY,)),
        (10, "escalate", (COMMITTEE,)),
        (30, "remind-1", (DUTY, COMMITTEE)),
        (60, "remind-2", (DUTY, COMMITTEE)),
        (90, "remind-3", (DUTY, COMMITTEE)),
    ]


def test_acknowledged_stops_escalation_and_reminders_and_resolved_sends_one_note() -> None:
    steps = _run("overflow", POLICY, 120, {5: "acknowledged", 100: "resolved"})
    assert [(m, n, a) for m, n, a, _ in steps] == [(0, "open", (DUTY,)), (100, "resolved", (DUTY,))]


def test_resolved_note_is_optional_and_only_for_those_told() -> None:
    policy = Policy(send_resolved=False)
    assert [n for _, n, _, _ in _run("tilt", policy, 20, {3: "resolved"})] == ["open"]
    view = AlarmView(1, "tilt", "resolved", {}, told=False)
    assert next_steps(view, POLICY, T0) == []


def test_already_acknowledged_when_first_seen_tells_nobody() -> None:
    assert next_steps(AlarmView(1, "tilt", "acknowledged"), POLICY, T0) == []


def test_after_a_pause_only_the_latest_reminder_goes_out() -> None:
    view = AlarmView(1, "tilt", "open", {"open": T0, "escalate": T0}, told=True)
    steps = next_steps(view, POLICY, T0 + timedelta(minutes=200))
    assert [s.name for s in steps] == ["remind-6"]


def test_quiet_hours_defer_non_urgent_kinds_to_their_end() -> None:
    quiet = Policy(quiet_start=time(22), quiet_end=time(7))
    night = datetime(2026, 4, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    assert in_quiet(quiet, night) and not in_quiet(quiet, T0)
    steps = _run("tilt", quiet, 9 * 60, start=night)
    morning = datetime(2026, 4, 1, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai
    assert steps[0][1:] == ("open", (DUTY,), morning)
    # Escalation counts from when duty was told: 10 minutes after 07:00, not overnight.
    assert steps[1][1] == "escalate"
    assert night + timedelta(minutes=steps[1][0]) == morning + timedelta(minutes=10)
    # Urgent kinds go out at once, and escalate at once too.
    urgent = _run("overflow", quiet, 15, start=night)
    assert [(m, n) for m, n, _, d in urgent] == [(0, "open"), (10, "escalate")]
    assert urgent[0][3] == night


def test_quiet_hours_within_a_day() -> None:
    lunch = Policy(quiet_start=time(12), quiet_end=time(13, 30))
    assert in_quiet(lunch, datetime(2026, 4, 1, 4, 10, tzinfo=UTC))
    assert not in_quiet(lunch, datetime(2026, 4, 1, 5, 30, tzinfo=UTC))


def test_moot_deliveries() -> None:
    assert moot("escalate", "acknowledged") and moot("remind-3", "acknowledged")
    assert not moot("open", "acknowledged")
    assert moot("open", "resolved") and not moot("resolved", "resolved")
    assert not moot("escalate", "open")


def test_phones_from_free_text_contacts() -> None:
    assert phones("王阿姨 138-0000-1111") == ["13800001111"]
    assert phones("+86 139 0000 2222, 微信 abc") == ["+8613900002222"]
    assert phones(None) == [] and phones("微信 wang") == []
