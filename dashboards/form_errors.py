"""Why a form was refused, in the page's language: pydantic's errors and the services'.

The schemas and services speak English to API clients ("wet: mis_sorted exceeds the
drops checked"); a page shows the same refusal as a sentence in its locale that names
the field (`labels_forms`: `form.*`, `svc.*`). A refusal with no sentence of its own
gets its class's (forbidden, not found, conflict), never the English text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from api.errors import ApiError, Conflict, Forbidden, NotFound
from dashboards import i18n
from dashboards.i18n import Locale

Loc = tuple[int | str, ...]
# The label of the field at a location of the validated body ("湿垃圾 · 错投").
FieldLabel = Callable[[Loc], str]

# Pydantic error types of a number out of its bounds, or not a whole number.
_NUMBER_TYPES = {
    "greater_than_equal",
    "greater_than",
    "less_than_equal",
    "less_than",
    "int_parsing",
    "int_type",
    "int_from_float",
    "missing",
}
# A model's own checks (ValueError in a validator): their English message → label key.
_VALUE_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"mis_sorted exceeds the drops checked"), "form.mis_over_checked"),
    (re.compile(r"re_sorted exceeds the mis-sorted drops"), "form.re_over_mis"),
    (re.compile(r"one line per category"), "form.one_per_category"),
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused value: where it is in the body (to mark its input) and why, in words."""

    loc: Loc
    message: str


def validation_problems(
    locale: Locale,
    exc: ValidationError,
    field_label: FieldLabel,
    bounds: tuple[int, int] = (0, 100_000),
) -> list[Problem]:
    """Each of pydantic's errors as a sentence naming the field; `bounds` are the whole
    numbers the form's number fields take (said in full when only one end was passed)."""
    out = []
    for error in exc.errors():
        loc: Loc = tuple(error["loc"])
        out.append(Problem(loc, _sentence(locale, error, loc, field_label, bounds)))
    return out


def _sentence(
    locale: Locale,
    error: Any,
    loc: Loc,
    field_label: FieldLabel,
    bounds: tuple[int, int],
) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    # `rule` / `period`: a documented rule of api.fields.broken_rule, its reason in ctx.
    if kind in ("value_error", "rule", "period"):
        text = str(ctx.get("error", ctx.get("reason", error.get("msg", ""))))
        for pattern, key in _VALUE_ERRORS:
            if pattern.search(text):
                return i18n.t(locale, key, field=field_label(loc))
        return i18n.t(locale, "form.bad_value", field=field_label(loc))
    if kind in _NUMBER_TYPES:
        low, high = ctx.get("ge", bounds[0]), ctx.get("le", bounds[1])
        return i18n.t(
            locale,
            "form.int_range",
            field=field_label(loc),
            min=i18n.number(low),
            max=i18n.number(high),
        )
    if kind == "too_short" and loc == ("lines",):
        return i18n.t(locale, "form.no_lines")
    if kind in ("string_too_long", "too_long") and "max_length" in ctx:
        return i18n.t(
            locale, "form.too_long", field=field_label(loc), max=i18n.number(ctx["max_length"])
        )
    return i18n.t(locale, "form.bad_value", field=field_label(loc))


# What the services refuse (their English, for API clients) → label key and the values
# its placeholders take from the message.
_SERVICE: tuple[tuple[re.Pattern[str], str, Callable[[re.Match[str], Locale], dict[str, str]]], ...]
_SERVICE = (
    (re.compile(r"^already checked in"), "svc.already_checked_in", lambda m, loc: {}),
    (
        re.compile(r"^check-in is open from (\d+) minutes"),
        "svc.check_in_window",
        lambda m, loc: {"minutes": m.group(1)},
    ),
    (re.compile(r"^check in before checking out"), "svc.check_in_first", lambda m, loc: {}),
    (re.compile(r"^already checked out"), "svc.already_checked_out", lambda m, loc: {}),
    (re.compile(r"^check-out closed"), "svc.check_out_closed", lambda m, loc: {}),
    (re.compile(r"it can no longer be swapped$"), "svc.swap_started", lambda m, loc: {}),
    (re.compile(r"^this assignment is already offered"), "svc.already_offered", lambda m, loc: {}),
    (re.compile(r"^this needs the volunteer role"), "svc.needs_volunteer", lambda m, loc: {}),
    (re.compile(r"^only a volunteer of the same estate"), "svc.other_estate", lambda m, loc: {}),
    (
        re.compile(r"^this offer is (open|accepted|cancelled)$"),
        "svc.offer_state",
        lambda m, loc: {"state": i18n.t(loc, f"swap.status.{m.group(1)}")},
    ),
    (re.compile(r"^you cannot take your own offer"), "svc.own_offer", lambda m, loc: {}),
    (re.compile(r"^you already hold this watch"), "svc.already_hold", lambda m, loc: {}),
    (re.compile(r"^this watch has already started$"), "svc.watch_started", lambda m, loc: {}),
    (re.compile(r"^this offer was taken or withdrawn"), "svc.offer_gone", lambda m, loc: {}),
    (
        re.compile(r"^inspections are recorded during the watch or within (\d+) hours"),
        "svc.inspection_window",
        lambda m, loc: {"hours": m.group(1)},
    ),
    (re.compile(r"not linked to an active volunteer"), "svc.not_linked", lambda m, loc: {}),
)


def service_message(locale: Locale, exc: ApiError) -> str:
    """A service's refusal as a sentence in `locale`: its own when it has one, else its
    class's; never the English text."""
    text = str(exc)
    for pattern, key, values in _SERVICE:
        found = pattern.search(text)
        if found:
            return i18n.t(locale, key, **values(found, locale))
    if isinstance(exc, Forbidden):
        return i18n.t(locale, "svc.forbidden")
    if isinstance(exc, NotFound):
        return i18n.t(locale, "svc.not_found")
    if isinstance(exc, Conflict):
        return i18n.t(locale, "svc.conflict")
    return i18n.t(locale, "svc.failed")


def known_service_messages() -> Sequence[str]:
    """The label keys `service_message` can answer with (for the tests)."""
    keys = [key for _, key, _ in _SERVICE]
    return [*keys, "svc.forbidden", "svc.not_found", "svc.conflict", "svc.failed"]
