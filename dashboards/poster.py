"""The printable 公示 poster of an estate (or of one building group): what it shows.

Every figure is the API's own (`api.metrics` repository and service, as
`GET /api/v1/estates/{estate}/metrics` and `/buildings/metrics` answer), for the poster's
period and the previous period of equal length. The star families are the disclosure
board's (`dashboards.disclosure.board`, with its rules), never worked out here, so the
poster shows no household the board would not. The poster itself is one HTML article
(`article`): the print view puts it in a page, `poster_pdf` turns it into an A4 PDF.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from api.metrics import repository as metrics
from api.metrics import service
from dashboards import disclosure, i18n, public_board, qr, repository
from dashboards.i18n import Locale
from dashboards.period import Period
from dashboards.settings import DashboardSettings

# The figures on the poster, each against its target (`DashboardSettings.targets`).
FIGURES = ("coverage", "participation_rate", "wet_share")
# One A4 page (210 × 297 mm): the print view's and the PDF's page.
PRINT_CSS = """
@page{size:A4;margin:12mm}
.poster{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;color:#111;
 font-size:10.5pt;line-height:1.35}
.poster h1{font-size:20pt;margin:0 0 2mm}.poster h2{font-size:13pt;margin:4mm 0 2mm;
 border-bottom:1px solid #0f766e;color:#0f766e}
.poster .period{font-size:11pt;margin:0 0 3mm}
.poster .figures{display:flex;gap:3mm}
.poster .figure{flex:1;border:1px solid #d1d5db;border-radius:2mm;padding:2mm 3mm}
.poster .figure .value{font-size:18pt;font-weight:bold}
.poster .figure.met .verdict{color:#15803d}.poster .figure.missed .verdict{color:#b91c1c}
.poster table{border-collapse:collapse;width:100%}
.poster th,.poster td{border-bottom:1px solid #e5e7eb;padding:1mm 2mm;text-align:left}
.poster td.num,.poster th.num{text-align:right}
.poster td.mine{font-weight:bold;background:#ecfdf5}
.poster .note{color:#4b5563;font-size:9pt}
.poster #poster-ranking,.poster .stars{font-size:9.5pt}
.poster #poster-ranking .last{padding-right:4mm}.poster th{white-space:nowrap}
.poster .card{display:inline-block;vertical-align:top;width:38mm;margin:0 1.5mm 1.5mm 0;
 border:1px solid #d1d5db;border-radius:1.5mm;padding:1mm 2mm;break-inside:avoid}
.poster .card .where{font-weight:bold;color:#0f766e}
.poster .card ol{margin:0;padding-left:4.5mm}.poster .card .days{color:#4b5563}
.poster .foot{display:flex;gap:4mm;align-items:center;margin-top:4mm}
.poster .qr img{width:32mm;height:32mm}
@media print{.poster{break-inside:auto}}
"""


@dataclass(frozen=True, slots=True)
class Link:
    """The estate's public link as the poster knows it: `url` only when the committee
    pasted it (fenlei keeps only its hash), `since` when the estate has one."""

    since: datetime | None
    url: str | None = None


@dataclass(slots=True)
class Poster:
    """What one poster shows."""

    estate: dict[str, Any]
    period: Period
    previous: Period
    group: tuple[str, str] | None  # (building, group) of a group's poster
    figures: dict[str, float | None]  # FIGURES → value; None: no drop recorded
    before: dict[str, float | None]
    targets: dict[str, float]
    ranking: list[dict[str, Any]]  # {rank, name, participation_rate, wet_share, moved}
    board: disclosure.Board
    rules: disclosure.Rules
    shown: bool  # False: the group is left off the board (too few took part)
    link: Link
    groups: list[tuple[str, str]]  # (building, group) on the board, for their own posters


def _recorded(figures: dict[str, Any]) -> bool:
    # As the overview's cards: a period without any drop has no figures, not 0 %.
    return int(figures["drops"]) > 0


def _key(row: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in keys)


def _ranks(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    """{key: rank} by participation, highest first, no figure last (the overview's order)."""
    ordered = sorted(
        rows, key=lambda r: (r["participation_rate"] is None, -(r["participation_rate"] or 0))
    )
    return {_key(r, keys): i for i, r in enumerate(ordered, start=1)}


def ranking(
    now: list[dict[str, Any]], before: list[dict[str, Any]], keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows (buildings, or groups keyed by building and group) ranked by participation,
    with how far each moved since `before`: positive up, negative down, None when it had
    no rank then (no row or no figure)."""
    ranks = _ranks(now, keys)
    had = _ranks([r for r in before if r["participation_rate"] is not None], keys)
    out = []
    for r in now:
        key = _key(r, keys)
        moved = None
        if key in had and r["participation_rate"] is not None:
            moved = had[key] - ranks[key]
        out.append(
            {
                "rank": ranks[key],
                "key": key,
                "participation_rate": r["participation_rate"],
                "wet_share": r["wet_share"],
                "moved": moved,
            }
        )
    return sorted(out, key=lambda r: int(r["rank"]))


class AmbiguousGroup(Exception):
    """A building group id that several buildings have, asked for without a building."""

    def __init__(self, buildings: list[str]) -> None:
        super().__init__(buildings)
        self.buildings = buildings


def choose_group(
    buildings: list[dict[str, Any]], group: str, building: str | None
) -> tuple[str, str] | None:
    """(building, group) of the group a poster asks for: None when the estate has none
    such; AmbiguousGroup when several buildings have it and `building` is not given
    (a group's id is unique within its building only). Pure."""
    found = [
        str(b["building"])
        for b in buildings
        if building is None or str(b["building"]) == building
        for g in b["groups"]
        if g["building_group"] == group
    ]
    if not found:
        return None
    if len(found) > 1:
        raise AmbiguousGroup(sorted(found))
    return found[0], group


def _of_group(rows: list[dict[str, Any]], place: tuple[str, str]) -> list[dict[str, Any]]:
    return [r for r in rows if (r["building"], r["building_group"]) == place]


async def load(
    conn: Any,
    estate: dict[str, Any],
    period: Period,
    group: str | None,
    settings: DashboardSettings,
    locale: Locale,
    link_url: str | None = None,
    building: str | None = None,
) -> Poster | None:
    """The poster of `period`, of the estate or of building group `group` (in
    `building`, needed when several buildings have that group id); None when the estate
    has no such group."""
    eid = str(estate["id"])
    prev = period.previous()
    rules = disclosure.rules(settings)
    none_label = i18n.t(locale, "disclosure.none")
    boards, buildings = {}, {}
    for name, p in (("now", period), ("before", prev)):
        buildings[name] = service.buildings(
            eid, await metrics.building_rows(conn, eid, p.start, p.end), p.start, p.end
        )["buildings"]
        activity = await repository.household_activity(conn, eid, p.start, p.end)
        boards[name] = disclosure.board(eid, p, buildings[name], activity, rules, none_label)
    shown, place = True, None
    if group is None:
        now = service.estate_metrics(
            (await metrics.estates_rows(conn, [eid], period.start, period.end))[0], *_days(period)
        )
        then = service.estate_metrics(
            (await metrics.estates_rows(conn, [eid], prev.start, prev.end))[0], *_days(prev)
        )
        figures = {f: now[f] if _recorded(now) else None for f in FIGURES}
        before = {f: then[f] if _recorded(then) else None for f in FIGURES}
        ranked = ranking(buildings["now"], buildings["before"], ("building",))
        board = boards["now"]
    else:
        place = choose_group(buildings["now"], group, building)
        if place is None:
            return None
        mine = _of_group(boards["now"].groups, place)
        shown = bool(mine)
        earlier = _of_group(boards["before"].groups, place)
        # A group has no committee count of its households: no coverage of its own.
        figures = {
            "coverage": None,
            **{f: mine[0][f] if mine else None for f in FIGURES[1:]},
        }
        before = {
            "coverage": None,
            **{f: earlier[0][f] if earlier else None for f in FIGURES[1:]},
        }
        # The board's groups, so a group left off it is never ranked on a poster.
        keys = ("building", "building_group")
        ranked = ranking(boards["now"].groups, boards["before"].groups, keys)
        stars = _of_group(boards["now"].stars, place) if shown else []
        board = disclosure.Board(mine, stars, boards["now"].hidden, boards["now"].lists_households)
    since = await repository.public_board_since(conn, eid)
    return Poster(
        estate,
        period,
        prev,
        place,
        figures,
        before,
        settings.targets(),
        ranked,
        board,
        rules,
        shown,
        Link(since, link_url if since is not None else None),
        sorted(
            {(str(g["building"]), str(g["building_group"])) for g in boards["now"].groups}
            - {(str(b["building"]), none_label) for b in buildings["now"]}
        ),
    )


def _days(p: Period) -> tuple[Any, Any]:
    return p.start, p.end


def link_error(url: str) -> str | None:
    """The label key saying what is wrong with a pasted public link, None when it has
    the shape of one (http(s), the public board's path and a well-formed token)."""
    parts = urlsplit(url.strip())
    prefix = f"{public_board.PATH}/"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "poster.link_bad"
    if not parts.path.startswith(prefix) or not public_board.well_formed(parts.path[len(prefix) :]):
        return "poster.link_bad"
    return None


def link_token(url: str) -> str:
    """The token of a pasted public link (`link_error` said it is well formed)."""
    return urlsplit(url.strip()).path[len(public_board.PATH) + 1 :]


def qr_data_uri(url: str) -> str:
    """A QR code of `url` for the poster."""
    return qr.data_uri(url, scale=4, border=2)


def _pct(value: float | None, digits: int = 2) -> str:
    return i18n.percent(value, digits)


def _moved(locale: Locale, moved: int | None) -> str:
    if moved is None:
        return i18n.t(locale, "poster.moved_new")
    if moved == 0:
        return i18n.t(locale, "poster.moved_same")
    key = "poster.moved_up" if moved > 0 else "poster.moved_down"
    return i18n.t(locale, key, n=abs(moved))


def _figure(locale: Locale, poster: Poster, figure: str) -> str:
    value, before = poster.figures[figure], poster.before[figure]
    target = poster.targets[figure]
    state = "" if value is None else ("met" if value >= target else "missed")
    verdict = f" · {i18n.t(locale, 'target.' + state)}" if state else ""
    change = None if value is None or before is None else value - before
    shown = i18n.t(locale, "no_data_yet") if value is None else _pct(value)
    return (
        f'<div class="figure {state}" data-figure="{figure}">'
        f'<div class="label">{i18n.t(locale, "figure." + figure)}</div>'
        f'<div class="value">{escape(shown)}</div>'
        f'<div class="target">{i18n.t(locale, "target")} ≥ {_pct(target, 0)}'
        f'<span class="verdict">{verdict}</span></div>'
        f'<div class="change">{i18n.t(locale, "change")} '
        f"{escape(i18n.t(locale, 'no_data') if change is None else i18n.points(locale, change))}"
        f"</div></div>"
    )


# Ranking rows per block: a long ranking is laid out side by side, not over pages.
RANK_ROWS = 12


def _ranking_table(locale: Locale, poster: Poster) -> str:
    """One table; a long ranking in up to three column blocks side by side (ranks 1–12
    left, 13–24 next, …), read down each block."""
    heads = ["col.building"] if poster.group is None else ["col.building", "col.building_group"]
    head = (
        f'<th class="num">{i18n.t(locale, "col.rank")}</th>'
        + "".join(f"<th>{i18n.t(locale, h)}</th>" for h in heads)
        + f'<th class="num">{i18n.t(locale, "col.participation_rate")}</th>'
        f'<th class="num">{i18n.t(locale, "col.wet_share")}</th>'
        f'<th class="last">{i18n.t(locale, "poster.moved")}</th>'
    )
    cells = [
        f'<td class="num{" mine" if r["key"] == poster.group else ""}">{r["rank"]}</td>'
        + "".join(f"<td>{escape(k)}</td>" for k in r["key"])
        + f'<td class="num">{_pct(r["participation_rate"])}</td>'
        f'<td class="num">{_pct(r["wet_share"])}</td>'
        f'<td class="last">{escape(_moved(locale, r["moved"]))}</td>'
        for r in poster.ranking
    ]
    blocks = max(1, min(3, -(-len(cells) // RANK_ROWS)))
    per = max(1, -(-len(cells) // blocks))
    empty = "<td></td>" * (4 + len(heads))
    rows = "".join(
        "<tr>"
        + "".join(cells[b * per + i] if b * per + i < len(cells) else empty for b in range(blocks))
        + "</tr>"
        for i in range(per)
    )
    return (
        f'<table id="poster-ranking"><thead><tr>{head * blocks}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _stars(locale: Locale, poster: Poster) -> str:
    """The board's star families, a card per building group (the board's order), so an
    estate of many groups still fits its page."""
    board, rules = poster.board, poster.rules
    if not board.lists_households:
        short = i18n.t(locale, "disclosure.short_period", n=rules.min_period_days)
        return f'<p class="note" id="poster-short">{short}</p>'
    if not board.stars:
        return f'<p class="note" id="poster-no-stars">{i18n.t(locale, "poster.no_stars")}</p>'
    cards: dict[tuple[str, str], list[str]] = {}
    for s in board.stars:
        cards.setdefault((s["building"], s["building_group"]), []).append(
            f'<li><span class="who">{escape(s["household"])}</span> '
            f'<span class="days">{i18n.t(locale, "poster.days", n=s["active_days"])}</span></li>'
        )
    shown = "".join(
        f'<div class="card" data-building="{escape(b)}" data-group="{escape(g)}">'
        f'<div class="where">{escape(i18n.t(locale, "poster.group", building=b, group=g))}</div>'
        f"<ol>{''.join(items)}</ol></div>"
        for (b, g), items in cards.items()
    )
    return (
        f'<div class="stars" id="poster-stars">{shown}</div>'
        f'<p class="note">{i18n.t(locale, "disclosure.code_hint")}</p>'
    )


def _link(locale: Locale, poster: Poster, zone: str) -> str:
    link = poster.link
    if link.url is not None:
        return (
            f'<div class="qr" id="poster-qr"><img alt="QR" src="{qr_data_uri(link.url)}"></div>'
            f'<p id="poster-link">{i18n.t(locale, "poster.qr")}</p>'
        )
    if link.since is None:
        return f'<p class="note" id="poster-link">{i18n.t(locale, "poster.no_link")}</p>'
    made = i18n.moment(locale, link.since.astimezone(ZoneInfo(zone)))
    note = i18n.t(locale, "poster.link_not_printed", when=made)
    return f'<p class="note" id="poster-link">{note}</p>'


def article(locale: Locale, poster: Poster) -> str:
    """The poster as one HTML <article>: the same in the print view and in the PDF."""
    p, e = poster.period, poster.estate
    title = str(e["name"])
    if poster.group is not None:
        building, group = poster.group
        title += " · " + i18n.t(locale, "poster.group", building=building, group=group)
    period = (
        f"{i18n.day(locale, p.start)} – {i18n.day(locale, p.end)}"
        f" ({i18n.t(locale, 'poster.previous')} {i18n.day(locale, poster.previous.start)} – "
        f"{i18n.day(locale, poster.previous.end)})"
    )
    if not poster.shown:
        body = (
            f'<p class="note" id="poster-hidden">'
            f"{i18n.t(locale, 'poster.group_hidden', n=poster.rules.min_group)}</p>"
        )
    else:
        figures = [f for f in FIGURES if poster.group is None or f != "coverage"]
        ranked = "poster.ranking" if poster.group is None else "poster.group_ranking"
        body = (
            f'<div class="figures">{"".join(_figure(locale, poster, f) for f in figures)}</div>'
            f"<h2>{i18n.t(locale, ranked)}</h2>"
            f"{_ranking_table(locale, poster)}"
            f"<h2>{i18n.t(locale, 'poster.stars')}</h2>{_stars(locale, poster)}"
        )
    hidden = ""
    if poster.group is None:
        left = i18n.t(locale, "disclosure.hidden", n=poster.rules.min_group, m=poster.board.hidden)
        hidden = f'<p class="note" id="poster-hidden-groups">{left}</p>'
    return (
        f'<article class="poster" id="poster"><h1>{escape(title)} · '
        f'{i18n.t(locale, "poster.title")}</h1><p class="period">{escape(period)}</p>'
        f'{body}{hidden}<div class="foot">{_link(locale, poster, str(e["timezone"]))}</div>'
        f"</article>"
    )


def document(locale: Locale, poster: Poster) -> str:
    """The poster alone as a complete HTML document (what the PDF is made from)."""
    return (
        f'<!doctype html><html lang="{i18n.HTML_LANG[locale]}"><head><meta charset="utf-8">'
        f"<title>{escape(str(poster.estate['name']))}</title><style>{PRINT_CSS}</style></head>"
        f"<body>{article(locale, poster)}</body></html>"
    )
