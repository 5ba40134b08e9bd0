"""Prometheus and Alertmanager for the process runtime, configured from what the cluster deploys.

Nothing here is a second configuration: the scrape jobs come from the rendered PodMonitors
(with the target labels the Prometheus operator gives), the rule files from the rendered
PrometheusRules' `spec.groups`, and Alertmanager's routing from the kube-prometheus-stack values
the `kube-prometheus-stack` Application names (over the chart's default route). Only addresses
change: targets are the local processes, and every receiver becomes a webhook to a local sink.
"""

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kontaxa_local import console, manifests
from kontaxa_local.manifests import Object, Workload
from kontaxa_local.settings import REPO_ROOT

MONITORING_OVERLAY = REPO_ROOT / "infra/k8s/monitoring/local"
CHART_APPLICATION = "kube-prometheus-stack"
PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
ALERT_SINK = "alert-sink"
# Debian's package -> the binaries the runner and the tests use from it.
DEBIAN_PACKAGES = {
    "prometheus": ("prometheus", "promtool"),
    "prometheus-alertmanager": ("prometheus-alertmanager", "amtool"),
}
APT_TIMEOUT = 600.0

# kube-prometheus-stack's default `alertmanager.config` (route, receivers and inhibit rules of
# charts/kube-prometheus-stack/values.yaml at tag kube-prometheus-stack-88.5.3 of
# prometheus-community/helm-charts): what Alertmanager routes by when the values set nothing.
# local/tests/test_monitoring.py (test_chart_default_route_...) names that file.
CHART_DEFAULT_ALERTMANAGER_CONFIG: dict[str, Any] = {
    "global": {"resolve_timeout": "5m"},
    "inhibit_rules": [
        {
            "source_matchers": ["severity = critical"],
            "target_matchers": ["severity =~ warning|info"],
            "equal": ["namespace", "alertname"],
        },
        {
            "source_matchers": ["severity = warning"],
            "target_matchers": ["severity = info"],
            "equal": ["namespace", "alertname"],
        },
        {
            "source_matchers": ["alertname = InfoInhibitor"],
            "target_matchers": ["severity = info"],
            "equal": ["namespace"],
        },
        {"target_matchers": ["alertname = InfoInhibitor"]},
    ],
    "route": {
        "group_by": ["namespace"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "12h",
        "receiver": "null",
        "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
    },
    "receivers": [{"name": "null"}],
}


# ---- what the cluster deploys --------------------------------------------------------------
def cluster_objects() -> list[Object]:
    """The rendered monitoring overlay of the local environment (rules, Application, dashboard)."""
    return manifests.load(manifests.render(MONITORING_OVERLAY))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: maps merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def chart_values(objects: list[Object]) -> dict[str, Any]:
    """The values the chart gets: the Application's `valueFiles`, merged in order."""
    application = next(
        (
            o
            for o in objects
            if o.get("kind") == "Application" and o["metadata"]["name"] == CHART_APPLICATION
        ),
        None,
    )
    if application is None:
        raise ValueError(f"no Application {CHART_APPLICATION} in {MONITORING_OVERLAY}")
    values: dict[str, Any] = {}
    for source in application["spec"].get("sources", []):
        for name in source.get("helm", {}).get("valueFiles", []):
            # `$values/<path>` is a file of this repository (the source with `ref: values`).
            path = REPO_ROOT / name.removeprefix("$values/")
            values = deep_merge(values, yaml.safe_load(path.read_text()) or {})
    return values


def rule_files(objects: list[Object], interval: str | None) -> dict[str, dict[str, Any]]:
    """File name -> content: each PrometheusRule's `spec.groups`, as the operator writes them.

    `interval` (the local evaluation interval) replaces each group's own; nothing else changes.
    """
    files: dict[str, dict[str, Any]] = {}
    for rule in (o for o in objects if o.get("kind") == "PrometheusRule"):
        groups = copy.deepcopy(rule["spec"]["groups"])
        if interval:
            for group in groups:
                group["interval"] = interval
        namespace = rule["metadata"].get("namespace", "default")
        files[f"{namespace}-{rule['metadata']['name']}.yaml"] = {"groups": groups}
    return files


# ---- scrape jobs from PodMonitors -----------------------------------------------------------
def _label_selects(selector: Object, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels and matchExpressions) against `labels`."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if (
            (operator == "In" and (not present or labels[key] not in values))
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def _namespaces(monitor: Object, objects: list[Object]) -> set[str] | None:
    """The namespaces a PodMonitor looks in (None: all), per its namespaceSelector."""
    selector = monitor["spec"].get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    if selector.get("matchNames"):
        return set(selector["matchNames"])
    return {monitor["metadata"].get("namespace") or _default_namespace(objects)}


def _default_namespace(objects: list[Object]) -> str:
    """Where namespace-less objects of the overlay land (the namespace of its Deployments)."""
    return next(
        (o["metadata"]["namespace"] for o in objects if o.get("kind") == "Deployment"), "default"
    )


def _endpoint_port(workload: Workload, endpoint: Object) -> int | None:
    """The container port a PodMonitor endpoint keeps: by name (`port`) or `portNumber`."""
    if endpoint.get("port"):
        return workload.ports.get(str(endpoint["port"]))
    if endpoint.get("portNumber") in workload.ports.values():
        return int(endpoint["portNumber"])
    return None


def _job(name: str, endpoint: Object, interval: str | None) -> dict[str, Any]:
    """A scrape job's settings from a monitor endpoint (interval, timeout, path, scheme)."""
    job: dict[str, Any] = {"job_name": name}
    if endpoint.get("honorLabels"):
        job["honor_labels"] = True
    scrape_interval = interval or endpoint.get("interval")
    if scrape_interval:
        job["scrape_interval"] = scrape_interval
    timeout = endpoint.get("scrapeTimeout")
    if timeout and not (interval and seconds(timeout) > seconds(interval)):
        job["scrape_timeout"] = timeout
    if endpoint.get("path"):
        job["metrics_path"] = endpoint["path"]
    if endpoint.get("params"):
        job["params"] = endpoint["params"]
    if endpoint.get("scheme"):
        job["scheme"] = endpoint["scheme"]
    return job


def scrape_configs(
    objects: list[Object],
    workloads: list[Workload],
    host_address: Callable[[Workload, int], str],
    interval: str | None,
) -> list[dict[str, Any]]:
    """One scrape job per PodMonitor endpoint, as the Prometheus operator generates it.

    The target labels follow generatePodMonitorConfig in pkg/prometheus/promcfg.go of
    prometheus-operator (v0.93, the operator of kube-prometheus-stack 88.5.3): the job is
    `podMonitor/<namespace>/<name>/<index>`; the targets are the pods the selector matches
    in the monitor's namespaces, on the container port the endpoint names (`port`, or
    `portNumber`); `namespace`, `container` and `pod` come from the pod, then
    `podTargetLabels`; `job` is `<namespace>/<name>`, or the pod's `jobLabel` label when it
    has a value; `endpoint` is the port name. Only the address is the local process's.
    """
    default_namespace = _default_namespace(objects)
    jobs = []
    monitors = sorted(
        (o for o in objects if o.get("kind") == "PodMonitor"),
        key=lambda m: (m["metadata"].get("namespace") or default_namespace, m["metadata"]["name"]),
    )
    for monitor in monitors:
        spec = monitor["spec"]
        name = monitor["metadata"]["name"]
        namespace = monitor["metadata"].get("namespace") or default_namespace
        in_namespaces = _namespaces(monitor, objects)
        for index, endpoint in enumerate(spec.get("podMetricsEndpoints", [])):
            groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
            for workload in workloads:
                if in_namespaces is not None and workload.namespace not in in_namespaces:
                    continue
                if not _label_selects(spec.get("selector") or {}, workload.labels):
                    continue
                container_port = _endpoint_port(workload, endpoint)
                if container_port is None:
                    continue
                labels = {
                    "namespace": workload.namespace,
                    "container": workload.container,
                    "pod": manifests.pod_name(workload.name),
                }
                for label in spec.get("podTargetLabels", []):
                    if workload.labels.get(label):
                        labels[_sanitize(label)] = workload.labels[label]
                labels["job"] = f"{namespace}/{name}"
                job_label = spec.get("jobLabel")
                if job_label and workload.labels.get(job_label):
                    labels["job"] = workload.labels[job_label]
                if endpoint.get("port"):
                    labels["endpoint"] = str(endpoint["port"])
                key = tuple(sorted(labels.items()))
                groups.setdefault(key, []).append(host_address(workload, container_port))
            job = _job(f"podMonitor/{namespace}/{name}/{index}", endpoint, interval)
            job["static_configs"] = [
                {"targets": sorted(targets), "labels": dict(key)} for key, targets in groups.items()
            ]
            jobs.append(job)
    return jobs


def _sanitize(name: str) -> str:
    """A Kubernetes label name as a Prometheus label name (sanitizeLabelName in promcfg.go)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def seconds(duration: str) -> float:
    """A Prometheus duration (`30s`, `1m`, `1h30m`) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * units[u] for n, u in parts)


