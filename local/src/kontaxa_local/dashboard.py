"""The committed Grafana dashboard read as Grafana reads it, and its queries run on a Prometheus.

Used by the e2e suite (every panel's query returns data) and by docs/tools/dashboard.py (each
row of panels drawn into docs/images/), so both see the panels exactly as the JSON defines them.
"""

import hashlib
import json
import math
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from kontaxa_local.monitoring import seconds
from kontaxa_local.settings import DEFAULT_MONITORING_INTERVAL, REPO_ROOT

DASHBOARD = REPO_ROOT / "infra/k8s/monitoring/base/kontaxa-services.json"
# The local Prometheus's scrape interval: Grafana's $__rate_interval is derived from it.
SCRAPE_SECONDS = seconds(DEFAULT_MONITORING_INTERVAL)


@dataclass(frozen=True)
class Query:
    """One target of a panel: its PromQL and legend format."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A graph panel: title, unit (Grafana's unit id), queries."""

    title: str
    unit: str
    queries: tuple[Query, ...]


def rows(path: Any = DASHBOARD) -> list[list[Panel]]:
    """The dashboard's panels, grouped into rows by grid position, left to right."""
    spec = json.loads(path.read_text())
    by_row: dict[int, list[tuple[int, Panel]]] = {}
    for panel in spec["panels"]:
        if panel.get("type") == "row":
            continue
        grid = panel["gridPos"]
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "none")
        queries = tuple(
            Query(t["expr"], t.get("legendFormat", "")) for t in panel.get("targets", [])
        )
        by_row.setdefault(grid["y"], []).append((grid["x"], Panel(panel["title"], unit, queries)))
    return [[p for _, p in sorted(by_row[y], key=lambda item: item[0])] for y in sorted(by_row)]


def panels_digest(row: list[Panel]) -> str:
    """SHA-256 of what a row's picture shows: titles, units, queries, legends."""
    text = json.dumps(
        [[p.title, p.unit, [[q.expr, q.legend] for q in p.queries]] for p in row], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


def rate_interval(scrape_seconds: float, step_seconds: float) -> str:
    """Grafana's `$__rate_interval`: max($__interval + scrape interval, 4 x scrape interval)."""
    return f"{math.ceil(max(step_seconds + scrape_seconds, 4 * scrape_seconds))}s"


def expand(expr: str, step_seconds: float, scrape_seconds: float = SCRAPE_SECONDS) -> str:
    """A panel query as Grafana sends it with Service = All and the given step."""
    expr = re.sub(r"\$\{?service\}?", ".+", expr)
    expr = re.sub(r"\$\{?__rate_interval\}?", rate_interval(scrape_seconds, step_seconds), expr)
    if "$" in expr:
        raise ValueError(f"a dashboard variable this reader does not know: {expr}")
    return expr


def legend(format_: str, labels: dict[str, str]) -> str:
    """Grafana's legend: `{{label}}` replaced by the series' label values."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), format_) or str(labels)


Series = tuple[dict[str, str], list[tuple[float, float]]]


def query_range(
    prometheus_url: str, expr: str, start: float, end: float, step: float
) -> list[Series]:
    """`/api/v1/query_range`: each series' labels and its (time, value) points, NaNs dropped."""
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    url = f"{prometheus_url}/api/v1/query_range?{params}"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise ValueError(f"Prometheus refused {expr}: {body}")
    result = []
    for item in body["data"]["result"]:
        points = [(float(t), float(v)) for t, v in item["values"] if not math.isnan(float(v))]
        result.append((item["metric"], points))
    return result
