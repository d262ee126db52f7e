"""Labels of the alarm banner (`dashboards.alarm_banner`): alarm kinds as words, the
buttons, and what an acknowledge or resolve did.

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module.
`alarms.kind.<kind>` covers every kind of the `alarms` table (migration 0021).
"""

from __future__ import annotations

ZH: dict[str, str] = {
    "alarms.title": "告警",
    "col.open_alarms": "未处理告警",
    "alarms.count": "{n} 条未处理告警",
    "alarms.kind.overflow": "满溢",
    "alarms.kind.odour": "异味",
    "alarms.kind.temperature": "温度异常",
    "alarms.kind.tilt": "倾倒",
    "alarms.kind.sensor_fault": "传感器故障",
    "alarms.kind.fill_high": "将满",
    "alarms.kind.battery_low": "电量低",
    "alarms.kind.offline": "离线",
    "alarms.kind.silent_room": "投放点无投放",
    "alarms.kind.stuck_sensor": "称重异常",
    "alarms.where.bin": "{room} 投放点 · {bin} 号桶",
    "alarms.where.room": "{room} 投放点",
    "alarms.since": "自 {time} 起",
    "alarms.repeats": "重复 {n} 次",
    "alarms.acknowledged_by": "{who} 已确认",
    "alarms.acknowledge": "确认",
    "alarms.resolve": "已处理",
    "alarms.done.acknowledged": "告警已确认。",
    "alarms.done.resolved": "告警已处理。",
    "alarms.err.not_open": "该告警已被确认或已处理。",
    "alarms.err.resolved": "该告警已经处理过了。",
    "alarms.err.not_on_duty": "只有此刻在该投放点值班的志愿者或居委会可以确认。",
    "alarms.err.not_found": "找不到该告警。",
}

EN: dict[str, str] = {
    "alarms.title": "Alarms",
    "col.open_alarms": "Open alarms",
    "alarms.count": "{n} unresolved alarms",
    "alarms.kind.overflow": "Overflow",
    "alarms.kind.odour": "Odour",
    "alarms.kind.temperature": "Temperature",
    "alarms.kind.tilt": "Tilted",
    "alarms.kind.sensor_fault": "Sensor fault",
    "alarms.kind.fill_high": "Nearly full",
    "alarms.kind.battery_low": "Battery low",
    "alarms.kind.offline": "Offline",
    "alarms.kind.silent_room": "No drops at the room",
    "alarms.kind.stuck_sensor": "Weighing fault",
    "alarms.where.bin": "room {room} · bin {bin}",
    "alarms.where.room": "room {room}",
    "alarms.since": "since {time}",
    "alarms.repeats": "repeated {n} times",
    "alarms.acknowledged_by": "acknowledged by {who}",
    "alarms.acknowledge": "Acknowledge",
    "alarms.resolve": "Resolved",
    "alarms.done.acknowledged": "Alarm acknowledged.",
    "alarms.done.resolved": "Alarm resolved.",
    "alarms.err.not_open": "This alarm was already acknowledged or resolved.",
    "alarms.err.resolved": "This alarm is already resolved.",
    "alarms.err.not_on_duty": (
        "Only the volunteer on duty at this room now, or the committee, can acknowledge it."
    ),
    "alarms.err.not_found": "No such alarm.",
}
