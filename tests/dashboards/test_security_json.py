"""Names that look like HTML cannot break the pages' embedded JSON (#14). Pure.

The HTML parser reads a <script> element's text in "script data" states that change
only at a `<` (`</script>` ends it; `<!--` then `<script>` makes it swallow the rest of
the page, which is how a building named `<!--<script>` stopped every chart and table).
So the check here is independent of the escaping code: no embedded script text holds a
`<` (nor `>`, `&`, U+2028, U+2029), and the stdlib's `json.loads` gives back exactly the
values that went in. The browser proves the same on a served page
(tests/dashboards/test_security_browser.py).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api.settings import ApiSettings
from dashboards import layout, overview
from dashboards.period import Period
from dashboards.settings import DashboardSettings
from fenlei.app import create_app

HOSTILE = [
    "<!--<script>",
    "</script><script>alert(1)</script>",
    "</SCRIPT >",
    "<!--",
    "-->",
    "<script",
    "&lt;&amp;",
    "a\u2028b\u2029c",
    "]]>",
    "\\u003c",
]
UNSAFE = ("<", ">", "&", "\u2028", "\u2029")
FIGURE = re.compile(r'<script type="application/json" class="figure"[^>]*>(.*?)</script>', re.S)
TABLE = re.compile(r'<section class="table" id="table-([a-z]+)">')
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")


def test_script_json_round_trips_hostile_strings_without_unsafe_characters() -> None:
    value = {"names": HOSTILE, "nested": [{k: k} for k in HOSTILE], "n": [1, 2.5, None]}
    text = layout.script_json(value)
    assert [c for c in UNSAFE if c in text] == []
    assert json.loads(text) == value


@given(st.text(alphabet=st.sampled_from("<>&!-/sScript\u2028\u2029\"'\\ u003c"), max_size=40))
def test_any_text_round_trips(name: str) -> None:
    text = layout.script_json({"y": [name]})
    assert not any(c in text for c in UNSAFE)
    assert json.loads(text) == {"y": [name]}


def _figures(group: str | None = None) -> dict[str, Any]:
    return {
        "households_registered": 10,
        "households_enrolled": 10,
        "households_active": 6,
        "participation_rate": 0.6,
        "drops": 40,
        "wet_share": 0.4,
        "kg": dict.fromkeys(CATEGORIES, 1.5),
        **({"building_group": group} if group is not None else {}),
    }


def hostile_overview() -> overview.Overview:
    """An estate whose buildings, groups, rooms, bins and alarms carry the hostile names."""
    days = [
        {
            "day": date(2026, 3, d),
            "households_enrolled": 20,
            "households_active": 12,
            "participation_rate": 0.6,
            "drops": 30,
            "wet_share": 0.4,
            "in_window_share": 0.9,
            "kg": dict.fromkeys(CATEGORIES, 2.0),
        }
        for d in (1, 2, 3)
    ]
    buildings = [{"building": name, **_figures(), "groups": [_figures(name)]} for name in HOSTILE]
    bins = [
        {
            "room": name,
            "id": f"b{i}",
            "category": "wet",
            "fill_pct": 0.5,
            "online": True,
            "last_seen": datetime(2026, 3, 3, tzinfo=UTC),
            "battery_pct": 0.9,
            "last_alarm": name,
            "last_alarm_at": None,
        }
        for i, name in enumerate(HOSTILE)
    ]
    rejected = [{"day": date(2026, 3, 1), "reason": name, "count": 1} for name in HOSTILE]
    current = {
        "coverage": 0.9,
        "participation_rate": 0.6,
        "wet_share": 0.4,
        "in_window_share": 0.9,
    }
    return overview.Overview(current, current, days, buildings, bins, rejected)


def rendered(data: overview.Overview) -> str:
    app = create_app(
        ApiSettings(database_url="postgresql://nowhere/none"),
        DashboardSettings(session_secret="s"),
    )
    request = Request(
        {
            "type": "http",
            "app": app,
            "method": "GET",
            "scheme": "http",
            "server": ("testserver", 80),
            "path": "/dashboards/estates/x",
            "query_string": b"",
            "headers": [],
        }
    )
    ctx = layout.Context(request, "en", Period(date(2026, 3, 1), date(2026, 3, 3)), "x")
    response = overview.render(
        ctx, {"id": "x", "name": "X"}, data, DashboardSettings(session_secret="s")
    )
    return bytes(response.body).decode()


def test_the_overview_of_an_estate_with_hostile_names_embeds_safe_json() -> None:
    data = hostile_overview()
    html = rendered(data)
    payloads = FIGURE.findall(html)
    assert len(payloads) == 6  # every chart of the overview
    for payload in payloads:
        assert [c for c in UNSAFE if c in payload] == [], payload[:200]
    figures = [json.loads(p) for p in payloads]
    # The buildings chart carries every hostile name unchanged, as labels.
    buildings = next(f for f in figures if f["data"][0].get("orientation") == "h")
    assert sorted(buildings["data"][0]["y"]) == sorted(HOSTILE)
    # The rejected-messages chart: one trace per reason, named as given.
    assert sorted(t["name"] for t in figures[-1]["data"]) == sorted(HOSTILE)
    # Every table follows the charts, whole.
    assert TABLE.findall(html) == ["daily", "buildings", "groups", "bins", "rejected"]
    assert html.endswith("</script></body></html>")
