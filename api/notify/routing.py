"""Who is told what and when: the steps of an alarm's notifications. Pure.

An alarm's steps, each planned once (the dispatcher stores them, so a step is never
planned twice however often it polls):

- `open`, when it is first seen open: the duty audience (the volunteers on duty at the
  room now and the property company's contact). Acknowledged before it was seen:
  nobody needs telling.
- `escalate`, when it is still open `escalate_minutes` after `open` went out: the
  committee audience.
- `remind-<n>`, every `reminder_minutes` after `open` while it stays open (not
  acknowledged): the audiences told so far. Repeats of the alarm in between send
  nothing. After a pause (the dispatcher was down) only the latest reminder is sent.
- `resolved`, once, when it resolves after someone was told (estate setting
  `send_resolved`).

Quiet hours (local time of the estate): a step of a kind not in `urgent_kinds` that
falls in them is due at their end; escalation and reminders of such an alarm are not
planned during them (their clocks run from when `open` went out). `overflow` and
`odour` are urgent by default: a full wet-waste bin overnight is tomorrow's smell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DUTY = "duty"
COMMITTEE = "committee"
DEFAULT_URGENT = frozenset({"overflow", "odour"})


@dataclass(frozen=True, slots=True)
class Policy:
    """An estate's notification settings (notify_settings, or the defaults)."""

    timezone: str = "Asia/Shanghai"
    escalate_minutes: int = 10
    reminder_minutes: int = 30
    quiet_start: time | None = None
    quiet_end: time | None = None
    urgent_kinds: frozenset[str] = DEFAULT_URGENT
    send_resolved: bool = True


@dataclass(frozen=True, slots=True)
class AlarmView:
    """What routing needs of an alarm record."""

    id: int
    kind: str
    state: str  # open | acknowledged | resolved
    # Step name -> when it is (was) due; what was planned before.
    planned: dict[str, datetime] = field(default_factory=dict)
    # Some channel got a step of this alarm (a resolved note is for those told).
    told: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """A step to plan: its name, the audiences it goes to, when it is due."""

    name: str
    audiences: tuple[str, ...]
    due_at: datetime


def in_quiet(policy: Policy, at: datetime) -> bool:
    """True when `at` falls in the estate's quiet hours (local clock)."""
    if policy.quiet_start is None or policy.quiet_end is None:
        return False
    clock = at.astimezone(ZoneInfo(policy.timezone)).time()
    start, end = policy.quiet_start, policy.quiet_end
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # past midnight (22:00-07:00)


def quiet_ends(policy: Policy, at: datetime) -> datetime:
    """The end of the quiet hours `at` is in (an instant, local clock's next `quiet_end`)."""
    assert policy.quiet_end is not None
    local = at.astimezone(ZoneInfo(policy.timezone))
    end = datetime.combine(local.date(), policy.quiet_end, tzinfo=local.tzinfo)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), policy.quiet_end, local.tzinfo)
    return end


def _due(policy: Policy, kind: str, now: datetime) -> datetime:
    if kind in policy.urgent_kinds or not in_quiet(policy, now):
        return now
    return quiet_ends(policy, now)


def next_steps(alarm: AlarmView, policy: Policy, now: datetime) -> list[Step]:
    """The steps to plan for `alarm` at `now` (usually none)."""
    planned = alarm.planned
    escalated = "escalate" in planned
    told_audiences = (DUTY, COMMITTEE) if escalated else (DUTY,)
    if alarm.state == "resolved":
        if "resolved" in planned or not policy.send_resolved or not alarm.told:
            return []
        return [Step("resolved", told_audiences, _due(policy, alarm.kind, now))]
    if "open" not in planned:
        if alarm.state != "open":
            return []
        return [Step("open", (DUTY,), _due(policy, alarm.kind, now))]
    opened = planned["open"]
    if alarm.state != "open" or now < opened:
        return []
    if alarm.kind not in policy.urgent_kinds and in_quiet(policy, now):
        return []
    steps = []
    if not escalated and now >= opened + timedelta(minutes=policy.escalate_minutes):
        steps.append(Step("escalate", (COMMITTEE,), now))
        told_audiences = (DUTY, COMMITTEE)
    n = int((now - opened) / timedelta(minutes=policy.reminder_minutes))
    if n >= 1 and f"remind-{n}" not in planned:
        steps.append(Step(f"remind-{n}", told_audiences, now))
    return steps


def moot(step: str, state: str) -> bool:
    """True when a delivery of `step` no longer needs to go out with the alarm in
    `state`: an acknowledged alarm needs no escalation or reminder, a resolved one not
    even its first note (only its resolved note)."""
    if state == "acknowledged":
        return step == "escalate" or step.startswith("remind-")
    if state == "resolved":
        return step != "resolved"
    return False


_PHONE = re.compile(r"\+?\d[\d\- ]{5,18}\d")


def phones(contact: str | None) -> list[str]:
    """The phone numbers in a volunteer's free-text contact ("王阿姨 138-0000-1111"),
    digits only (a leading + kept): what the robots' mention lists take."""
    if not contact:
        return []
    return [re.sub(r"[\s-]", "", m) for m in _PHONE.findall(contact)]
