"""Labels of the dashboards in zh-CN (the default) and English, and locale formatting.

Every key exists in both locales (a test checks it). Numbers keep `,` thousands
separators in both (Chinese statistical reports use them too); dates differ.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from dashboards import (
    labels_alarms,
    labels_forecast,
    labels_forms,
    labels_overview,
    labels_reports,
    labels_roster,
    labels_volunteers,
)

Locale = Literal["zh", "en"]
LOCALES: tuple[Locale, ...] = ("zh", "en")
DEFAULT_LOCALE: Locale = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

ZH: dict[str, str] = {
    "app": "分类 · 垃圾分类数据看板",
    "signin.title": "登录",
    "signin.token": "访问令牌",
    "signin.submit": "登录",
    "signin.help": "令牌由本小区居委会或街道管理员发放。还没有令牌或令牌不能使用的，请向他们索取。",
    "signin.bad": "令牌无效、已撤销或已过期。",
    "signin.expired": "登录表单已过期或来自其他网站，请重新输入令牌。",
    "signout": "退出",
    "nav.estates": "小区列表",
    "nav.overview": "小区概览",
    "nav.district": "街道汇总",
    "nav.disclosure": "公示栏",
    "nav.volunteers": "志愿者",
    "nav.roster": "值守排班",
    "lang.switch": "English",
    "period": "统计期间",
    "period.from": "起",
    "period.to": "止",
    "period.apply": "查询",
    "period.last7": "近7天",
    "period.last30": "近30天",
    "period.year": "今年",
    "period.previous": "上期",
    "estates.title": "可查看的小区",
    "overview.title": "小区概览",
    "figure.coverage": "覆盖率",
    "figure.participation_rate": "参与率",
    "figure.wet_share": "湿垃圾占比",
    "figure.in_window_share": "定时定点投放占比",
    "target": "目标",
    "target.met": "达标",
    "target.missed": "未达标",
    "change": "较上期",
    "pp": "个百分点",
    "no_data": "无数据",
    "no_data_yet": "暂无数据",
    "empty.period": "本期尚无投放记录。",
    "cat.dry": "干垃圾",
    "cat.wet": "湿垃圾",
    "cat.recyclable": "可回收物",
    "cat.hazardous": "有害垃圾",
    "cat.construction": "建筑垃圾",
    "chart.daily_kg": "每日投放量（按类别）",
    "chart.daily_participation": "每日参与率",
    "chart.wet_share": "湿垃圾占比趋势",
    "chart.in_window": "定时定点投放占比趋势",
    "chart.buildings": "各楼参与率",
    "chart.rejected": "数据质量：每日被拒消息（按原因）",
    "chart.district": "各小区参与率",
    "axis.day": "日期",
    "axis.kg": "公斤",
    "axis.share": "占比",
    "axis.messages": "条数",
    "table.daily": "每日明细",
    "table.buildings": "楼栋排名",
    "table.groups": "楼组排名",
    "table.bins": "设备现状",
    "table.rejected": "被拒消息",
    "table.estates": "各小区对比",
    "table.stars": "明星家庭",
    "table.codes": "各户公示编号",
    "col.day": "日期",
    "col.rank": "名次",
    "col.estate": "小区",
    "col.name": "名称",
    "col.building": "楼",
    "col.building_group": "楼组",
    "col.households_total": "总户数",
    "col.households_registered": "登记户数",
    "col.households_enrolled": "参与分类户数",
    "col.households_active": "投放户数",
    "col.participation_rate": "参与率",
    "col.coverage": "覆盖率",
    "col.wet_share": "湿垃圾占比",
    "col.in_window_share": "定时定点占比",
    "col.drops": "投放次数",
    "col.kg_total": "总量（公斤）",
    "col.kg_dry": "干垃圾（公斤）",
    "col.kg_wet": "湿垃圾（公斤）",
    "col.kg_recyclable": "可回收物（公斤）",
    "col.kg_hazardous": "有害垃圾（公斤）",
    "col.kg_construction": "建筑垃圾（公斤）",
    "col.room": "垃圾厢房",
    "col.bin": "设备",
    "col.category": "类别",
    "col.fill_pct": "满溢度",
    "col.online": "在线",
    "col.last_seen": "最后上报",
    "col.battery_pct": "电量",
    "col.last_alarm": "最近告警",
    "col.last_alarm_at": "告警时间",
    "col.reason": "原因",
    "col.count": "条数",
    "col.household": "家庭（公示名称或编号）",
    "col.household_id": "户号",
    "col.display_name": "公示名称",
    "col.public_code": "公示编号",
    "col.publish_consent": "公示同意",
    "col.active_days": "投放天数",
    "yes": "是",
    "no": "否",
    "export.csv": "导出 CSV",
    "export.xlsx": "导出 Excel",
    "district.title": "街道汇总",
    "district.total": "合计",
    "disclosure.title": "垃圾分类公示栏",
    "disclosure.intro": "以下为本期各楼组垃圾分类参与情况。家庭以本期公示编号显示，"
    "经本户同意的显示其公示名称。",
    "disclosure.code_hint": "公示编号每期不同，与户号、门牌无关：本期编号见居委会发放的"
    "本期编号通知单；没有收到的，请向居委会询问。",
    "disclosure.codes": "导出本期各户公示编号（印制本期编号通知单用，仅限管理员，勿张贴）：",
    "disclosure.hidden": "本期参与户数少于 {n} 户的楼组不予公示（本期 {m} 个）。",
    "disclosure.short_period": "本期不足 {n} 天：为保护住户隐私，只公示各楼组汇总，"
    "不公示明星家庭。",
    "public.link": "公开链接（只读，持有链接者无需登录即可查看已结束各月的公示栏）：",
    "public.none": "未开启。",
    "public.since": "已开启，生成于 {when}。",
    "public.make": "生成公开链接",
    "public.replace": "换新链接（旧链接立即失效）",
    "public.revoke": "停用公开链接",
    "public.link_title": "公示栏公开链接",
    "public.made": "新的公开链接如下，请现在复制保存：系统只保存其摘要，之后无法再次显示。"
    "此前的链接已失效。",
    "public.back": "返回公示栏",
    "public.qr": "公示栏链接的二维码",
    "public.poster": "打印带此二维码的公示海报",
    "public.poster_pdf": "下载带此二维码的海报 PDF",
    "public.not_found": "链接无效或已停用。",
    "public.bad_month": "月份应为最近 {n} 个月内已结束的月份，格式为 YYYY-MM。",
    "public.previous": "上个月",
    "public.next": "下个月",
    "disclosure.print": "打印",
    "disclosure.none": "（未分楼组）",
    "error.forbidden": "您的令牌无权查看该小区。",
    "error.admin_only": "仅本小区的管理员可以使用此功能。",
    "error.not_found": "没有这个小区。",
    "error.title": "无法显示",
    "error.csrf": "表单已过期或来自其他网站，未执行。请返回、刷新页面后再试。",
    "rejected.none": "本期无被拒消息。",
    "updated": "生成时间",
}

EN: dict[str, str] = {
    "app": "fenlei · garbage sorting dashboards",
    "signin.title": "Sign in",
    "signin.token": "Access token",
    "signin.submit": "Sign in",
    "signin.help": "Tokens are handed out by your estate's neighbourhood committee or the "
    "subdistrict's administrator: ask them for one if you have none or yours stopped working.",
    "signin.bad": "The token is unknown, revoked or expired.",
    "signin.expired": "The sign-in form expired or came from another site: enter the token again.",
    "signout": "Sign out",
    "nav.estates": "Estates",
    "nav.overview": "Estate overview",
    "nav.district": "District",
    "nav.disclosure": "Disclosure board",
    "nav.volunteers": "Volunteers",
    "nav.roster": "Watch roster",
    "lang.switch": "中文",
    "period": "Period",
    "period.from": "From",
    "period.to": "To",
    "period.apply": "Apply",
    "period.last7": "Last 7 days",
    "period.last30": "Last 30 days",
    "period.year": "This year",
    "period.previous": "Previous period",
    "estates.title": "Estates you can see",
    "overview.title": "Estate overview",
    "figure.coverage": "Coverage",
    "figure.participation_rate": "Participation rate",
    "figure.wet_share": "Wet-waste share",
    "figure.in_window_share": "Drops inside drop-off windows",
    "target": "Target",
    "target.met": "met",
    "target.missed": "missed",
    "change": "vs previous period",
    "pp": "pp",
    "no_data": "no data",
    "no_data_yet": "no data yet",
    "empty.period": "No drops have been recorded for this period yet.",
    "cat.dry": "Dry",
    "cat.wet": "Wet",
    "cat.recyclable": "Recyclable",
    "cat.hazardous": "Hazardous",
    "cat.construction": "Construction",
    "chart.daily_kg": "Daily weight by category",
    "chart.daily_participation": "Daily participation",
    "chart.wet_share": "Wet-waste share trend",
    "chart.in_window": "Share of drops inside the windows",
    "chart.buildings": "Participation by building",
    "chart.rejected": "Data quality: rejected messages per day by reason",
    "chart.district": "Participation by estate",
    "axis.day": "Day",
    "axis.kg": "kg",
    "axis.share": "Share",
    "axis.messages": "Messages",
    "table.daily": "Days",
    "table.buildings": "Buildings ranked",
    "table.groups": "Building groups ranked",
    "table.bins": "Bins now",
    "table.rejected": "Rejected messages",
    "table.estates": "Estates side by side",
    "table.stars": "Star families",
    "table.codes": "Household codes",
    "col.day": "Day",
    "col.rank": "Rank",
    "col.estate": "Estate",
    "col.name": "Name",
    "col.building": "Building",
    "col.building_group": "Building group",
    "col.households_total": "Households",
    "col.households_registered": "Registered",
    "col.households_enrolled": "Enrolled",
    "col.households_active": "Active",
    "col.participation_rate": "Participation",
    "col.coverage": "Coverage",
    "col.wet_share": "Wet share",
    "col.in_window_share": "In-window share",
    "col.drops": "Drops",
    "col.kg_total": "Total (kg)",
    "col.kg_dry": "Dry (kg)",
    "col.kg_wet": "Wet (kg)",
    "col.kg_recyclable": "Recyclable (kg)",
    "col.kg_hazardous": "Hazardous (kg)",
    "col.kg_construction": "Construction (kg)",
    "col.room": "Refuse room",
    "col.bin": "Bin",
    "col.category": "Category",
    "col.fill_pct": "Fill",
    "col.online": "Online",
    "col.last_seen": "Last seen",
    "col.battery_pct": "Battery",
    "col.last_alarm": "Last alarm",
    "col.last_alarm_at": "Alarm at",
    "col.reason": "Reason",
    "col.count": "Count",
    "col.household": "Household (name or code)",
    "col.household_id": "Household id",
    "col.display_name": "Display name",
    "col.public_code": "Public code",
    "col.publish_consent": "Consent to publish",
    "col.active_days": "Days with a drop",
    "yes": "yes",
    "no": "no",
    "export.csv": "CSV",
    "export.xlsx": "Excel",
    "district.title": "District",
    "district.total": "Total",
    "disclosure.title": "Garbage sorting disclosure board",
    "disclosure.intro": "How each building group took part in sorting this period. "
    "Households are shown by this period's public code, or by their name where they agreed "
    "to it.",
    "disclosure.code_hint": "Public codes (公示编号) change every period and have nothing to "
    "do with your card or flat number: this period's code is on the notice slip your "
    "neighbourhood committee hands out. If you have none, please ask the committee.",
    "disclosure.codes": "Export every household's public code for this period (for the notice "
    "slips; administrators only, do not post):",
    "disclosure.hidden": "Building groups where fewer than {n} households took part are not "
    "shown ({m} this period).",
    "disclosure.short_period": "This period is shorter than {n} days: to protect households' "
    "privacy, only the building groups' totals are shown, no star families.",
    "public.link": "Public link (read-only: anyone holding it sees the boards of months that "
    "have ended, without signing in):",
    "public.none": "none.",
    "public.since": "on, made {when}.",
    "public.make": "Make a public link",
    "public.replace": "Replace the link (the old one stops working at once)",
    "public.revoke": "Turn the public link off",
    "public.link_title": "Public link of the board",
    "public.made": "Here is the new public link. Copy it now: fenlei keeps only a hash of it "
    "and cannot show it again. Any earlier link has stopped working.",
    "public.back": "Back to the board",
    "public.qr": "QR code of the board's public link",
    "public.poster": "Print the poster with this QR code",
    "public.poster_pdf": "Download the poster PDF with this QR code",
    "public.not_found": "This link is not valid, or has been turned off.",
    "public.bad_month": "The month must be one that has ended, within the last {n} months, "
    "written YYYY-MM.",
    "public.previous": "Previous month",
    "public.next": "Next month",
    "disclosure.print": "Print",
    "disclosure.none": "(no group)",
    "error.forbidden": "Your token may not see this estate.",
    "error.admin_only": "Only an administrator of this estate may do this.",
    "error.not_found": "There is no such estate.",
    "error.title": "Cannot show this page",
    "error.csrf": "The form expired or came from another site, so nothing was done: "
    "go back, reload the page and try again.",
    "rejected.none": "No rejected messages in this period.",
    "updated": "Generated",
}


def _merge(base: dict[str, str], *parts: dict[str, str]) -> None:
    """Each page's labels module adds its own keys; a key defined twice is a mistake."""
    for part in parts:
        twice = base.keys() & part.keys()
        if twice:
            raise RuntimeError(f"labels defined twice: {sorted(twice)}")
        base.update(part)


