"""Labels of the committee's volunteer screens (list, edit, import, sign-in links) and of
the page a volunteer's one-time sign-in link opens.

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module.
"""

from __future__ import annotations

ZH: dict[str, str] = {
    "vol.title": "志愿者管理",
    "vol.add": "新增志愿者",
    "vol.import": "从 Excel 导入",
    "vol.edit": "编辑志愿者",
    "vol.none": "尚无志愿者。",
    "vol.col.name": "姓名",
    "vol.col.contact": "联系电话",
    "vol.col.building": "楼组/楼号",
    "vol.col.kind": "类型",
    "vol.col.availability": "每周可值班时间",
    "vol.col.active": "状态",
    "vol.col.actions": "操作",
    "vol.active": "在岗",
    "vol.inactive": "已停用",
    "vol.any_time": "任何时间",
    "vol.kind.resident": "居民志愿者",
    "vol.kind.party_member": "党员志愿者",
    "vol.kind.group_leader": "楼组长",
    "vol.kind.child_leader": "小小志愿者领队",
    "vol.deactivate": "停用",
    "vol.reactivate": "恢复",
    "vol.save": "保存",
    "vol.back": "返回志愿者列表",
    "vol.availability.help": (
        "格式：周一至周五 17:30-20:30; 周六、周日 06:30-20:30（留空表示任何时间）"
    ),
    "vol.form.errors": "请更正以下内容：",
    "vol.done.added": "已新增志愿者。",
    "vol.done.saved": "已保存。",
    "vol.done.deactivated": "已停用该志愿者。",
    "vol.done.reactivated": "已恢复该志愿者。",
    "vol.done.imported": "已导入 {count} 名志愿者。",
    "vol.err.required": "{field}：必填",
    "vol.err.too_long": "{field}：最多 {max} 个字符",
    "vol.err.kind": "{field}：类型无效（居民志愿者、党员志愿者、楼组长、小小志愿者领队）",
    "vol.err.invalid": "{field}：内容无效",
    "vol.err.availability.window": "{field}：无法识别“{text}”，请写成“周一至周五 17:30-20:30”",
    "vol.err.availability.day": "{field}：无法识别星期“{word}”",
    "vol.err.availability.time": "{field}：时间“{time}”无效",
    "vol.err.missing_column": "{field}：缺少此列",
    "vol.err.duplicate": "{field}：与第 {line} 行重复",
    "vol.err.exists": "{field}：该志愿者已登记",
    "vol.err.empty": "表格中没有志愿者",
    "vol.import.title": "导入志愿者",
    "vol.import.help": (
        "上传 Excel（.xlsx）或 CSV（UTF-8）文件，第一行为表头：姓名、电话、楼组/楼号、"
        "每周可值班时间，可选“类型”。只要有一行有误，就全部不导入。"
    ),
    "vol.import.format": (
        "每周可值班时间：多个时段用分号分隔，每段先写星期再写时间，例如"
        "“周一至周五 17:30-20:30; 周六、周日 06:30-20:30”。星期可写周一…周日、星期一…、"
        "每天、工作日、周末，也可写英文 Mon-Fri；结束时间早于开始时间表示跨过午夜；"
        "留空表示任何时间。"
    ),
    "vol.import.file": "文件",
    "vol.import.submit": "导入",
    "vol.import.refused": "未导入任何志愿者：请更正以下 {count} 处问题后重新上传。",
    "vol.import.col.line": "行号",
    "vol.import.col.column": "列",
    "vol.import.col.reason": "原因",
    "vol.import.too_large": "文件过大：最多 {rows} 名志愿者、{mb} MB（{detail}）",
    "vol.import.unreadable": "无法读取文件：{detail}",
    "vol.import.no_file": "请选择要上传的文件。",
    "vol.import.type": "仅支持 .xlsx 或 .csv 文件。",
    "vol.link.issue": "登录二维码",
    "vol.link.title": "{name} 的登录二维码",
    "vol.link.help": (
        "请用志愿者的手机扫描二维码或打开下面的链接，确认后即可登录志愿者页面。"
        "此链接只能使用一次，{expires} 前有效；重新生成会使之前未使用的链接失效。"
    ),
    "vol.link.print": "打印",
    "vol.link.qr_alt": "登录二维码",
    "vol.link.inactive": "该志愿者已停用，请先恢复后再生成登录二维码。",
    "vol.landing.title": "志愿者登录",
    "vol.landing.confirm": "以 {name} 的身份登录？",
    "vol.landing.help": "确认后，本手机将登录志愿者页面，此链接随即失效。",
    "vol.landing.button": "确认登录",
    "vol.landing.unknown": "此登录链接无效，请向居委会索取新的链接。",
    "vol.landing.used": "此登录链接已被使用过，每个链接只能使用一次。请向居委会索取新的链接。",
    "vol.landing.expired": "此登录链接已过期，请向居委会索取新的链接。",
    "vol.landing.superseded": "此登录链接已被新的链接取代，请使用最新的链接。",
    "vol.landing.unusable": "此登录链接已不能使用（志愿者已停用或令牌已撤销），请联系居委会。",
    "vol.landing.csrf": "确认页面已过期或来自其他网站，请重新打开登录链接。",
    "vol.landing.home": "进入志愿者页面",
}

