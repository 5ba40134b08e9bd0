"""The services' metrics: on a port of their own, scraped by Prometheus only, never public.

main-api's Service is what the Ingress sends the internet to; the metrics port is on no
Service, Prometheus reaches the pods through a PodMonitor, and the NetworkPolicies admit
only Prometheus to it. The upstream rules these rely on are encoded below, each naming
its repository, tag and file.
"""

from typing import Any

import pytest
import yaml
from k8s_manifests import (
    ENVIRONMENTS,
    K8S_ROOT,
    Obj,
    find,
    merge_values,
    one,
    pod_spec,
    render,
)

from kontaxa_common.settings import ServiceSettings

SERVICES = ("main-api", "aux-service")
METRICS_PORT_NAME = "metrics"
MONITORING_NAMESPACE = "monitoring"
PROMETHEUS_POD = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def _container(objects: tuple[Obj, ...], service: str) -> Obj:
    (container,) = pod_spec(one(objects, "Deployment", service))["containers"]
    return container


def _named_ports(container: Obj) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


def _reaches(port: Obj, container: Obj, number: int) -> bool:
    """Whether a Service port leads to the container port `number`."""
    target = port.get("targetPort", port["port"])
    if isinstance(target, str):
        return _named_ports(container).get(target) == number
    return bool(target == number)


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_metrics_have_a_container_port_of_their_own(env: str, service: str) -> None:
    """Port `metrics` is METRICS_PORT's default (the container sets no METRICS_PORT), apart
    from the app port; the probes stay on the app port."""
    container = _container(render(f"overlays/{env}"), service)
    ports = _named_ports(container)
    default = ServiceSettings.model_fields["metrics_port"].default
    assert ports[METRICS_PORT_NAME] == default
    assert ports["http"] == ServiceSettings.model_fields["port"].default != default
    assert "METRICS_PORT" not in {e["name"] for e in container.get("env", [])}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "http", probe


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_service_reaches_the_metrics_port(env: str) -> None:
    """The Service behind main-api's Ingress, and every other Service, leave metrics out."""
    objects = render(f"overlays/{env}")
    ingress = one(objects, "Ingress", "main-api")
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"main-api"}
    for service in SERVICES:
        container = _container(objects, service)
        metrics = _named_ports(container)[METRICS_PORT_NAME]
        for svc in find(objects, "Service"):
            if not svc["spec"].get("selector", {}).items() <= (
                one(objects, "Deployment", service)["spec"]["template"]["metadata"][
                    "labels"
                ].items()
            ):
                continue
            for port in svc["spec"]["ports"]:
                assert not _reaches(port, container, metrics), (svc["metadata"]["name"], port)


def _ingress_rules_for(policy: Obj, port: str) -> list[Obj]:
    return [
        rule
        for rule in policy["spec"]["ingress"]
        if any(p.get("port") == port for p in rule.get("ports", []))
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_network_policy_admits_only_prometheus_to_the_metrics_port(env: str, service: str) -> None:
    """Metrics from the monitoring namespace's Prometheus pods only; the app port not from it.

    The Prometheus pods' label: prometheus-operator/prometheus-operator, tag v0.93.0 (the
    operator of kube-prometheus-stack 88.5.3 is v0.93.1), pkg/prometheus/server/operator.go,
    makeSelectorLabels: every Prometheus pod carries app.kubernetes.io/name=prometheus
    (applicationNameLabelValue). Its namespace: the kube-prometheus-stack Application's
    destination (checked below).
    """
    objects = render(f"overlays/{env}")
    policy = one(objects, "NetworkPolicy", service)
    metrics_rules = _ingress_rules_for(policy, METRICS_PORT_NAME)
    assert len(metrics_rules) == 1
    assert metrics_rules[0]["from"] == [PROMETHEUS_POD]
    assert metrics_rules[0]["ports"] == [{"port": METRICS_PORT_NAME, "protocol": "TCP"}]
    for rule in _ingress_rules_for(policy, "http"):
        assert PROMETHEUS_POD not in rule["from"], "Prometheus needs no app port"
        assert METRICS_PORT_NAME not in {p.get("port") for p in rule["ports"]}
    for rule in policy["spec"]["ingress"]:
        assert rule.get("ports"), "a rule without ports would open the metrics port too"
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        one(objects, "Deployment", service)["spec"]["template"]["metadata"]["labels"].items()
    )
    application = one(render(f"monitoring/{env}"), "Application", "kube-prometheus-stack")
    assert application["spec"]["destination"]["namespace"] == MONITORING_NAMESPACE


def _values(env: str) -> dict[str, Any]:
    """The chart's values as the Application layers them (common, then the environment's)."""
    application = one(render(f"monitoring/{env}"), "Application", "kube-prometheus-stack")
    files = [
        K8S_ROOT.parents[1] / name.removeprefix("$values/")
        for source in application["spec"]["sources"]
        for name in source.get("helm", {}).get("valueFiles", [])
    ]
    return merge_values(*(yaml.safe_load(path.read_text()) or {} for path in files))


