"""Words of the notifications, zh-CN first and English, with the same placeholders.

The committees and volunteers read Chinese; English is for operators elsewhere. The
estate's messages are in zh-CN (`LANGUAGE`); tests/notify/test_labels.py checks that
both languages have every key with the same placeholders.
"""

from __future__ import annotations

LANGUAGE = "zh-CN"

LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "kind.overflow": "满溢",
        "kind.odour": "异味",
        "kind.temperature": "温度异常",
        "kind.tilt": "倾倒",
        "kind.sensor_fault": "传感器故障",
        "kind.fill_high": "将满",
        "kind.battery_low": "电量低",
        "kind.offline": "离线",
        "kind.silent_room": "投放点无投放",
        "kind.stuck_sensor": "称重异常",
        "step.open": "【告警】",
        "step.escalate": "【升级告警·无人确认】",
        "step.remind": "【提醒·仍未处理】",
        "step.resolved": "【已恢复】",
        "step.test": "【测试消息】",
        "title": "{step}{estate} {where} {what}",
        "where.bin": "{room} {bin}号桶",
        "line.alarm": "{where}：{kind}，首次 {first_seen}，重复 {repeats} 次。",
        "line.duty": "值班志愿者：{people}",
        "line.no_duty": "当前无人值班。",
        "line.property": "物业：{name} {phone}",
        "line.ack": "请到现场处理，并在值班页面点“确认”。",
        "line.escalate": "已 {minutes} 分钟无人确认，请居委会/业委会跟进。",
        "line.resolved": "{kind} 已于 {at} 恢复（{by}）。",
        "line.test": "这是一条来自 fenlei 的测试消息，渠道“{channel}”配置正确。",
    },
    "en": {
        "kind.overflow": "Overflow",
        "kind.odour": "Odour",
        "kind.temperature": "Temperature",
        "kind.tilt": "Tilted",
        "kind.sensor_fault": "Sensor fault",
        "kind.fill_high": "Nearly full",
        "kind.battery_low": "Battery low",
        "kind.offline": "Offline",
        "kind.silent_room": "No drops at the room",
        "kind.stuck_sensor": "Weighing fault",
        "step.open": "[Alarm] ",
        "step.escalate": "[Escalated, not acknowledged] ",
        "step.remind": "[Reminder, still open] ",
        "step.resolved": "[Resolved] ",
        "step.test": "[Test] ",
        "title": "{step}{estate} {where} {what}",
        "where.bin": "{room} bin {bin}",
        "line.alarm": "{where}: {kind}, first at {first_seen}, repeated {repeats} times.",
        "line.duty": "Volunteers on duty: {people}",
        "line.no_duty": "Nobody is on duty now.",
        "line.property": "Property company: {name} {phone}",
        "line.ack": "Please go to the room and press Acknowledge on the duty page.",
        "line.escalate": "Not acknowledged for {minutes} minutes: the committee, please follow up.",
        "line.resolved": "{kind} resolved at {at} ({by}).",
        "line.test": "A test message from fenlei: channel “{channel}” works.",
    },
}


def label(key: str, language: str = LANGUAGE, **values: object) -> str:
    """The label `key` in `language`, its placeholders filled."""
    return LABELS[language][key].format(**values)
