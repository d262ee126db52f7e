"""The text of each step's message, from an alarm and who is on duty. Pure.

A message is stored in the outbox as JSON when its step is planned, so a resend after
a restart sends the same words, and the mentions are those on duty when it was
planned (not when a retry finally got through).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.notify.labels import LANGUAGE, label
from api.notify.routing import COMMITTEE, DUTY, Policy, phones


@dataclass(frozen=True, slots=True)
class Person:
    """Someone to mention: a volunteer on duty or the property contact."""

    name: str
    contact: str | None = None


@dataclass(frozen=True, slots=True)
class Property:
    """The estate's property company contact."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """What a channel sends: a title, plain text, phones to mention, extra addresses."""

    title: str
    text: str
    mentions: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    # The alarm and step as data, for the generic webhook's receiver.
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The outbox's `message` column."""
        doc = asdict(self)
        doc["mentions"] = list(self.mentions)
        doc["emails"] = list(self.emails)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Message:
        return cls(
            title=str(doc["title"]),
            text=str(doc["text"]),
            mentions=tuple(doc.get("mentions") or ()),
            emails=tuple(doc.get("emails") or ()),
            data=dict(doc.get("data") or {}),
        )


def _figure(detail: Any) -> str:
    """The reading behind an alarm, when it has one: " (97.5%)"."""
    if not isinstance(detail, dict):
        return ""
    for key in ("fill_pct", "battery_pct"):
        value = detail.get(key)
        if isinstance(value, int | float):
            return f" ({value:g}%)"
    return ""


def _local(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


def compose(
    step: str,
    audience: str,
    alarm: dict[str, Any],
    estate_name: str,
    policy: Policy,
    duty: list[Person],
    contact: Property,
    language: str = LANGUAGE,
) -> Message:
    """The message of `step` for one audience. `alarm` is the alarm's row (id, kind,
    room_id, bin_id, repeats, first_seen, resolved_at, resolved_by, state)."""
    kind_word = label(f"kind.{alarm['kind']}", language) + _figure(alarm.get("detail"))
    room = str(alarm.get("room_name") or alarm["room_id"])
    where = (
        label("where.bin", language, room=room, bin=alarm["bin_id"]) if alarm["bin_id"] else room
    )
    step_key = "remind" if step.startswith("remind-") else step
    title = label(
        "title",
        language,
        step=label(f"step.{step_key}", language),
        estate=estate_name,
        where=where,
        what=kind_word,
    )
    lines = [
        label(
            "line.alarm",
            language,
            where=where,
            kind=kind_word,
            first_seen=_local(alarm["first_seen"], policy.timezone),
            repeats=alarm["repeats"],
        )
    ]
    mentions: list[str] = []
    if step == "resolved":
        at = alarm.get("resolved_at") or alarm["first_seen"]
        lines = [
            label(
                "line.resolved",
                language,
                kind=kind_word,
                at=_local(at, policy.timezone),
                by=alarm.get("resolved_by") or "auto",
            )
        ]
    elif audience == DUTY:
        if duty:
            people = "、".join(f"{p.name} {' '.join(phones(p.contact))}".strip() for p in duty)
            lines.append(label("line.duty", language, people=people))
            mentions += [n for p in duty for n in phones(p.contact)]
        else:
            lines.append(label("line.no_duty", language))
        if contact.name or contact.phone:
            lines.append(
                label("line.property", language, name=contact.name or "", phone=contact.phone or "")
            )
            mentions += phones(contact.phone)
        lines.append(label("line.ack", language))
    elif audience == COMMITTEE:
        lines.append(label("line.escalate", language, minutes=policy.escalate_minutes))
    emails = (contact.email,) if audience == DUTY and contact.email else ()
    data = {
        "step": step,
        "audience": audience,
        "alarm": {
            "id": alarm["id"],
            "estate": alarm["estate_id"],
            "room": alarm["room_id"],
            "bin": alarm["bin_id"],
            "kind": alarm["kind"],
            "state": alarm["state"],
            "repeats": alarm["repeats"],
            "first_seen": alarm["first_seen"].isoformat(),
            "detail": alarm.get("detail") or {},
        },
    }
    return Message(title, "\n".join(lines), tuple(dict.fromkeys(mentions)), emails, data)


def trial_message(channel_name: str, estate_name: str, language: str = LANGUAGE) -> Message:
    """The message of the "send a test message" route."""
    title = label("step.test", language) + estate_name
    return Message(
        title, label("line.test", language, channel=channel_name), (), (), {"step": "test"}
    )