# kube-prometheus-stack 88.5.3 defaults (charts/kube-prometheus-stack/values.yaml).
CHART_DEFAULTS = {"podMonitorSelectorNilUsesHelmValues": True, "podMonitorSelector": {}}
RELEASE_NAME = "kube-prometheus-stack"


def chart_pod_monitor_selectors(values: dict[str, Any]) -> tuple[Obj, Obj]:
    """podMonitorSelector and podMonitorNamespaceSelector of the Prometheus the chart makes.

    prometheus-community/helm-charts, tag kube-prometheus-stack-88.5.3,
    charts/kube-prometheus-stack/templates/prometheus/prometheus.yaml: a non-empty
    `podMonitorSelector` value is used as is; else, with podMonitorSelectorNilUsesHelmValues,
    `matchLabels: {release: <release name>}`; else `{}`. The namespace selector is the value
    when non-empty, else `{}`. (Go templates take an empty map as false.)
    """
    spec = {**CHART_DEFAULTS, **values.get("prometheus", {}).get("prometheusSpec", {})}
    if spec["podMonitorSelector"]:
        selector = spec["podMonitorSelector"]
    elif spec["podMonitorSelectorNilUsesHelmValues"]:
        selector = {"matchLabels": {"release": RELEASE_NAME}}
    else:
        selector = {}
    return selector, spec.get("podMonitorNamespaceSelector") or {}


def operator_selects(selector: Obj, namespace_selector: Obj | None, monitor: Obj) -> bool:
    """Whether the operator picks `monitor` up (matchLabels only, as used here).

    prometheus-operator/prometheus-operator, tag v0.93.0, pkg/apis/monitoring/v1/
    prometheus_types.go (podMonitorNamespaceSelector: an empty selector matches all
    namespaces, a null one the Prometheus's own) and pkg/prometheus/resource_selector.go
    (SelectPodMonitors: label selector over the PodMonitors of those namespaces).
    """
    if namespace_selector is None:
        return monitor["metadata"].get("namespace") == MONITORING_NAMESPACE
    assert set(namespace_selector) <= {"matchLabels"}
    assert set(selector) <= {"matchLabels"}
    assert not namespace_selector.get("matchLabels"), "namespace labels are not modelled here"
    labels = monitor["metadata"].get("labels", {})
    return bool(selector.get("matchLabels", {}).items() <= labels.items())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_charts_prometheus_selects_the_pod_monitors(env: str) -> None:
    """With the project's values, the chart's Prometheus selects both PodMonitors (which live
    in kontaxa, not in monitoring, and carry no release label)."""
    selector, namespaces = chart_pod_monitor_selectors(_values(env))
    assert (selector, namespaces) == ({}, {})
    monitors = find(render(f"overlays/{env}"), "PodMonitor")
    assert {m["metadata"]["name"] for m in monitors} == set(SERVICES)
    for monitor in monitors:
        assert monitor["metadata"]["namespace"] == "kontaxa"
        assert operator_selects(selector, namespaces, monitor)


def test_the_selection_check_can_fail() -> None:
    """The chart's defaults select by the release label, which the PodMonitors lack."""
    monitor = one(render("overlays/local"), "PodMonitor", "main-api")
    selector, namespaces = chart_pod_monitor_selectors({})
    assert selector == {"matchLabels": {"release": RELEASE_NAME}}
    assert not operator_selects(selector, namespaces, monitor)
    assert not operator_selects({}, None, monitor), "a null namespace selector: own namespace"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_pod_monitor_scrapes_the_metrics_port_of_the_pods(env: str, service: str) -> None:
    """The PodMonitor keeps the pods of the Deployment, on the container port named metrics,
    and names the job after the pods' app.kubernetes.io/name (what KontaxaTargetDown reads).

    prometheus-operator/prometheus-operator, tag v0.93.0, pkg/prometheus/promcfg.go,
    generatePodMonitorConfig: targets are the pods matching spec.selector (matchLabels kept
    by pod label), filtered on __meta_kubernetes_pod_container_port_name == port; `job` is
    the value of the pod label named by jobLabel when it has one.
    """
    objects = render(f"overlays/{env}")
    monitor = one(objects, "PodMonitor", service)
    labels = one(objects, "Deployment", service)["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert labels[monitor["spec"]["jobLabel"]] == service
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == METRICS_PORT_NAME
    assert METRICS_PORT_NAME in _named_ports(_container(objects, service))
    assert endpoint["path"] == "/metrics"
    assert not find(objects, "ServiceMonitor"), "a ServiceMonitor scrapes through a Service"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_hpa_reads_no_metric_of_the_metrics_port(env: str, service: str) -> None:
    """The HPA scales on CPU and memory (metrics-server), never on the services' own metrics."""
    hpa = one(render(f"overlays/{env}"), "HorizontalPodAutoscaler", service)
    assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource"}
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} <= {"cpu", "memory"}
