"""A bounded workout of a stack that runs the local Prometheus: load, an outage, a probe alert.

The e2e monitoring checks and docs/tools/dashboard.py both run it, so the pictures show what
the checks assert on.
"""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from kontaxa_e2e.load import LoadThread, run_load
from kontaxa_e2e.servers import eventually
from kontaxa_e2e.targets import Target

# Requests of user traffic: parameters (cache hits and misses, SSM calls), buckets (S3), a 404.
LOAD_PATHS = [
    "/parameters/welcome-message",
    "/buckets",
    "/parameters/missing",
    "/parameters/welcome-message",
]
PROBE_ALERT = "KontaxaE2eProbe"
# Stopping aux-service: it cannot be scraped (its availability alert), main-api gets no usable
# reply from it, and main-api answers 503 (its availability budget burns fast).
# (alert name, the job or service it is about; None: an alert over every pod).
OUTAGE_ALERTS: tuple[tuple[str, str | None], ...] = (
    ("KontaxaTargetDown", "aux-service"),
    ("KontaxaAuxServiceUnreachable", None),
    ("KontaxaAvailabilityBudgetBurnFast", "main-api"),
)
OUTAGE_LIMIT = 60.0  # seconds: at the local 5 s interval it takes about 15


def prometheus_get(url: str, path: str, **params: Any) -> Any:
    """GET a Prometheus (or Alertmanager) API path; its `data`."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}{path}{query}", timeout=30) as response:
        body = json.loads(response.read())
    return body["data"] if isinstance(body, dict) and "data" in body else body


def firing_or_pending(prometheus_url: str) -> list[dict[str, Any]]:
    """The alerts Prometheus holds now (state pending or firing), with their labels."""
    alerts: list[dict[str, Any]] = prometheus_get(prometheus_url, "/api/v1/alerts")["alerts"]
    return alerts


def routed_receiver(alertmanager_config: Any, labels: dict[str, str]) -> str:
    """The receiver Alertmanager's routing tree picks for `labels` (`amtool config routes test`)."""
    amtool = shutil.which("amtool") or "amtool"
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={alertmanager_config}"]
        + [f"{k}={v}" for k, v in labels.items()],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def post_probe_alert(alertmanager_url: str, labels: dict[str, str]) -> None:
    """An alert sent straight to Alertmanager, as Prometheus sends one (API v2)."""
    body = json.dumps([{"labels": labels, "annotations": {"summary": "e2e probe"}}]).encode()
    request = urllib.request.Request(
        f"{alertmanager_url}/api/v2/alerts",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


@dataclass
class Workout:
    """What happened: when, and the alerts Prometheus held while aux-service was down."""

    start: float
    end: float = 0.0
    during_outage: list[dict[str, Any]] = field(default_factory=list)
    probe_labels: dict[str, str] = field(default_factory=dict)


def work_out(target: Target, load_seconds: float = 10.0, rate: float = 40.0) -> Workout:
    """Load through main-api; aux-service stopped until the availability alerts are pending; load.

    Bounded: two loads of `load_seconds`, and an outage of at most OUTAGE_LIMIT seconds.
    """
    assert target.prometheus_url, f"the {target.name} target runs no local Prometheus"
    prometheus_url = target.prometheus_url
    workout = Workout(start=time.time())
    if target.alertmanager_url:
        workout.probe_labels = {
            "alertname": PROBE_ALERT,
            "namespace": "kontaxa",
            "run": str(int(workout.start)),
        }
        post_probe_alert(target.alertmanager_url, workout.probe_labels)
    headers = {"Authorization": f"Bearer {target.api_key()}"}
    run_load(target.main_url, duration=load_seconds, headers=headers, rate=rate, paths=LOAD_PATHS)
    target.stop("aux-service")
    # main-api answers 503 meanwhile: the 5xx of the error panels and rules, sent until both
    # availability alerts are pending (their rate windows need two scrapes of the 503s).
    errors = LoadThread(
        target.main_url, duration=OUTAGE_LIMIT, headers=headers, rate=rate, paths=LOAD_PATHS
    )
    errors.start()
    try:

        def pending() -> bool:
            workout.during_outage = firing_or_pending(prometheus_url)
            held = {
                (a["labels"].get("alertname"), a["labels"].get("job") or a["labels"].get("service"))
                for a in workout.during_outage
            }
            return set(OUTAGE_ALERTS) <= held

        eventually(pending, timeout=OUTAGE_LIMIT, interval=1)
    finally:
        errors.stop_sending.set()
        errors.result(timeout=60)
        target.start("aux-service")
    run_load(target.main_url, duration=load_seconds, headers=headers, rate=rate, paths=LOAD_PATHS)
    workout.end = time.time()
    return workout