# ---- the generated files ---------------------------------------------------------------------
def prometheus_config(
    jobs: list[dict[str, Any]], rules: list[str], alertmanager: str | None, interval: str | None
) -> dict[str, Any]:
    """prometheus.yml: the jobs, the rule files, and the local Alertmanager."""
    config: dict[str, Any] = {"global": {}, "rule_files": rules, "scrape_configs": jobs}
    if interval:
        config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [
                {"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}
            ]
        }
    return config


def alertmanager_config(values: dict[str, Any], sink_url: str) -> dict[str, Any]:
    """alertmanager.yml: the values' routing (over the chart's default), every receiver local.

    Each receiver keeps its name and loses its integrations (they reach outside, or read files
    mounted only in the cluster): it becomes a webhook to `<sink_url>/<receiver>`, so the sink
    shows which receiver the route chose and nothing leaves the machine.
    """
    given = (values.get("alertmanager") or {}).get("config") or {}
    config = deep_merge(CHART_DEFAULT_ALERTMANAGER_CONFIG, given)
    resolve_timeout = (config.get("global") or {}).get("resolve_timeout")
    config["global"] = {"resolve_timeout": resolve_timeout} if resolve_timeout else {}
    config.pop("templates", None)  # paths of the cluster's Secret
    config["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [{"url": f"{sink_url}/{receiver['name']}", "send_resolved": True}],
        }
        for receiver in config.get("receivers", [])
    ]
    return config


