"""Labels of the fill forecast page (#16): 清运 before per room, full time per bin.

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module.
"""

from __future__ import annotations

ZH: dict[str, str] = {
    "forecast.title": "满箱预测",
    "forecast.intro": "按各桶近{days}天在两次清运之间的读数，估算一天中每个小时的装填速度，"
    "预测何时达到本小区的满溢报警阈值（{threshold}%）。时间为{zone}时间，只看未来{hours}小时。",
    "forecast.rooms": "清运时间表（物业）",
    "forecast.bins": "各桶预计满箱时间",
    "forecast.before": "{time}前清运",
    "forecast.full_now": "已满，请立即清运",
    "forecast.not_due": "{hours}小时内不会满",
    "forecast.first": "最先满的是{bin}（{category}）",
    "forecast.none": "本小区还没有桶。",
    "forecast.col.room": "厢房",
    "forecast.col.bin": "桶",
    "forecast.col.category": "类别",
    "forecast.col.fill": "当前装填",
    "forecast.col.rate": "当前速度（百分点/小时）",
    "forecast.col.full_at": "预计满箱",
    "forecast.col.basis": "依据（天）",
    "forecast.col.confidence": "可信度",
    "forecast.confidence.high": "高",
    "forecast.confidence.medium": "中",
    "forecast.confidence.low": "低",
    "forecast.confidence.none": "无数据",
    "forecast.nav": "满箱预测",
}

EN: dict[str, str] = {
    "forecast.title": "Fill forecast",
    "forecast.intro": "From each bin's readings between collections over the last {days} days, "
    "the fill rate of each hour of the day, and when the bin reaches the estate's fill alarm "
    "threshold ({threshold}%). Times are in {zone}; only the next {hours} hours are looked at.",
    "forecast.rooms": "Collection schedule (property company)",
    "forecast.bins": "When each bin is full",
    "forecast.before": "collect before {time}",
    "forecast.full_now": "full: collect now",
    "forecast.not_due": "not full within {hours} h",
    "forecast.first": "first full: {bin} ({category})",
    "forecast.none": "This estate has no bins yet.",
    "forecast.col.room": "Room",
    "forecast.col.bin": "Bin",
    "forecast.col.category": "Category",
    "forecast.col.fill": "Fill now",
    "forecast.col.rate": "Rate now (pp/h)",
    "forecast.col.full_at": "Expected full",
    "forecast.col.basis": "Basis (days)",
    "forecast.col.confidence": "Confidence",
    "forecast.confidence.high": "high",
    "forecast.confidence.medium": "medium",
    "forecast.confidence.low": "low",
    "forecast.confidence.none": "no data",
    "forecast.nav": "Fill forecast",
}