EN: dict[str, str] = {
    "vol.title": "Volunteers",
    "vol.add": "Add a volunteer",
    "vol.import": "Import from Excel",
    "vol.edit": "Edit volunteer",
    "vol.none": "No volunteers yet.",
    "vol.col.name": "Name",
    "vol.col.contact": "Phone",
    "vol.col.building": "Building",
    "vol.col.kind": "Kind",
    "vol.col.availability": "Weekly availability",
    "vol.col.active": "Status",
    "vol.col.actions": "Actions",
    "vol.active": "Active",
    "vol.inactive": "Inactive",
    "vol.any_time": "Any time",
    "vol.kind.resident": "Resident",
    "vol.kind.party_member": "Party member",
    "vol.kind.group_leader": "Group leader",
    "vol.kind.child_leader": "Children's leader",
    "vol.deactivate": "Deactivate",
    "vol.reactivate": "Reactivate",
    "vol.save": "Save",
    "vol.back": "Back to the volunteers",
    "vol.availability.help": "Format: Mon-Fri 17:30-20:30; Sat, Sun 06:30-20:30 (empty: any time)",
    "vol.form.errors": "Please correct the following:",
    "vol.done.added": "Volunteer added.",
    "vol.done.saved": "Saved.",
    "vol.done.deactivated": "Volunteer deactivated.",
    "vol.done.reactivated": "Volunteer reactivated.",
    "vol.done.imported": "Imported {count} volunteers.",
    "vol.err.required": "{field}: required",
    "vol.err.too_long": "{field}: at most {max} characters",
    "vol.err.kind": (
        "{field}: unknown kind (resident, party member, group leader, children's leader)"
    ),
    "vol.err.invalid": "{field}: not a valid value",
    "vol.err.availability.window": (
        '{field}: cannot read "{text}"; write e.g. "Mon-Fri 17:30-20:30"'
    ),
    "vol.err.availability.day": '{field}: unknown day "{word}"',
    "vol.err.availability.time": '{field}: "{time}" is not a time of day',
    "vol.err.missing_column": "{field}: this column is missing",
    "vol.err.duplicate": "{field}: repeats line {line}",
    "vol.err.exists": "{field}: this volunteer is already registered",
    "vol.err.empty": "The sheet has no volunteers",
    "vol.import.title": "Import volunteers",
    "vol.import.help": (
        "Upload an Excel (.xlsx) or CSV (UTF-8) file whose first row is the header: name, "
        "phone, building, weekly availability, and optionally kind. If any row is wrong, "
        "nothing is imported."
    ),
    "vol.import.format": (
        "Weekly availability: spans separated by semicolons, each the days and then the times, "
        'e.g. "Mon-Fri 17:30-20:30; Sat, Sun 06:30-20:30" (or in Chinese, '
        '"周一至周五 17:30-20:30"). Days: Mon…Sun, ranges, every day, weekdays, weekends; '
        "an end before the start runs past midnight; empty means any time."
    ),
    "vol.import.file": "File",
    "vol.import.submit": "Import",
    "vol.import.refused": "Nothing was imported: correct these {count} problems and upload again.",
    "vol.import.col.line": "Row",
    "vol.import.col.column": "Column",
    "vol.import.col.reason": "Reason",
    "vol.import.too_large": "The file is too large: at most {rows} volunteers, {mb} MB ({detail})",
    "vol.import.unreadable": "The file cannot be read: {detail}",
    "vol.import.no_file": "Choose a file to upload.",
    "vol.import.type": "Only .xlsx or .csv files can be imported.",
    "vol.link.issue": "Sign-in link",
    "vol.link.title": "Sign-in link for {name}",
    "vol.link.help": (
        "Scan the QR code with the volunteer's phone, or open the link below on it, and "
        "confirm: the phone is signed in to the volunteer pages. The link works once, until "
        "{expires}; issuing a new one ends earlier unused ones."
    ),
    "vol.link.print": "Print",
    "vol.link.qr_alt": "Sign-in QR code",
    "vol.link.inactive": "This volunteer is inactive: reactivate them before issuing a link.",
    "vol.landing.title": "Volunteer sign-in",
    "vol.landing.confirm": "Sign in as {name}?",
    "vol.landing.help": "This phone will be signed in to the volunteer pages and the link used up.",
    "vol.landing.button": "Sign in",
    "vol.landing.unknown": "This sign-in link is not valid: ask the committee for a new one.",
    "vol.landing.used": (
        "This sign-in link has already been used; each link works once. "
        "Ask the committee for a new one."
    ),
    "vol.landing.expired": "This sign-in link has expired: ask the committee for a new one.",
    "vol.landing.superseded": "This sign-in link was replaced by a newer one: use the latest link.",
    "vol.landing.unusable": (
        "This sign-in link can no longer be used (the volunteer is inactive or their token "
        "was revoked): contact the committee."
    ),
    "vol.landing.csrf": "The confirm page expired or came from another site: open the link again.",
    "vol.landing.home": "Go to the volunteer pages",
}
