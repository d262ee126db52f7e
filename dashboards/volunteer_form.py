"""The committee's volunteer form (add and edit) and how its problems are worded: plain
HTML, every value escaped, what was typed kept when the form comes back with errors."""

from __future__ import annotations

from html import escape
from typing import Any

from api.volunteers import availability_text
from api.volunteers.form_input import FIELDS, KINDS, FieldError
from dashboards import common, layout
from dashboards.i18n import Locale, t

INPUT_STYLE = "display:block;width:100%;max-width:32em;padding:6px;margin:2px 0 10px"


def field_label(locale: Locale, name: str) -> str:
    """The form's and the list's name of a field."""
    return t(locale, f"vol.col.{name}")


def problem(locale: Locale, code: str, values: dict[str, str], label: str) -> str:
    """One problem (a `FieldError` or sheet `RowError` code) in the page's language,
    about the field or column called `label`."""
    return t(locale, f"vol.err.{code}", **{**values, "field": label})


def kind_name(locale: Locale, kind: str) -> str:
    """A kind of volunteer in words."""
    return t(locale, f"vol.kind.{kind}")


def values_of(row: dict[str, Any], locale: Locale) -> dict[str, str]:
    """A stored volunteer as the form's texts."""
    return {
        "name": row["name"] or "",
        "contact": row["contact"] or "",
        "building": row["building"] or "",
        "kind": row["kind"],
        "availability": availability_text.words(row["availability"], locale),
    }


def values_from(form: Any) -> dict[str, str]:
    """A posted form's texts (a file or a missing field is "")."""
    out: dict[str, str] = {}
    for name in FIELDS:
        value = form.get(name)
        out[name] = value if isinstance(value, str) else ""
    return out


def _text_input(ctx: layout.Context, name: str, value: str, **attrs: str) -> str:
    extra = "".join(f' {k}="{escape(v)}"' for k, v in attrs.items())
    return (
        f'<label for="v-{name}">{field_label(ctx.locale, name)}</label>'
        f'<input id="v-{name}" name="{name}" value="{escape(value)}" '
        f'style="{INPUT_STYLE}"{extra}>'
    )


def render(
    ctx: layout.Context, action: str, values: dict[str, str], errors: list[FieldError]
) -> str:
    """The form, with its problems listed above it."""
    problems = ""
    if errors:
        items = "".join(
            f"<li>{escape(problem(ctx.locale, e.code, e.values, field_label(ctx.locale, e.field)))}"
            "</li>"
            for e in errors
        )
        problems = (
            f'<div class="card missed" id="form-errors" role="alert">'
            f"<p>{ctx.t('vol.form.errors')}</p><ul>{items}</ul></div>"
        )
    kinds = "".join(
        f'<option value="{k}"{" selected" if values.get("kind") == k else ""}>'
        f"{escape(kind_name(ctx.locale, k))}</option>"
        for k in KINDS
    )
    return (
        f'{problems}<form class="table" method="post" action="{escape(action)}">'
        f"{common.csrf_field(ctx.request)}"
        + _text_input(ctx, "name", values.get("name", ""), required="required", maxlength="200")
        + _text_input(ctx, "contact", values.get("contact", ""), inputmode="tel")
        + _text_input(ctx, "building", values.get("building", ""))
        + f'<label for="v-kind">{field_label(ctx.locale, "kind")}</label>'
        f'<select id="v-kind" name="kind" style="{INPUT_STYLE}">{kinds}</select>'
        + _text_input(
            ctx,
            "availability",
            values.get("availability", ""),
            placeholder=ctx.t("vol.availability.help"),
        )
        + f'<p class="note">{ctx.t("vol.availability.help")}</p>'
        f'<p><button type="submit" id="save">{ctx.t("vol.save")}</button> '
        f'<a href="{escape(action.rsplit("/volunteers", 1)[0])}/volunteers">'
        f"{ctx.t('vol.back')}</a></p></form>"
    )
