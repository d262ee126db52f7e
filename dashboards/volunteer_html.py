"""Words and HTML pieces of the volunteer pages: zh-CN by default, English on request."""

from __future__ import annotations

from datetime import date, time
from html import escape
from typing import Literal

from dashboards.session import CSRF_FIELD

Lang = Literal["zh", "en"]
WEEKDAYS = {"zh": "一二三四五六日", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}
CATEGORY_NAMES = {
    "zh": {
        "dry": "干垃圾",
        "wet": "湿垃圾",
        "recyclable": "可回收物",
        "hazardous": "有害垃圾",
        "construction": "建筑垃圾",
    },
    "en": {
        "dry": "Dry",
        "wet": "Wet",
        "recyclable": "Recyclable",
        "hazardous": "Hazardous",
        "construction": "Construction",
    },
}
WORDS: dict[str, dict[Lang, str]] = {
    "title": {"zh": "垃圾分类志愿者", "en": "Sorting volunteers"},
    "login": {"zh": "登录", "en": "Sign in"},
    "token": {"zh": "志愿者令牌（居委会发放）", "en": "Volunteer token (from the committee)"},
    "logout": {"zh": "退出", "en": "Sign out"},
    "hello": {"zh": "您好", "en": "Hello"},
    "my_shifts": {"zh": "我的值班", "en": "My next shifts"},
    "no_shifts": {"zh": "近期没有值班", "en": "No shifts coming up"},
    "on_duty": {"zh": "正在值守", "en": "On duty now"},
    "nobody": {"zh": "无人值守", "en": "Nobody on duty"},
    "check_in": {"zh": "签到", "en": "Check in"},
    "check_out": {"zh": "签退", "en": "Check out"},
    "checked_in": {"zh": "已签到", "en": "Checked in"},
    "checked_out": {"zh": "已签退", "en": "Checked out"},
    "inspect": {"zh": "记录检查", "en": "Record inspection"},
    "offer": {"zh": "换班", "en": "Offer swap"},
    "offered": {"zh": "已申请换班", "en": "Offered"},
    "swaps": {"zh": "可接的班", "en": "Shifts to take"},
    "no_swaps": {"zh": "暂无换班请求", "en": "No open offers"},
    "take": {"zh": "接班", "en": "Take"},
    "withdraw": {"zh": "撤回", "en": "Withdraw"},
    "from": {"zh": "提出人", "en": "From"},
    "checked": {"zh": "检查数", "en": "Checked"},
    "mis_sorted": {"zh": "错投", "en": "Mis-sorted"},
    "re_sorted": {"zh": "二次分拣", "en": "Re-sorted"},
    "building": {"zh": "楼号", "en": "Building"},
    "notes": {"zh": "备注", "en": "Notes"},
    "photo": {"zh": "照片编号", "en": "Photo ref"},
    "save": {"zh": "保存", "en": "Save"},
    "back": {"zh": "返回", "en": "Back"},
    "calendar": {"zh": "订阅日历", "en": "Subscribe in calendar"},
    "roster": {"zh": "值班表", "en": "Roster"},
    "uncovered": {"zh": "缺人", "en": "Uncovered"},
    "accuracy": {"zh": "分类准确率", "en": "Sorting accuracy"},
    "inspected": {"zh": "检查投放数", "en": "drops inspected"},
    "suggest": {"zh": "建议增派志愿者", "en": "Needs more volunteers"},
    "saved": {"zh": "已保存", "en": "Saved"},
    "double_booked": {
        "zh": "{name}已有{held}在{held_room}的值班，与此班（{wanted}，{room}）时间重叠，"
        "不能同时接两个班。",
        "en": "{name} already holds the {held} watch in {held_room}, which overlaps this one"
        " ({wanted} in {room}): nobody can watch two rooms at once.",
    },
    "csrf": {
        "zh": "表单已过期或来自其他网站，未执行。请返回刷新后再试。",
        "en": "The form expired or came from another site, so nothing was done: "
        "go back, reload and try again.",
    },
    "login_expired": {
        "zh": "登录表单已过期或来自其他网站，请重新输入令牌。",
        "en": "The sign-in form expired or came from another site: enter the token again.",
    },
    "other_lang": {"zh": "English", "en": "中文"},
}