def alertmanager_enabled(values: dict[str, Any]) -> bool:
    """Whether the chart deploys an Alertmanager (`alertmanager.enabled`, on by default)."""
    return bool((values.get("alertmanager") or {}).get("enabled", True))


def retention(values: dict[str, Any]) -> str | None:
    """`prometheus.prometheusSpec.retention` of the values (None: Prometheus's default)."""
    spec = (values.get("prometheus") or {}).get("prometheusSpec") or {}
    value = spec.get("retention")
    return str(value) if value else None


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (the rules' expressions) as YAML block literals, as in the source."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_ReadableDumper.add_representer(str, _represent_str)


@dataclass
class Generated:
    """Everything the local Prometheus and Alertmanager run with."""

    prometheus: dict[str, Any]
    rules: dict[str, dict[str, Any]]
    alertmanager: dict[str, Any] | None
    retention: str | None

    def files(self) -> dict[str, str]:
        """Relative path -> YAML text of every file Prometheus and Alertmanager read."""
        contents: dict[str, Any] = {"prometheus.yml": self.prometheus}
        contents.update({f"rules/{name}": content for name, content in self.rules.items()})
        if self.alertmanager is not None:
            contents["alertmanager.yml"] = self.alertmanager
        return {
            name: yaml.dump(c, Dumper=_ReadableDumper, sort_keys=False)
            for name, c in contents.items()
        }

    def write(self, directory: Path) -> dict[str, Path]:
        """Write the files under `directory`; relative path -> path."""
        paths = {}
        for name, text in self.files().items():
            paths[name] = directory / name
            paths[name].parent.mkdir(parents=True, exist_ok=True)
            paths[name].write_text(text)
        return paths


def generate(
    overlay_objects: list[Object],
    workloads: list[Workload],
    host_address: Callable[[Workload, int], str],
    *,
    alertmanager_address: str | None,
    sink_url: str,
    interval: str | None,
    directory: Path,
) -> Generated:
    """The local monitoring configuration from the rendered overlay and monitoring objects.

    Rule file paths in prometheus.yml are absolute, under `directory`.
    """
    objects = cluster_objects()
    values = chart_values(objects)
    rules = rule_files(objects, interval)
    jobs = scrape_configs(overlay_objects, workloads, host_address, interval)
    with_alertmanager = alertmanager_address if alertmanager_enabled(values) else None
    return Generated(
        prometheus=prometheus_config(
            jobs, [str(directory / "rules" / name) for name in rules], with_alertmanager, interval
        ),
        rules=rules,
        alertmanager=alertmanager_config(values, sink_url) if with_alertmanager else None,
        retention=retention(values),
    )


# ---- the binaries ----------------------------------------------------------------------------
def missing_binaries() -> list[str]:
    """Debian packages whose binaries are not on PATH."""
    return [
        package
        for package, binaries in DEBIAN_PACKAGES.items()
        if any(shutil.which(b) is None for b in binaries)
    ]


def install(log: Path) -> str | None:
    """Install the missing packages with apt (once: `apt-get update` first); why not, or None."""
    missing = missing_binaries()
    if not missing:
        return None
    if shutil.which("apt-get") is None:
        return f"{' and '.join(missing)} not installed, and there is no apt-get to install them"
    if os.geteuid() != 0:
        return (
            f"{' and '.join(missing)} not installed, and installing needs root "
            f"(apt-get install {' '.join(missing)})"
        )
    console.step(f"install {', '.join(missing)} with apt-get (first use)")
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log.open("ab") as output:
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        ):
            try:
                result = subprocess.run(  # noqa: S603 - fixed commands
                    command, stdout=output, stderr=subprocess.STDOUT, env=env, timeout=APT_TIMEOUT
                )
            except subprocess.TimeoutExpired:
                return f"`{' '.join(command)}` took over {APT_TIMEOUT:.0f}s (log: {log})"
            if result.returncode != 0:
                return f"`{' '.join(command)}` failed (log: {log})"
    still = missing_binaries()
    return f"apt-get ran but {', '.join(still)} is still missing (log: {log})" if still else None
