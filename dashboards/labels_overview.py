"""Labels of the overview's accuracy, definitions (口径) and freshness badge, the period's
notices and the committee's document links.

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module. The
definitions (`def.*`) say in a sentence what docs/definitions.md says of each figure:
change both together (tests/dashboards/test_definitions.py checks they name the same
figures).
"""

from __future__ import annotations

ZH: dict[str, str] = {
    # -- sorting accuracy -------------------------------------------------------------
    "figure.accuracy": "分类准确率",
    "acc.no_target": "未设目标",
    "acc.inspected": "抽查 {n} 件 · {m} 次检查",
    "acc.none": "本期无抽查记录。",
    "acc.details": "按厢房、类别、周查看",
    "acc.title": "分类准确率（抽查）",
    "table.accuracy_categories": "各类别分类准确率",
    "table.accuracy": "分类准确率（按厢房、类别、周）",
    "chart.accuracy": "每周分类准确率（按类别）",
    "acc.col.week": "周（周一起）",
    "acc.col.inspections": "检查次数",
    "acc.col.inspected": "抽查件数",
    "acc.col.passed": "分类正确",
    "acc.col.mis_sorted": "分类错误",
    "acc.col.re_sorted": "当场纠正",
    "acc.col.accuracy": "准确率",
    # -- definitions (口径) -------------------------------------------------------------
    "def.label": "口径",
    "def.hint.participation_rate": "口径：按整个期间计，非每日",
    "def.hint.participation": "口径：逐日计算，不同于期间参与率",
    "def.coverage": "覆盖率 = 统计期末日已入户（发卡或二维码）的户数 ÷ 小区总户数"
    "（居委会登记的户数）。",
    "def.participation_rate": "期间参与率 = 期末日已入户、且期间内至少有一次可识别投放的户数 "
    "÷ 期末日已入户户数。按整个期间计，与“每日参与率”图不同：多数家庭并非每天投放，"
    "每日参与率通常明显低于期间参与率，二者不可直接比较。",
    "def.daily_participation": "每日参与率 = 当天有可识别投放的已入户户数 ÷ 当天已入户户数，"
    "逐日计算。它不是上方的期间参与率；虚线是同一目标值，仅作参照。",
    "def.wet_share": "湿垃圾占比 = 期间内湿垃圾重量 ÷ 干垃圾、湿垃圾、可回收物、"
    "有害垃圾四类合计重量；"
    "建筑垃圾单列，不计入分母。",
    "def.in_window_share": "定时定点投放占比 = 投放时段内（含开始、不含结束时刻）的投放次数"
    " ÷ 全部投放次数。",
    "def.accuracy": "分类准确率 = 抽查中分类正确的件数 ÷ 抽查件数，来自志愿者值守时的抽查记录，"
    "按值守日期计；周从周一起算，期间首末两周可能不完整。",
    "def.kg": "各类重量 = 期间内该类别的投放重量，含未刷卡（匿名）投放。",
    "def.buildings": "各楼参与率 = 期末日属于该楼且已入户的户数中，"
    "期间内有可识别投放的户数所占比例。",
    "def.rejected": "被拒消息 = 未被存储的消息（格式错误、未知设备等），按收到日期计。",
    "def.change": "较上期 = 本期数值减去紧邻其前、天数相同的上一期数值，单位为百分点。",
    "def.stale": "投放时段或值守时段内连续 {n} 分钟没有收到任何设备数据时提示；"
    "其他时间没有数据属正常，不提示。",
    "definitions.title": "统计口径",
    "definitions.link": "全部口径说明",
    "definitions.intro": "本页说明看板上每个数字如何计算，与项目文档 docs/definitions.md 一致。"
    "日期均为小区所在时区的自然日，统计期间包含起止两天；同一事件重复上报只计一次。",
    "definitions.source": "英文原文：项目仓库中的 docs/definitions.md。",
    "definitions.badge": "数据未更新提示",
    # -- freshness --------------------------------------------------------------------
    "stale.minutes": "{estate}：数据已 {n} 分钟未更新（最新数据 {at}），"
    "正值投放时段，请检查设备与网络。",
    "stale.never": "{estate}：正值投放时段，尚未收到任何数据。",
    # -- the period's notices ---------------------------------------------------------
    "date.unreadable_from": "起始日期“{value}”无法识别，已使用截止日期前的{n}天。",
    "date.unreadable_to": "截止日期“{value}”无法识别，已使用今天。",
    "date.too_early_from": "起始日期 {value} 早于可查询的最早日期，已改为 {day}。",
    "date.too_early_to": "截止日期 {value} 早于可查询的最早日期，已改为 {day}。",
    "date.too_late_from": "起始日期 {value} 晚于可查询的最晚日期，已改为 {day}。",
    "date.too_late_to": "截止日期 {value} 晚于可查询的最晚日期，已改为 {day}。",
    "date.swapped": "起止日期颠倒，已交换：{start} 至 {end}。",
    "date.too_long": "统计期间最长 {n} 天，已截为自 {start} 起的最后 {n} 天。",
    # -- the committee's documents ----------------------------------------------------
    "docs.title": "居委会材料",
    "docs.poster": "公示海报（打印版）",
    "docs.poster_pdf": "公示海报 PDF",
    "docs.report": "{month} 月报（Excel）",
    "docs.district_report": "{month} 街道月报（Excel）",
    # -- long tables, folded (tables.to_html(fold_after=…)) ----------------------------
    "table.show_rows": "展开全部 {n} 行",
}

