"""SLO rules and the dashboard: valid PromQL over the series the services really export."""

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from k8s_manifests import ENVIRONMENTS, K8S_ROOT, find, merge_values, one, render

from kontaxa_common.metrics import LATENCY_BUCKETS, Metrics

# Labels Prometheus adds to every series scraped through a PodMonitor (prometheus-operator
# v0.93.0 pkg/prometheus/promcfg.go, generatePodMonitorConfig; no `service`: no Service).
TARGET_LABELS = {"namespace", "pod", "job", "instance", "endpoint", "container"}
# Series Prometheus makes itself.
PROMETHEUS_SERIES = {"up": set(TARGET_LABELS)}


def exported_series() -> dict[str, set[str]]:
    """Every series name the services export, with its label names (scraped labels included)."""
    metrics = Metrics("probe")
    metrics.observe_request("GET", "/x", 200, 0.01)
    metrics.observe_upstream("aux-service", "get", "ok", 0.01)
    metrics.count_cache("parameters", hit=True)
    metrics.set_upstream_up("aux-service", up=True)
    series: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    assert "http_requests_total" in series, "the services' metrics changed shape"
    return {name: labels | TARGET_LABELS for name, labels in series.items()}


def _nodes(node: Any) -> Iterator[Any]:
    """Every node of a parsed PromQL expression."""
    yield node
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None:
            yield from _nodes(child)
    for child in getattr(node, "args", None) or []:
        yield from _nodes(child)


def selectors(expr: str) -> list[Any]:
    """The vector selectors of a PromQL expression; raises ValueError if it does not parse."""
    return [n for n in _nodes(promql_parser.parse(expr)) if type(n).__name__ == "VectorSelector"]


def grouping_labels(expr: str) -> set[str]:
    """Labels named in `by (...)` clauses."""
    labels = set()
    for node in _nodes(promql_parser.parse(expr)):
        modifier = getattr(node, "modifier", None)
        if type(node).__name__ == "AggregateExpr" and modifier is not None:
            labels.update(modifier.labels)
    return labels


def _rules() -> list[dict[str, Any]]:
    rule = one(render("monitoring/local"), "PrometheusRule", "kontaxa-slo")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def check_expression(expr: str, known: dict[str, set[str]]) -> None:
    """Parses; names only known series; uses only their labels; `le` only on real buckets."""
    found = selectors(expr)
    assert found, f"no series in {expr}"
    for selector in found:
        assert selector.name in known, f"unknown series {selector.name!r} in {expr}"
        for matcher in selector.matchers.matchers:
            assert matcher.name in known[selector.name], (
                f"{selector.name} has no label {matcher.name!r}"
            )
            if matcher.name == "le":
                assert float(matcher.value) in LATENCY_BUCKETS, f"no bucket le={matcher.value}"
    for label in grouping_labels(expr):
        assert any(label in labels for labels in known.values()), f"no series has {label!r}"


def test_rules_use_real_series() -> None:
    """Every rule parses and reads series the services export (or rules record)."""
    rules = _rules()
    known = exported_series() | PROMETHEUS_SERIES
    recorded = {r["record"]: {"service"} for r in rules if "record" in r}
    assert len(recorded) >= 21
    known = {**known, **{name: labels | TARGET_LABELS for name, labels in recorded.items()}}
    for rule in rules:
        check_expression(rule["expr"], known)


def test_alerts_cover_availability_and_latency_burn() -> None:
    """Fast and slow burn for both SLOs, a p99 alert, each with severity and summary."""
    alerts = {r["alert"]: r for r in _rules() if "alert" in r}
    for slo in ("Availability", "Latency"):
        for speed in ("Fast", "Slow"):
            alert = alerts[f"Kontaxa{slo}BudgetBurn{speed}"]
            used = {s.name for s in selectors(alert["expr"])}
            assert len(used) == 4, "multiwindow: two long and two short windows"
    assert "histogram_quantile(0.99" in alerts["KontaxaP99LatencyHigh"]["expr"]
    for name, alert in alerts.items():
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        assert alert["annotations"]["summary"], name


def test_recording_rules_referenced_by_alerts_exist() -> None:
    """An alert never reads a recording rule nobody records."""
    rules = _rules()
    recorded = {r["record"] for r in rules if "record" in r}
    for rule in rules:
        for selector in selectors(rule["expr"]):
            if ":" in selector.name:
                assert selector.name in recorded, selector.name


def test_the_expression_check_can_fail() -> None:
    """Typos in a series, a label or a bucket are caught."""
    known = exported_series()
    with pytest.raises(AssertionError, match="unknown series"):
        check_expression("rate(http_request_total[5m])", known)
    with pytest.raises(AssertionError, match="no label"):
        check_expression('rate(http_requests_total{code="500"}[5m])', known)
    with pytest.raises(AssertionError, match="no bucket"):
        check_expression('rate(http_request_duration_seconds_bucket{le="0.3"}[5m])', known)
    with pytest.raises(ValueError, match="parenthesis"):
        selectors("sum(rate(http_requests_total[5m])")