CSS = """
*{box-sizing:border-box}html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"PingFang SC",
"Microsoft YaHei",sans-serif;background:#f4f6f4;color:#1d2b1f;overflow-wrap:anywhere}
header{background:#2e7d32;color:#fff;padding:12px 16px;display:flex;flex-wrap:wrap;gap:8px;
justify-content:space-between;align-items:center}header a{color:#fff}
main{padding:12px;max-width:640px;margin:auto}
h1{font-size:1.15rem;margin:0}h2{font-size:1.05rem;margin:18px 0 8px}
.card{background:#fff;border-radius:12px;padding:12px;margin:8px 0;box-shadow:0 1px 3px #0002;
min-width:0}
.row{display:flex;gap:8px;flex-wrap:wrap;align-items:center}.muted{color:#667}
button,.btn{font:inherit;border:0;border-radius:10px;padding:12px 16px;min-height:48px;
background:#2e7d32;color:#fff;text-decoration:none;display:inline-block}
button.alt,.btn.alt{background:#e8efe8;color:#1d2b1f}.bad{color:#b71c1c;font-weight:600}
.msg{background:#fff8e1;border-radius:10px;padding:10px;margin:8px 0}
.msg.error{background:#fdecea;color:#7f1d1d}.msg ul{margin:6px 0 0;padding-left:1.2em}
input,textarea{font:inherit;font-size:16px;width:100%;max-width:100%;padding:10px;
border:1px solid #bbb;border-radius:8px}
input[type=number]{width:5.5em;max-width:100%}
input[aria-invalid=true],textarea[aria-invalid=true]{border:2px solid #b71c1c;
background:#fdecea}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;width:100%}
td,th{padding:6px;border-bottom:1px solid #ddd;text-align:left;font-size:.92rem}
table.counts td{padding:4px 3px}table.counts th{white-space:nowrap;padding:6px 4px}
table.counts input[type=number]{width:100%;min-width:3.2em;padding:10px 6px}
form{margin:0}label{display:block;margin:8px 0 4px}
"""


def t(lang: Lang, key: str) -> str:
    """The word for `key` in `lang`."""
    return WORDS[key][lang]


def when(lang: Lang, day: date, start: time, end: time) -> str:
    """A watch's local day and times, e.g. 4月6日 周一 18:00–20:00."""
    wd = WEEKDAYS[lang][day.weekday()]
    span = f"{start:%H:%M}–{end:%H:%M}"
    if lang == "zh":
        return f"{day.month}月{day.day}日 周{wd} {span}"
    return f"{wd} {day:%d %b} {span}"


def csrf_input(csrf: str) -> str:
    """The hidden CSRF field every form that POSTs carries (`dashboards.session`)."""
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">'


def page(
    lang: Lang,
    title: str,
    body: str,
    *,
    csrf: str | None = None,
    message: str | None = None,
) -> str:
    """A whole mobile page; with the session's `csrf` token it is a signed-in page (with
    a sign-out button)."""
    other = "en" if lang == "zh" else "zh"
    logout = (
        (
            f'<form method="post" action="/volunteer/logout">{csrf_input(csrf)}'
            f'<button class="alt" data-test="logout">{t(lang, "logout")}</button></form>'
        )
        if csrf is not None
        else ""
    )
    note = f'<div class="msg" role="status">{escape(message)}</div>' if message else ""
    return (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,'
        f'initial-scale=1"><title>{escape(title)}</title><style>{CSS}</style></head><body>'
        f'<header><h1>{escape(title)}</h1><div class="row">'
        f'<a href="?lang={other}">{t(lang, "other_lang")}</a>{logout}</div></header>'
        f"<main>{note}{body}</main></body></html>"
    )


def button(action: str, label: str, *, csrf: str, alt: bool = False, name: str = "") -> str:
    """A one-tap form button that POSTs to `action` with the session's CSRF token."""
    cls = ' class="alt"' if alt else ""
    test_id = f' data-test="{escape(name)}"' if name else ""
    return (
        f'<form method="post" action="{escape(action)}">{csrf_input(csrf)}'
        f"<button{cls}{test_id}>{escape(label)}</button></form>"
    )