EN: dict[str, str] = {
    # -- sorting accuracy -------------------------------------------------------------
    "figure.accuracy": "Sorting accuracy",
    "acc.no_target": "no target set",
    "acc.inspected": "{n} drops inspected · {m} inspections",
    "acc.none": "No inspections recorded in this period.",
    "acc.details": "By room, category and week",
    "acc.title": "Sorting accuracy (inspections)",
    "table.accuracy_categories": "Sorting accuracy by category",
    "table.accuracy": "Sorting accuracy by room, category and week",
    "chart.accuracy": "Weekly sorting accuracy by category",
    "acc.col.week": "Week (from Monday)",
    "acc.col.inspections": "Inspections",
    "acc.col.inspected": "Drops inspected",
    "acc.col.passed": "Sorted correctly",
    "acc.col.mis_sorted": "Mis-sorted",
    "acc.col.re_sorted": "Re-sorted on the spot",
    "acc.col.accuracy": "Accuracy",
    # -- definitions (口径) -------------------------------------------------------------
    "def.label": "Definition",
    "def.hint.participation_rate": "Definition: the whole period, not per day",
    "def.hint.participation": "Definition: per day, not the period's rate",
    "def.coverage": "Coverage = households enrolled (given a card or QR token) on the "
    "period's last day ÷ the estate's total households (the committee's registry figure).",
    "def.participation_rate": "Period participation rate = households enrolled on the "
    "period's last day with at least one identified drop in the period ÷ households "
    "enrolled on that day. It counts the whole period, unlike the daily participation "
    "chart: most households do not drop every day, so the daily rate sits well below "
    "the period's; the two are not comparable.",
    "def.daily_participation": "Daily participation rate = enrolled households with an "
    "identified drop that day ÷ households enrolled that day, day by day. It is not the "
    "period's participation rate above; the dashed line is the same target, for "
    "reference only.",
    "def.wet_share": "Wet-waste share = weight of wet drops ÷ weight of drops in the four "
    "household categories (dry, wet, recyclable, hazardous) in the period; construction "
    "waste is reported beside it, not in the denominator.",
    "def.in_window_share": "In-window share = drops inside the drop-off windows (start "
    "included, end excluded) ÷ all drops.",
    "def.accuracy": "Sorting accuracy = inspected drops found correctly sorted ÷ inspected "
    "drops, from volunteers' inspections during their watches, counted on the watch's "
    "day; weeks start on Monday, so the period's first and last weeks may be partial.",
    "def.kg": "kg per category = the weight of drops of that category in the period, "
    "anonymous drops included.",
    "def.buildings": "Participation per building = of the households that belong to the "
    "building and are enrolled on the period's last day, the share with an identified "
    "drop in the period.",
    "def.rejected": "Rejected messages = messages that were not stored (malformed, unknown "
    "bin, …), counted on the day they were received.",
    "def.change": "Change = this period's figure minus the figure of the period of equal "
    "length just before it, in percentage points.",
    "def.stale": "Shown when no data at all has come in from the bins for {n} minutes "
    "during a drop-off window or a watched room's watch slot; at other times silence is "
    "normal and nothing is shown.",
    "definitions.title": "Definitions",
    "definitions.link": "All definitions",
    "definitions.intro": "How each figure on the dashboards is computed, as the project's "
    "docs/definitions.md defines it. Days are calendar days in the estate's time zone; a "
    "period includes both its first and last day; an event delivered twice counts once.",
    "definitions.source": "The full text: docs/definitions.md in the project's repository.",
    "definitions.badge": "The stale-data notice",
    # -- freshness --------------------------------------------------------------------
    "stale.minutes": "{estate}: no new data for {n} minutes (newest: {at}) during a "
    "drop-off window: check the bins and the network.",
    "stale.never": "{estate}: no data received yet, during a drop-off window.",
    # -- the period's notices ---------------------------------------------------------
    "date.unreadable_from": "The start date “{value}” could not be read; the {n} days up "
    "to the end date are shown.",
    "date.unreadable_to": "The end date “{value}” could not be read; today is used.",
    "date.too_early_from": "The start date {value} is before the first day served; {day} is used.",
    "date.too_early_to": "The end date {value} is before the first day served; {day} is used.",
    "date.too_late_from": "The start date {value} is after the last day served; {day} is used.",
    "date.too_late_to": "The end date {value} is after the last day served; {day} is used.",
    "date.swapped": "The start and end dates were reversed and have been swapped: {start} "
    "to {end}.",
    "date.too_long": "A period spans at most {n} days; it has been cut to the last {n} "
    "days, from {start}.",
    # -- the committee's documents ----------------------------------------------------
    "docs.title": "Committee documents",
    "docs.poster": "Disclosure poster (print view)",
    "docs.poster_pdf": "Disclosure poster (PDF)",
    "docs.report": "Monthly report {month} (Excel)",
    "docs.district_report": "District monthly report {month} (Excel)",
    # -- long tables, folded (tables.to_html(fold_after=…)) ----------------------------
    "table.show_rows": "Show all {n} rows",
}
