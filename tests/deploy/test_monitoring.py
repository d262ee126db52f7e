"""The operators' monitoring files (deploy/monitoring/): alert rules, dashboard, scrape config.

Checked three ways: their structure (always); Prometheus' own `promtool` (syntax, and
the rules' behaviour on synthetic series, with hand-written expectations) where it is on
the PATH (`deploy/local/install-system.sh --with-promtool`, part of `make test`); and a
real ingester's /metrics, which must serve every metric the rules and the dashboard name.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest import metrics
from ingest.estates import counted_estates, keep_series
from ingest.writer import BatchResult, record

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "grafana-ingest.json"
PROMETHEUS = MONITORING / "prometheus.yaml"

# The alerts issue #16 asks for, and the ones added beside them.
REQUIRED_ALERTS = {
    "FenleiIngesterDown",
    "FenleiIngestLagHigh",
    "FenleiRejectionRateHigh",
    "FenleiDatabaseUnavailable",
    "FenleiEstateSilent",
    "FenleiBrokerDisconnected",
}
SEVERITIES = {"critical", "warning", "info"}
# Metrics not served by the ingester: Prometheus' own `up`, and the blackbox exporter's
# probe of the API's /readyz (prometheus.yaml, job fenlei-api-readyz).
EXTERNAL_METRICS = {"up", "probe_success"}

PROMQL_FUNCTIONS = {
    "abs", "absent", "avg", "ceil", "clamp_min", "count", "floor", "histogram_quantile",
    "hour", "increase", "irate", "label_values", "max", "min", "minute", "rate", "round",
    "sort", "sort_desc", "sum", "time", "topk", "vector",
}  # fmt: skip
PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset",
}  # fmt: skip


# -- PromQL, read just enough ---------------------------------------------------------


GROUPING = r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)"


def _outside_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (not functions, keywords or labels)."""
    text = re.sub(r"\{[^{}]*\}", " ", _outside_strings(expr))  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # ranges
    text = re.sub(GROUPING, " ", text)  # label lists: by (le), on (), group_left (x)…
    names = set()
    for m in re.finditer(r"(?<![\w$.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", text):
        name, call = m.group(1), m.group(2)
        if call or name in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def functions_called(expr: str) -> set[str]:
    text = re.sub(GROUPING, " ", _outside_strings(expr))
    return {
        m.group(1)
        for m in re.finditer(r"(?<![\w$.])([A-Za-z_][A-Za-z0-9_]*)\s*\(", text)
        if m.group(1) not in PROMQL_KEYWORDS
    }


def check_promql_sanity(expr: str, what: str) -> None:
    """Balanced brackets, known functions, no dangling operator: a parser's first checks."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in _outside_strings(expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            assert stack and stack.pop() == pairs[ch], f"{what}: unbalanced {ch!r} in {expr}"
    assert not stack, f"{what}: unclosed {stack} in {expr}"
    unknown = functions_called(expr) - PROMQL_FUNCTIONS
    assert not unknown, f"{what}: unknown functions {unknown} in {expr}"
    stripped = expr.strip()
    assert not re.search(r"(and|or|unless|[-+*/%<>=])$", stripped), f"{what}: dangling {expr}"
    assert not re.match(r"^(and|or|unless|[*/%<>=])", stripped), f"{what}: leading {expr}"


def registry_names() -> set[str]:
    """Every sample name the ingester's registry can expose, from its declared families."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in metrics.REGISTRY.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


# -- the files ------------------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expr) of every panel target, rows' nested panels included."""
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []
    for panel in dash["panels"]:
        for p in [panel, *panel.get("panels", [])]:
            for target in p.get("targets", []):
                out.append((p["title"], target["expr"]))
    return out


def test_every_rule_has_name_expr_for_severity_and_text() -> None:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert set(doc) == {"groups"}
    for group in doc["groups"]:
        assert group["name"] and group["rules"], group
    found = rules()
    names = [r["alert"] for r in found]
    assert len(names) == len(set(names)), names
    assert set(names) >= REQUIRED_ALERTS, REQUIRED_ALERTS - set(names)
    for rule in found:
        what = rule.get("alert", rule)
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, what
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), what
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])), (what, rule["for"])
        assert rule["labels"]["severity"] in SEVERITIES, what
        assert rule["annotations"]["summary"].strip(), what
        assert len(rule["annotations"]["description"]) > 40, what
        check_promql_sanity(rule["expr"], str(what))


