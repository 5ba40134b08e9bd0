"""Monitoring that runs: the local Prometheus scrapes every target, evaluates every rule, fills
every panel of the committed dashboard, and alerts when aux-service goes away.

Only targets that run the local Prometheus (the process target) take part; the others skip.
"""

import json
import time
import urllib.request
from typing import Any

import pytest

from kontaxa_e2e.monitoring import (
    OUTAGE_ALERTS,
    Workout,
    prometheus_get,
    routed_receiver,
    work_out,
)
from kontaxa_e2e.servers import eventually
from kontaxa_e2e.targets import Target
from kontaxa_local import dashboard, manifests, monitoring
from kontaxa_local.settings import OVERLAY

STEP = dashboard.SCRAPE_SECONDS  # the finest step worth asking for


@pytest.fixture
def prometheus(target: Target) -> str:
    if target.prometheus_url is None:
        pytest.skip(f"the {target.name} target runs no local Prometheus")
    return target.prometheus_url


_workouts: dict[tuple[int, int], Workout] = {}


@pytest.fixture
def workout(target: Target) -> Workout:
    """One bounded workout per stack, shared by the checks below (a stack the suite brought
    up anew, with a Prometheus that has no history, gets one of its own)."""
    if target.prometheus_url is None:
        pytest.skip(f"the {target.name} target runs no local Prometheus")
    key = (id(target), target.generation)
    if key not in _workouts:
        _workouts[key] = work_out(target)
    return _workouts[key]


def test_every_podmonitor_target_is_up(prometheus: str) -> None:
    """One target per Deployment a PodMonitor selects, on its metrics port, scraped and healthy."""
    objects = manifests.load(manifests.render(OVERLAY))
    expected = {w.name for w in manifests.workloads(objects)}

    def targets() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = prometheus_get(prometheus, "/api/v1/targets")["activeTargets"]
        return found

    def all_up() -> bool:
        # Prometheus lists static targets only after its first target sync (up to 5 s after
        # it is ready): an empty list is not "all up".
        found = targets()
        return bool(found) and all(t["health"] == "up" for t in found)

    assert eventually(all_up, timeout=30)
    active = targets()
    assert {t["labels"]["job"] for t in active} == expected
    for found in active:
        assert found["health"] == "up", (found["labels"], found["lastError"])
        assert found["scrapePool"].startswith("podMonitor/kontaxa/")
        assert found["labels"]["endpoint"] == "metrics"


def test_prometheus_sends_to_the_local_alertmanager(target: Target, prometheus: str) -> None:
    managers = prometheus_get(prometheus, "/api/v1/alertmanagers")["activeAlertmanagers"]
    assert [m["url"] for m in managers] == [f"{target.alertmanager_url}/api/v2/alerts"]


def test_stopping_aux_service_makes_the_availability_alerts_pending(workout: Workout) -> None:
    """At the cluster's rules (no window shortened), all pending (their `for:` is minutes):
    KontaxaTargetDown for aux-service (`slo: availability`), which Prometheus cannot scrape;
    KontaxaAuxServiceUnreachable, main-api getting no answer from it; and main-api's
    KontaxaAvailabilityBudgetBurnFast, since main-api answers 503 meanwhile."""
    held = {
        (a["labels"]["alertname"], a["labels"].get("job") or a["labels"].get("service")): a
        for a in workout.during_outage
    }
    for alertname, about in OUTAGE_ALERTS:
        alert = held.get((alertname, about))
        assert alert is not None, f"{alertname} ({about}) never showed; held: {list(held)}"
        assert alert["state"] == "pending", (alertname, alert["state"])
    down = held[("KontaxaTargetDown", "aux-service")]
    assert down["labels"]["slo"] == "availability"
    assert down["labels"]["pod"] == manifests.pod_name("aux-service")
    assert held[("KontaxaAvailabilityBudgetBurnFast", "main-api")]["labels"]["slo"] == (
        "availability"
    )


def test_every_recording_rule_has_a_value(prometheus: str, workout: Workout) -> None:
    records = [
        rule["record"]
        for content in monitoring.rule_files(monitoring.cluster_objects(), None).values()
        for group in content["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    assert records

    def empty() -> list[str]:
        return [
            name
            for name in records
            if not prometheus_get(prometheus, "/api/v1/query", query=name)["result"]
        ]

    eventually(lambda: not empty(), timeout=30, interval=1)
    assert not empty(), f"recording rules without a value after the load: {empty()}"


def test_every_dashboard_panel_shows_data(prometheus: str, workout: Workout) -> None:
    """Each query of each panel, as Grafana sends it (Service = All), returns points."""
    end = max(workout.end, time.time())
    empty = []
    for row in dashboard.rows():
        for panel in row:
            for query in panel.queries:
                expr = dashboard.expand(query.expr, STEP)
                series = dashboard.query_range(prometheus, expr, workout.start, end, STEP)
                if not any(points for _, points in series):
                    empty.append(f"{panel.title!r} ({query.legend or query.expr})")
    assert not empty, f"panels with no data: {', '.join(empty)}"


def test_an_alert_reaches_the_local_receiver_the_route_picks(
    target: Target, workout: Workout
) -> None:
    """The probe alert sent at the start arrives at the sink under the routed receiver."""
    assert target.alert_sink_url
    assert target.monitoring_dir
    expected = routed_receiver(target.monitoring_dir / "alertmanager.yml", workout.probe_labels)

    def received() -> list[dict[str, Any]]:
        with urllib.request.urlopen(target.alert_sink_url + "/", timeout=10) as response:
            notifications: list[dict[str, Any]] = json.loads(response.read())
        return [
            n
            for n in notifications
            for alert in n["notification"]["alerts"]
            if alert["labels"] == workout.probe_labels
        ]

    # The chart's default group_wait is 30 s; the workout took about as long already.
    assert eventually(lambda: bool(received()), timeout=60, interval=1), "no notification"
    assert {n["receiver"] for n in received()} == {expected}