_LABELS = (
    labels_volunteers,
    labels_roster,
    labels_overview,
    labels_forms,
    labels_reports,
    labels_alarms,
    labels_forecast,
)
_merge(ZH, *(m.ZH for m in _LABELS))
_merge(EN, *(m.EN for m in _LABELS))

CATALOGUES: dict[Locale, dict[str, str]] = {"zh": ZH, "en": EN}
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_locale(value: str | None) -> Locale:
    """A supported locale from a cookie or query value; zh-CN when unknown."""
    return "en" if value and value.lower().startswith("en") else DEFAULT_LOCALE


def t(locale: Locale, key: str, **values: object) -> str:
    """The label `key` in `locale` (KeyError on a missing key: tests catch it)."""
    text = CATALOGUES[locale][key]
    return text.format(**values) if values else text


def code(locale: Locale, kind: str, value: str | None) -> str:
    """A stored code (an alarm `overflow`, a rejection reason `bad_json`, …) as a word:
    the label `<kind>.<value>`; a code without a label (a newer device's) as it is."""
    if value is None:
        return "–"
    return CATALOGUES[locale].get(f"{kind}.{value}", value)


def number(value: float | int | None, digits: int = 0) -> str:
    """1234.5 → '1,235' (digits=0) or '1,234.50'; None → '–'."""
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def percent(value: float | None, digits: int = 2) -> str:
    """0.9426 → '94.26%'; None → '–'."""
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def points(locale: Locale, delta: float | None) -> str:
    """A change of a ratio in percentage points, signed: '+1.20 个百分点' / '+1.20 pp'."""
    if delta is None:
        return "–"
    return f"{delta * 100:+.2f} {t(locale, 'pp')}"


def day(locale: Locale, value: date) -> str:
    """2026-03-23 → '2026年3月23日' / '23 Mar 2026'."""
    if locale == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"


def moment(locale: Locale, value: datetime | None) -> str:
    """A timestamp (already in the estate's zone) with minutes; None → '–'."""
    if value is None:
        return "–"
    return f"{day(locale, value.date())} {value:%H:%M}"