def test_outages_page_at_once_and_blips_do_not() -> None:
    by_name = {r["alert"]: r for r in rules()}
    for name in ("FenleiIngesterDown", "FenleiDatabaseUnavailable", "FenleiBrokerDisconnected"):
        assert by_name[name]["labels"]["severity"] == "critical", name
        # Long enough to ride out a restart or a reconnect, short enough to matter.
        assert by_name[name]["for"] in ("1m", "2m", "3m", "5m"), name


def test_every_metric_in_the_rules_is_the_ingesters_or_external() -> None:
    served = registry_names()
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= served | EXTERNAL_METRICS, (rule["alert"], names - served)


def test_metric_name_reader_finds_names_and_only_names() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{job="x", le=~"y"}[5m]))) > 5 '
        "and on () (time() - min(b_seconds)) > 1200 or sum without (reason) (c_total)"
    )
    assert metric_names(expr) == {"a_bucket", "b_seconds", "c_total"}
    assert functions_called(expr) == {"histogram_quantile", "sum", "rate", "time", "min"}
    with pytest.raises(AssertionError, match="unclosed"):
        check_promql_sanity("sum(rate(x[5m])", "t")
    with pytest.raises(AssertionError, match="unbalanced"):
        check_promql_sanity("sum(rate(x[5m)])", "t")
    with pytest.raises(AssertionError, match="unknown functions"):
        check_promql_sanity("ratez(x[5m])", "t")
    with pytest.raises(AssertionError, match="dangling"):
        check_promql_sanity("x > 1 and", "t")


def test_dashboard_loads_and_every_target_names_served_metrics() -> None:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dash["uid"] == "fenlei-ingest" and dash["title"]
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "instance"} <= variables
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    served = registry_names()
    used: set[str] = set()
    for title, expr in exprs:
        check_promql_sanity(expr, title)
        names = metric_names(expr)
        assert names, (title, expr)
        assert names <= served | EXTERNAL_METRICS, (title, names - served)
        used |= names
    # What the issue asks the dashboard to show.
    for family in (
        "messages_received_total",
        "events_stored_total",
        "events_duplicate_total",
        "rejected_total",
        "batch_messages_bucket",
        "commit_seconds_bucket",
        "lag_seconds_bucket",
        "degraded",
        "broker_connected",
        "seq_gaps_total",
        "seq_lost_total",
        "seq_filled_late_total",
        "estate_events_total",
    ):
        assert f"fenlei_ingest_{family}" in used, family


def test_dashboard_panels_sit_on_the_grid_without_overlapping() -> None:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, (p["title"], cells.get((x, y)))
                cells[(x, y)] = p["title"]
        assert p["type"] in {"row", "timeseries", "stat", "bargauge"}, p["title"]
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]


def test_estate_series_follow_the_registry() -> None:
    keep_series(["h10-a", "h10-b"])
    assert {"h10-a", "h10-b"} <= counted_estates()
    metrics.ESTATE_EVENTS.labels(estate="h10-a").inc(3)
    keep_series(["h10-a"])  # h10-b left the registry: its series would alert forever
    assert "h10-b" not in counted_estates()
    value = metrics.REGISTRY.get_sample_value(
        "fenlei_ingest_estate_events_total", {"estate": "h10-a"}
    )
    assert value == 3
    keep_series([])


def test_a_batch_counts_its_events_per_estate_once_split_parts_are_folded() -> None:
    def value(estate: str) -> float:
        v = metrics.REGISTRY.get_sample_value(
            "fenlei_ingest_estate_events_total", {"estate": estate}
        )
        return v or 0.0

    before = {e: value(e) for e in ("h10-x", "h10-y")}
    first = BatchResult(3, 3, 2, {}, 0, estates={"h10-x": 3})
    first.add(BatchResult(5, 5, 5, {"bad_json": 1}, 0, estates={"h10-x": 1, "h10-y": 4}))
    record(first, time.monotonic())
    assert value("h10-x") - before["h10-x"] == 4
    assert value("h10-y") - before["h10-y"] == 4
    keep_series([])


