"""A volunteer from the words of a form or a sheet row (every value a text), checked by
the same schema as the API (`VolunteerIn`); what is wrong as codes a page can word in
its own language (`FieldError`), never as pydantic's English."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from api.volunteers import availability_text
from api.volunteers.schemas import VolunteerIn

FIELDS = ("name", "contact", "building", "kind", "availability")
# How sheets and forms name the kinds of volunteer (besides the API's own values).
KIND_WORDS = {
    "党员": "party_member",
    "党员志愿者": "party_member",
    "party member": "party_member",
    "楼组长": "group_leader",
    "group leader": "group_leader",
    "居民": "resident",
    "居民志愿者": "resident",
    "小小志愿者领队": "child_leader",
    "儿童领队": "child_leader",
    "child leader": "child_leader",
}
KINDS = ("resident", "party_member", "group_leader", "child_leader")


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one field: `code` is one of required, too_long, kind,
    availability.window, availability.day, availability.time, invalid."""

    field: str
    code: str
    values: dict[str, str] = dataclasses.field(default_factory=dict)


def kind_of(text: str) -> str:
    """The API's kind for a word of a sheet ("" → resident); unknown words as they are."""
    word = text.strip()
    if not word:
        return "resident"
    return KIND_WORDS.get(word.lower(), KIND_WORDS.get(word, word))


def _pydantic_error(error: Any) -> FieldError:
    loc = [str(p) for p in error["loc"]]
    name = loc[0] if loc else "name"
    kind = error["type"]
    if kind in ("string_too_short", "missing"):
        return FieldError(name, "required")
    if kind == "string_too_long":
        return FieldError(name, "too_long", {"max": str(error["ctx"]["max_length"])})
    if kind == "literal_error":
        return FieldError(name, "kind")
    return FieldError(name, "invalid")


def volunteer_in(
    values: dict[str, str], *, active: bool = True, unavailable_on: list[Any] | None = None
) -> VolunteerIn | list[FieldError]:
    """The volunteer the texts describe, or everything wrong with them (each field once)."""
    errors: list[FieldError] = []
    text = {k: (values.get(k) or "").strip() for k in FIELDS}
    availability: list[dict[str, Any]] | None = None
    try:
        availability = availability_text.parse(text["availability"])
    except availability_text.AvailabilityError as exc:
        errors.append(FieldError("availability", f"availability.{exc.code}", exc.values))
    body = {
        "name": text["name"],
        "contact": text["contact"] or None,
        "building": text["building"] or None,
        "kind": kind_of(text["kind"]),
        "availability": availability,
        "unavailable_on": unavailable_on or [],
        "active": active,
    }
    try:
        parsed = VolunteerIn.model_validate(body)
    except ValidationError as exc:
        seen = {e.field for e in errors}
        for e in exc.errors():
            found = _pydantic_error(e)
            if found.field not in seen:
                seen.add(found.field)
                errors.append(found)
        return errors
    return errors or parsed