def _dashboard() -> dict[str, Any]:
    configmap = one(render("monitoring/local"), "ConfigMap", "kontaxa-services-dashboard")
    (text,) = configmap["data"].values()
    dashboard: dict[str, Any] = json.loads(text)
    return dashboard


def _grafana_to_promql(expr: str) -> str:
    """Grafana's variables replaced by values Prometheus would receive."""
    return expr.replace("$__rate_interval", "5m").replace("$service", ".*")


def test_dashboard_panels() -> None:
    """Request rate, errors, p50/p99, upstream latency and cache hit ratio, over real series."""
    dashboard = _dashboard()
    known = exported_series()
    known |= {r["record"]: {"service"} for r in _rules() if "record" in r}
    exprs = {panel["title"]: [t["expr"] for t in panel["targets"]] for panel in dashboard["panels"]}
    text = json.dumps(exprs)
    assert "rate(http_requests_total" in text
    assert 'status=~\\"5..\\"' in text
    assert "histogram_quantile(0.5," in text
    assert "histogram_quantile(0.99," in text
    assert "upstream_request_duration_seconds_bucket" in text
    assert 'result=\\"hit\\"' in text
    for panel_exprs in exprs.values():
        for expr in panel_exprs:
            check_expression(_grafana_to_promql(expr), known)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "service")
    match = re.search(r"label_values\((.+), (\w+)\)", variable["query"])
    assert match
    check_expression(match.group(1), known)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_reaches_the_grafana_sidecar(env: str) -> None:
    """The ConfigMap carries the label the sidecar is configured to load."""
    values = yaml.safe_load((K8S_ROOT / "monitoring/values/common.yaml").read_text())
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    configmap = one(render(f"monitoring/{env}"), "ConfigMap", "kontaxa-services-dashboard")
    assert configmap["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
    assert sidecar["enabled"] is True
    assert sidecar["searchNamespace"] == "ALL"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_prometheus_selects_the_services(env: str) -> None:
    """Both services have a PodMonitor; Prometheus selects monitors and rules by any label."""
    spec = yaml.safe_load((K8S_ROOT / "monitoring/values/common.yaml").read_text())["prometheus"][
        "prometheusSpec"
    ]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    monitors = {m["metadata"]["name"] for m in find(render(f"overlays/{env}"), "PodMonitor")}
    assert monitors == {"main-api", "aux-service"}


# ---- alert routing ----------------------------------------------------------------------------
# The keys prometheus-community/helm-charts kube-prometheus-stack-88.5.3
# charts/kube-prometheus-stack/values.yaml sets in alertmanager.config. The chart renders
# toYaml(alertmanager.config) (templates/alertmanager/secret.yaml, tplConfig false); Helm merges
# maps key by key and replaces lists, so setting each of them makes the rendered file ours.
CHART_ALERTMANAGER_CONFIG_KEYS = {
    "global": {"resolve_timeout"},
    "route": {"group_by", "group_wait", "group_interval", "repeat_interval", "receiver", "routes"},
    "inhibit_rules": set(),
    "receivers": set(),
    "templates": set(),
}
WEBHOOK_URL_FILE = "/etc/alertmanager/webhook/url"


def _monitoring_values(env: str) -> dict[str, Any]:
    """The kube-prometheus-stack values of an environment, in the Application's file order."""
    (app,) = find(render(f"monitoring/{env}"), "Application", "kube-prometheus-stack")
    files = app["spec"]["sources"][0]["helm"]["valueFiles"]
    return merge_values(
        *(
            yaml.safe_load((K8S_ROOT.parents[1] / f.removeprefix("$values/")).read_text())
            for f in files
        )
    )


def _amtool() -> tuple[str, tuple[int, ...]]:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (apt-get install prometheus-alertmanager)")
    out = subprocess.run([amtool, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"version (\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    assert match, out
    return amtool, tuple(int(part) for part in match.groups())


def _routes(env: str, tmp_path: Path, labels: dict[str, str]) -> str:
    """The receiver amtool's `config routes test` picks for an alert, over the rendered config."""
    amtool, version = _amtool()
    config = copy.deepcopy(_monitoring_values(env)["alertmanager"]["config"])
    if version < (0, 26, 0):
        # url_file arrived in Alertmanager 0.26.0 (prometheus/alertmanager CHANGELOG.md; the chart
        # runs v0.34.0, notify/webhook/config.go). Routing reads the route tree and receiver
        # names only, so an older amtool gets an inert url in its place.
        for receiver in config["receivers"]:
            for webhook in receiver.get("webhook_configs", []):
                webhook["url"] = "http://127.0.0.1:9/" + webhook.pop("url_file").lstrip("/")
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={path}"]
        + [f"{key}={value}" for key, value in labels.items()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alertmanager_config_is_entirely_ours(env: str) -> None:
    """Every key the chart's default config sets is set in the values: nothing of the chart's
    `null` route survives the merge; the webhook reads its URL from the optional Secret."""
    values = _monitoring_values(env)["alertmanager"]
    config = values["config"]
    assert set(config) == set(CHART_ALERTMANAGER_CONFIG_KEYS)
    for key, subkeys in CHART_ALERTMANAGER_CONFIG_KEYS.items():
        assert subkeys <= set(config[key]) if subkeys else config[key], key
    assert config["route"]["receiver"] == "default"
    (default,) = [r for r in config["receivers"] if r["name"] == "default"]
    assert default["webhook_configs"] == [{"url_file": WEBHOOK_URL_FILE, "send_resolved": True}]
    (volume,) = values["alertmanagerSpec"]["volumes"]
    assert volume["secret"] == {"secretName": "alertmanager-webhook", "optional": True}
    (mount,) = values["alertmanagerSpec"]["volumeMounts"]
    assert mount["name"] == volume["name"]
    assert f"{mount['mountPath']}/url" == WEBHOOK_URL_FILE


def _alert_labels() -> list[dict[str, str]]:
    """Every SLO alert of the rules, with the labels Prometheus sends (rule labels + alertname)."""
    return [
        {"alertname": rule["alert"], "namespace": "kontaxa", **rule.get("labels", {})}
        for rule in _rules()
        if "alert" in rule
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alerts_reach_the_webhook(env: str, tmp_path: Path) -> None:
    """amtool over the configuration the chart renders: every SLO alert and any other alert goes
    to the webhook receiver; only the heartbeats go to "null"."""
    alerts = _alert_labels()
    assert len(alerts) >= 5
    for labels in alerts:
        assert _routes(env, tmp_path, labels) == "default", labels
    other = {"alertname": "KubePodCrashLooping", "namespace": "monitoring", "severity": "warning"}
    assert _routes(env, tmp_path, other) == "default"
    for heartbeat in ("Watchdog", "InfoInhibitor"):
        assert _routes(env, tmp_path, {"alertname": heartbeat, "severity": "none"}) == "null"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_unreachable_control_plane_scrapes_are_off(env: str) -> None:
    """kind's and EKS's control-plane components and kube-proxy listen on 127.0.0.1 only (EKS
    runs kube-proxy with metricsBindAddress 127.0.0.1:10249): their scrapes would fire
    KubeProxyDown and TargetDown forever."""
    values = _monitoring_values(env)
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert values[component]["enabled"] is False, component


# ---- Grafana's admin password -----------------------------------------------------------------
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_grafana_admin_password_comes_from_secrets_manager(env: str) -> None:
    """No Secret for a person to create: with GF_SECURITY_ADMIN_PASSWORD__FILE and
    GF_SECURITY_ADMIN_USER in `env`, grafana-community/helm-charts grafana-12.11.1
    charts/grafana/templates/secret.yaml creates no admin Secret and templates/_pod.tpl refers
    to none (in Grafana or its sidecars); the file is the SecretProviderClass grafana-admin's
    object, the secret Terraform creates (modules/app-config), mounted before Grafana starts."""
    grafana = _monitoring_values(env)["grafana"]
    assert "admin" not in grafana, "admin.existingSecret would wait for a hand-made Secret"
    assert grafana["env"]["GF_SECURITY_ADMIN_USER"] == "admin"
    password_file = grafana["env"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    (mount,) = [m for m in grafana["extraSecretMounts"] if "csi" in m]
    assert mount["csi"]["driver"] == "secrets-store.csi.k8s.io"
    class_name = mount["csi"]["volumeAttributes"]["secretProviderClass"]
    monitoring = render(f"monitoring/{env}")
    spc = one(monitoring, "SecretProviderClass", class_name)
    assert spc["metadata"]["namespace"] == "monitoring"
    (secret,) = yaml.safe_load(spc["spec"]["parameters"]["objects"])
    assert password_file == f"{mount['mountPath']}/{secret['objectAlias']}"
    terraform = (K8S_ROOT.parents[0] / "terraform/modules/app-config/main.tf").read_text()
    assert secret["objectName"] == "kontaxa/grafana-admin"
    # One secret per key of secret_descriptions, named <name_prefix>/<key>.
    descriptions = re.search(r"secret_descriptions = \{\n(.*?)\n  \}\n", terraform, re.S)
    assert descriptions, "modules/app-config: no secret_descriptions map"
    assert re.search(r'^\s*"grafana-admin"\s*=', descriptions[1], re.M)
    assert 'name                    = "${var.name_prefix}/${each.key}"' in terraform
    # Without admin credentials the sidecars must not call the reload API; the init
    # containers load dashboards and datasources before Grafana starts (values.yaml of the
    # chart: "initDatasources ... needed if skipReload is true").
    for sidecar, init in (("dashboards", "initDashboards"), ("datasources", "initDatasources")):
        assert grafana["sidecar"][sidecar]["skipReload"] is True
        assert grafana["sidecar"][sidecar][init] is True
    stack = one(monitoring, "Application", "kube-prometheus-stack")
    assert int(spc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < int(
        stack["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
    )
    if env == "eks":
        # The official provider reads with the pod's own role (IRSA): Terraform's
        # module.grafana_irsa, for monitoring/kube-prometheus-stack-grafana (the chart's
        # fullname for release kube-prometheus-stack, _helpers.tpl grafana.fullname).
        role = grafana["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert re.fullmatch(r"arn:aws:iam::\d{12}:role/kontaxa-grafana", role)