# -- promtool -------------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(
            "promtool is not installed (deploy/local/install-system.sh --with-promtool "
            "takes it from Debian's prometheus package); the structure tests still ran"
        )
    return path


def run_promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_promtool_accepts_the_rules_and_the_scrape_config(tmp_path: Path) -> None:
    out = run_promtool("check", "rules", str(ALERTS), cwd=tmp_path)
    assert f"SUCCESS: {len(rules())} rules found" in out
    out = run_promtool("check", "config", str(PROMETHEUS), cwd=MONITORING)
    assert "SUCCESS" in out


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Prometheus' own parser on the dashboard's queries, as recording rules, with
    Grafana's variables put in as Grafana would."""
    grafana_vars = {"$__rate_interval": "1m", "$__range": "6h", "$instance": ".*"}
    records = []
    for i, (_, expr) in enumerate(dashboard_exprs()):
        for var, value in grafana_vars.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        records.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    out = run_promtool("check", "rules", str(path), cwd=tmp_path)
    assert f"SUCCESS: {len(records)} rules found" in out


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: a rule with bad PromQL is refused."""
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    doc["groups"][0]["rules"][0]["expr"] = "sum(rate(up[5m])"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [promtool(), "check", "rules", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0


IN = {"job": "fenlei-ingest", "instance": "i1"}


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    sel = ", ".join(f'{k}="{v}"' for k, v in {**IN, **labels}.items())
    return {"series": f"{name}{{{sel}}}", "values": values}


def expect(alert: str, at: str, *fired: dict[str, str]) -> dict[str, Any]:
    return {
        "eval_time": at,
        "alertname": alert,
        "exp_alerts": [{"exp_labels": labels} for labels in fired],
    }


# Synthetic series (one sample a minute from 1970-01-01 00:00 UTC) and the alerts they
# must and must not raise, worked out by hand from each alert's intent.
RULE_TESTS: list[dict[str, Any]] = [
    {  # down for 4 of 6 minutes; another instance flaps and stays quiet
        "input_series": [
            series("up", "1 1 0 0 0 0 0"),
            series("up", "1 0 1 0 1 0 1", instance="i2"),
        ],
        "alert_rule_test": [
            expect("FenleiIngesterDown", "1m"),
            expect("FenleiIngesterDown", "6m", {**IN, "severity": "critical"}),
        ],
    },
    {  # no ingester target at all
        "input_series": [series("fenlei_ingest_degraded", "0x10")],
        "alert_rule_test": [
            expect("FenleiIngesterAbsent", "6m", {"job": "fenlei-ingest", "severity": "critical"}),
        ],
    },
    {  # the database away from minute 2; a one-sample blip on i2
        "input_series": [
            series("up", "1x10"),
            series("fenlei_ingest_degraded", "0 0 1 1 1 1 1 1"),
            series("fenlei_ingest_degraded", "0 1 0 0 0 0 0 0", instance="i2"),
            series("fenlei_ingest_broker_connected", "1 1 1 0 0 0 0 0"),
        ],
        "alert_rule_test": [
            expect("FenleiDatabaseUnavailable", "3m"),
            expect("FenleiDatabaseUnavailable", "5m", {"instance": "i1", "severity": "critical"}),
            expect("FenleiBrokerDisconnected", "4m"),
            expect("FenleiBrokerDisconnected", "6m", {"instance": "i1", "severity": "critical"}),
        ],
    },
    {  # 10 % rejected at 100 messages a minute fires; 100 % of 1 a minute does not
        "input_series": [
            series("fenlei_ingest_messages_received_total", "0+100x40"),
            series("fenlei_ingest_rejected_total", "0+10x40", reason="bad_json"),
        ],
        "alert_rule_test": [
            expect("FenleiRejectionRateHigh", "25m", {"severity": "warning"}),
        ],
    },
    {
        "input_series": [
            series("fenlei_ingest_messages_received_total", "0+1x40"),
            series("fenlei_ingest_rejected_total", "0+1x40", reason="bad_json"),
        ],
        "alert_rule_test": [expect("FenleiRejectionRateHigh", "25m")],
    },
    {  # every batch between 5 s and 30 s from receipt to commit
        "input_series": [
            series("fenlei_ingest_lag_seconds_bucket", "0+0x40", le="5.0"),
            series("fenlei_ingest_lag_seconds_bucket", "0+10x40", le="30.0"),
            series("fenlei_ingest_lag_seconds_bucket", "0+10x40", le="+Inf"),
        ],
        "alert_rule_test": [
            expect("FenleiIngestLagHigh", "10m"),
            expect("FenleiIngestLagHigh", "25m", {"severity": "warning"}),
        ],
    },
    {  # every batch under 0.5 s
        "input_series": [
            series("fenlei_ingest_lag_seconds_bucket", "0+10x40", le="0.5"),
            series("fenlei_ingest_lag_seconds_bucket", "0+10x40", le="+Inf"),
        ],
        "alert_rule_test": [expect("FenleiIngestLagHigh", "25m")],
    },
    {  # the API's /readyz probe failing
        "input_series": [
            {
                "series": 'probe_success{job="fenlei-api-readyz", instance="http://api/readyz"}',
                "values": "1 0 0 0 0 0",
            }
        ],
        "alert_rule_test": [
            expect(
                "FenleiApiNotReady",
                "5m",
                {
                    "job": "fenlei-api-readyz",
                    "instance": "http://api/readyz",
                    "severity": "critical",
                },
            ),
        ],
    },
    {  # "quiet" sends nothing all day, "busy" 5 events a minute; the ingester has run
        # since midnight UTC. Windows 07:00-09:00 and 18:00-20:00 Asia/Shanghai are
        # 23:00-01:00 and 10:00-12:00 UTC; the alert waits 20 min of silence in a window
        # and then 5 min more.
        "input_series": [
            series("fenlei_ingest_estate_events_total", "0+0x1500", estate="quiet"),
            series("fenlei_ingest_estate_events_total", "0+5x1500", estate="busy"),
            series("process_start_time_seconds", "0x1500"),
        ],
        "alert_rule_test": [
            expect("FenleiEstateSilent", "9h"),  # 17:00 local: between windows
            expect("FenleiEstateSilent", "10h22m"),  # 18:22 local: pending
            expect("FenleiEstateSilent", "10h30m", {"estate": "quiet", "severity": "warning"}),
            expect("FenleiEstateSilent", "11h59m", {"estate": "quiet", "severity": "warning"}),
            expect("FenleiEstateSilent", "12h5m"),  # 20:05 local: window closed
            expect("FenleiEstateSilent", "16h"),  # midnight local
            expect("FenleiEstateSilent", "23h30m", {"estate": "quiet", "severity": "warning"}),
        ],
    },
    {  # the database away (or the broker lost) from 23:00 UTC: nothing is counted for
        # any estate, which the outage's own alert reports, not one alert per estate
        "input_series": [
            series("fenlei_ingest_estate_events_total", "0x1500", estate="quiet"),
            series("process_start_time_seconds", "0x1500"),
            series("fenlei_ingest_degraded", "0x1380 1x120"),
            series("fenlei_ingest_broker_connected", "1x1500"),
            series("fenlei_ingest_degraded", "0x1500", instance="i2"),
            series("fenlei_ingest_broker_connected", "1x1380 0x120", instance="i2"),
            series("process_start_time_seconds", "0x1500", instance="i2"),
        ],
        "alert_rule_test": [
            expect("FenleiEstateSilent", "23h30m"),
            expect("FenleiEstateSilent", "23h45m"),
            expect(
                "FenleiDatabaseUnavailable", "23h30m", {"instance": "i1", "severity": "critical"}
            ),
            expect(
                "FenleiBrokerDisconnected", "23h30m", {"instance": "i2", "severity": "critical"}
            ),
        ],
    },
    {  # the only ingester restarted at 23:30 UTC (07:30 local): its fresh series are 0,
        # which is not silence until it has been up 20 minutes
        "input_series": [
            series("fenlei_ingest_estate_events_total", "0x1500", estate="quiet"),
            series("process_start_time_seconds", f"{23 * 3600 + 30 * 60}x1500"),
        ],
        "alert_rule_test": [
            expect("FenleiEstateSilent", "23h45m"),
            expect("FenleiEstateSilent", "23h52m"),  # pending since 23:50
            expect("FenleiEstateSilent", "23h57m", {"estate": "quiet", "severity": "warning"}),
        ],
    },
]


def test_alerts_fire_when_they_should_and_only_then(tmp_path: Path) -> None:
    """`promtool test rules` on synthetic series. The annotations are left out of the
    copy under test: what is tested is when each alert fires and with which labels."""
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(doc))
    covered = {case["alertname"] for test in RULE_TESTS for case in test["alert_rule_test"]}
    assert covered >= REQUIRED_ALERTS
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", **t} for t in RULE_TESTS],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = run_promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert "SUCCESS" in out


def test_the_rule_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation (the quiet estate silent at 17:00 local) is caught."""
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(doc))
    # The day of the quiet and the busy estate.
    day = next(t for t in RULE_TESTS if any('"busy"' in x["series"] for x in t["input_series"]))
    wrong = dict(day)
    wrong["alert_rule_test"] = [
        expect("FenleiEstateSilent", "9h", {"estate": "quiet", "severity": "warning"})
    ]
    tests = {"rule_files": ["rules.yaml"], "tests": [{"interval": "1m", **wrong}]}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        [promtool(), "test", "rules", "tests.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0, done.stdout


# -- a real ingester ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_exposition(body: str) -> tuple[set[str], dict[str, float]]:
    """(declared names, samples) of a text exposition: TYPE lines and sample lines."""
    declared: set[str] = set()
    samples: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            declared.add(name)
            if kind == "histogram":
                declared.update(name + s for s in ("_bucket", "_sum", "_count"))
        elif line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
            declared.add(key.partition("{")[0])
    return declared, samples


@pytest.fixture
def scraped(
    db_url: str, broker: Any, ingest_factory: Callable[..., Any]
) -> Iterator[Callable[[], tuple[set[str], dict[str, float]]]]:
    from tests.fix_data import register

    register(db_url)  # estate jjq, room r1, bins b-dry and b-wet
    register(db_url, estate="h10quiet", rooms={"q1": {"q-dry": "dry"}})
    port = _free_port()
    ingest_factory(FENLEI_METRICS_PORT=str(port)).start()

    def scrape() -> tuple[set[str], dict[str, float]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return parse_exposition(r.read().decode())
        except OSError:
            return set(), {}

    yield scrape


@pytest.mark.integration
def test_a_running_ingester_serves_every_metric_the_rules_and_dashboard_use(
    db_url: str, broker: Any, scraped: Callable[[], tuple[set[str], dict[str, float]]]
) -> None:
    from tests.fix_data import wait_for
    from tests.fix_stream import TOPIC_DRY, TOPIC_WET, canary, count, drop, publish

    canary(db_url, broker)  # one event of jjq, republished until stored
    publish(broker, [(TOPIC_DRY, drop("mon-1")), (TOPIC_WET, drop("mon-2"))])
    publish(broker, [(TOPIC_DRY, b"42")], raw=True)  # rejected: not_object
    quiet = 'fenlei_ingest_estate_events_total{estate="h10quiet"}'
    rejected = 'fenlei_ingest_rejected_total{reason="not_object"}'
    declared, samples = wait_for(
        scraped,
        lambda d: rejected in d[1] and quiet in d[1],
        timeout=60,
        what="the rejection counted and the registered estates' series",
    )
    used = set().union(*(metric_names(r["expr"]) for r in rules()))
    used |= set().union(*(metric_names(e) for _, e in dashboard_exprs()))
    missing = used - EXTERNAL_METRICS - declared
    assert not missing, missing
    # The estate with no event has its series, at 0, from the registry alone; the other
    # counts the events it sent (the canary's copies, mon-1 and mon-2), stored ones
    # included, the rejected message not.
    assert samples[quiet] == 0
    assert samples["process_start_time_seconds"] > 1.7e9
    jjq = 'fenlei_ingest_estate_events_total{estate="jjq"}'

    def counts() -> tuple[float, float]:
        s = scraped()[1]
        valid = s["fenlei_ingest_events_stored_total"] + s["fenlei_ingest_events_duplicate_total"]
        return s[jjq], valid

    # Polled: a scrape may fall between two counters of one batch.
    wait_for(counts, lambda c: c[0] == c[1] >= 3, timeout=10, what="jjq's events = stored + dup")
    assert count(db_url, "estate_id = 'jjq'") >= 3
