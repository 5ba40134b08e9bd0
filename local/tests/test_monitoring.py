"""The local Prometheus and Alertmanager configuration, generated from what the cluster deploys."""

import copy
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kontaxa_local import manifests, monitoring
from kontaxa_local.process_runtime import free_port
from kontaxa_local.procs import spawn, stop
from kontaxa_local.settings import OVERLAY

# The labels the Prometheus operator gives every PodMonitor target (before podTargetLabels and
# the endpoint's own relabelings).
OPERATOR_LABELS = {"namespace", "pod", "container", "job", "endpoint"}


@pytest.fixture(scope="module")
def overlay() -> list[manifests.Object]:
    return manifests.load(manifests.render(OVERLAY))


@pytest.fixture(scope="module")
def cluster() -> list[manifests.Object]:
    return monitoring.cluster_objects()


def _address(workload: manifests.Workload, port: int) -> str:
    """A stand-in host mapping: the container port, offset, so a wrong port shows."""
    return f"127.0.0.1:{port + 10000}"


def _jobs(objects: list[manifests.Object], interval: str | None = None) -> dict[str, Any]:
    jobs = monitoring.scrape_configs(objects, manifests.workloads(objects), _address, interval)
    return {job["job_name"]: job for job in jobs}


def test_one_job_per_podmonitor_with_the_operators_labels(
    overlay: list[manifests.Object],
) -> None:
    """Job names and target labels as prometheus-operator v0.93.0 generates them.

    prometheus-operator/prometheus-operator, tag v0.93.0 (kube-prometheus-stack 88.5.3 runs
    v0.93.1; the release-0.93 branch has no change to this file since v0.93.0),
    pkg/prometheus/promcfg.go, generatePodMonitorConfig: job_name `podMonitor/<ns>/<name>/<i>`;
    targets are the selected pods' container port named by the endpoint's `port`;
    relabelings set `namespace`, `container`, `pod` from the pod, `job` from the pod label
    named by jobLabel, `endpoint` from the port name; interval, timeout and path from the
    endpoint.
    """
    jobs = _jobs(overlay)
    monitors = [o for o in overlay if o["kind"] == "PodMonitor"]
    assert {m["metadata"]["name"] for m in monitors} == {"main-api", "aux-service"}
    assert set(jobs) == {f"podMonitor/kontaxa/{m['metadata']['name']}/0" for m in monitors}
    for monitor in monitors:
        name = monitor["metadata"]["name"]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        job = jobs[f"podMonitor/kontaxa/{name}/0"]
        assert job["metrics_path"] == endpoint["path"]
        assert job["scrape_interval"] == endpoint["interval"]
        assert job["scrape_timeout"] == endpoint["scrapeTimeout"]
        [group] = job["static_configs"]
        assert set(group["labels"]) == OPERATOR_LABELS
        assert group["labels"] == {
            "namespace": "kontaxa",
            "pod": manifests.pod_name(name),
            "container": name,
            "job": name,
            "endpoint": "metrics",
        }
        workload = next(w for w in manifests.workloads(overlay) if w.name == name)
        # The container port named in the PodMonitor, not the app port.
        assert group["targets"] == [f"127.0.0.1:{workload.ports[endpoint['port']] + 10000}"]
        assert workload.ports[endpoint["port"]] != workload.container_port


def test_the_rules_and_panels_label_filters_match_the_targets(
    overlay: list[manifests.Object], cluster: list[manifests.Object]
) -> None:
    """`up{namespace="kontaxa", job=~"main-api|aux-service"}` (KontaxaTargetDown) selects them."""
    jobs = _jobs(overlay)
    labels = [g["labels"] for job in jobs.values() for g in job["static_configs"]]
    assert {(lab["namespace"], lab["job"]) for lab in labels} == {
        ("kontaxa", "main-api"),
        ("kontaxa", "aux-service"),
    }


def _synthetic(
    overlay: list[manifests.Object], monitor_spec: dict[str, Any]
) -> list[manifests.Object]:
    """The overlay with a labelled main-api pod, a second port on it, and one more PodMonitor."""
    objects = copy.deepcopy(overlay)
    for item in objects:
        if item["kind"] == "Deployment" and item["metadata"]["name"] == "main-api":
            container = item["spec"]["template"]["spec"]["containers"][0]
            container["ports"].append({"name": "debug", "containerPort": 9100})
            labels = item["spec"]["template"]["metadata"]["labels"]
            labels.update({"team": "platform", "tier": "edge"})
    objects.append(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": {"name": "extra", "namespace": "observability"},
            "spec": monitor_spec,
        }
    )
    return objects


def test_the_optional_fields(overlay: list[manifests.Object]) -> None:
    """jobLabel, podTargetLabels, namespaceSelector, matchExpressions, portNumber.

    Same upstream function as above (promcfg.go v0.93.0): `job` is `<namespace>/<name>` unless
    the pod has a value for the label jobLabel names; podTargetLabels copy pod labels, names
    sanitized (sanitizeLabelName); `portNumber` keeps the container port of that number and
    sets no `endpoint`; a namespaceSelector with matchNames looks in those namespaces,
    without one only in the PodMonitor's own.
    """
    objects = _synthetic(
        overlay,
        {
            "jobLabel": "absent",
            "podTargetLabels": ["team", "app.kubernetes.io/component"],
            "namespaceSelector": {"matchNames": ["kontaxa"]},
            "selector": {
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["edge"]},
                    {"key": "app.kubernetes.io/name", "operator": "Exists"},
                ]
            },
            "podMetricsEndpoints": [{"portNumber": 9100, "path": "/metrics", "interval": "15s"}],
        },
    )
    job = _jobs(objects)["podMonitor/observability/extra/0"]
    [group] = job["static_configs"]
    assert group["targets"] == ["127.0.0.1:19100"]  # the port of that number
    assert group["labels"] == {
        "namespace": "kontaxa",
        "pod": "main-api-local",
        "container": "main-api",
        "team": "platform",
        "app_kubernetes_io_component": "api",
        "job": "observability/extra",
    }
    # Without a namespaceSelector it looks only in its own namespace: no targets.
    lonely = _synthetic(overlay, {"selector": {}, "podMetricsEndpoints": [{"port": "metrics"}]})
    assert _jobs(lonely)["podMonitor/observability/extra/0"]["static_configs"] == []


def test_local_interval_overrides_and_keeps_the_timeout_valid(
    overlay: list[manifests.Object],
) -> None:
    jobs = _jobs(overlay, interval="5s")
    assert jobs, "the local overlay gave no scrape job"
    for job in jobs.values():
        assert job["scrape_interval"] == "5s"
        assert "scrape_timeout" not in job  # 10s would exceed the interval: Prometheus's default


def test_rule_files_are_the_clusters_groups(cluster: list[manifests.Object]) -> None:
    """Byte for byte the PrometheusRule's spec.groups; the local interval changes only interval."""
    [rule] = [o for o in cluster if o["kind"] == "PrometheusRule"]
    files = monitoring.rule_files(cluster, None)
    assert files == {"monitoring-kontaxa-slo.yaml": {"groups": rule["spec"]["groups"]}}
    local = monitoring.rule_files(cluster, "5s")["monitoring-kontaxa-slo.yaml"]["groups"]
    assert [g["interval"] for g in local] == ["5s"] * len(local)
    for mine, theirs in zip(local, rule["spec"]["groups"], strict=True):
        assert {k: v for k, v in mine.items() if k != "interval"} == {
            k: v for k, v in theirs.items() if k != "interval"
        }


def test_values_come_from_the_applications_value_files(cluster: list[manifests.Object]) -> None:
    values = monitoring.chart_values(cluster)
    # common.yaml, then local.yaml (the local overlay's patch appends it).
    assert values["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False
    assert monitoring.retention(values) == "1d"


def test_chart_default_route_when_the_values_set_none() -> None:
    """kube-prometheus-stack 88.5.3's default `alertmanager.config`.

    prometheus-community/helm-charts, tag kube-prometheus-stack-88.5.3,
    charts/kube-prometheus-stack/values.yaml, `alertmanager.config`: route grouped by
    namespace, group_wait 30s, receiver "null" (no integration), Watchdog routed to "null".
    """
    config = monitoring.alertmanager_config({}, "http://127.0.0.1:1")
    route = config["route"]
    assert (route["receiver"], route["group_by"], route["group_wait"]) == (
        "null",
        ["namespace"],
        "30s",
    )
    assert route["routes"] == [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    assert config["receivers"] == [
        {
            "name": "null",
            "webhook_configs": [{"url": "http://127.0.0.1:1/null", "send_resolved": True}],
        }
    ]


def test_the_values_routing_wins_and_every_receiver_is_local() -> None:
    """A receiver reading a mounted secret (the cluster's) becomes the local sink, name kept."""
    values = {
        "alertmanager": {
            "config": {
                "global": {"resolve_timeout": "2m", "slack_api_url_file": "/etc/x"},
                "route": {"receiver": "oncall", "group_wait": "10s"},
                "receivers": [
                    {"name": "null"},
                    {
                        "name": "oncall",
                        "webhook_configs": [{"url_file": "/etc/alertmanager/secrets/w/url"}],
                    },
                ],
                "templates": ["/etc/alertmanager/config/*.tmpl"],
            }
        }
    }
    config = monitoring.alertmanager_config(values, "http://127.0.0.1:7")
    assert config["route"]["receiver"] == "oncall"
    assert config["route"]["group_wait"] == "10s"
    assert config["route"]["routes"][0]["receiver"] == "null"  # Helm merges maps
    assert config["global"] == {"resolve_timeout": "2m"}
    assert "templates" not in config
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
    assert urls == {"null": "http://127.0.0.1:7/null", "oncall": "http://127.0.0.1:7/oncall"}
    assert "/etc/" not in json.dumps(config)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install prometheus prometheus-alertmanager)")
    return path


def test_promtool_and_amtool_accept_the_generated_files(
    overlay: list[manifests.Object], tmp_path: Path
) -> None:
    """`promtool check config` (which checks the rule files it names) and `amtool check-config`."""
    promtool, amtool = _tool("promtool"), _tool("amtool")
    generated = monitoring.generate(
        overlay,
        manifests.workloads(overlay),
        _address,
        alertmanager_address="127.0.0.1:9093",
        sink_url="http://127.0.0.1:9095",
        interval="5s",
        directory=tmp_path,
    )
    paths = generated.write(tmp_path)
    checked = subprocess.run(
        [promtool, "check", "config", str(paths["prometheus.yml"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr
    rules = [str(p) for n, p in paths.items() if n.startswith("rules/")]
    checked = subprocess.run(
        [promtool, "check", "rules", *rules], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    checked = subprocess.run(
        [amtool, "check-config", str(paths["alertmanager.yml"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """promtool refuses a broken rule: the check above is not a rubber stamp."""
    promtool = _tool("promtool")
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(\n")
    checked = subprocess.run(
        [promtool, "check", "rules", str(bad)], capture_output=True, text=True, check=False
    )
    assert checked.returncode != 0


def _request(url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_alert_sink_keeps_each_notification_by_receiver(tmp_path: Path) -> None:
    port = free_port()
    record = tmp_path / "alerts.jsonl"
    command = [sys.executable, "-m", "kontaxa_local.alert_sink", "--port", str(port)]
    process = spawn(
        "alert-sink", [*command, "--record", str(record)], {}, tmp_path / "log", tmp_path
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if _request(base + "/-/ready")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        notification = {"status": "firing", "alerts": [{"labels": {"alertname": "X"}}]}
        assert _request(base + "/oncall", json.dumps(notification).encode()) == (
            200,
            {"status": "received"},
        )
        status, body = _request(base + "/oncall", b"not json")
        assert status == 400
        assert "not JSON" in body["error"]
        status, received = _request(base + "/")
        assert status == 200
        assert [(r["receiver"], r["notification"]) for r in received] == [("oncall", notification)]
        assert json.loads(record.read_text())["receiver"] == "oncall"
    finally:
        stop(process)


def test_where_nothing_can_install_them_one_line_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No prometheus and no apt-get on PATH: a reason, no exception, nothing run."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert monitoring.missing_binaries() == ["prometheus", "prometheus-alertmanager"]
    reason = monitoring.install(tmp_path / "apt.log")
    assert reason == (
        "prometheus and prometheus-alertmanager not installed, "
        "and there is no apt-get to install them"
    )
    assert not (tmp_path / "apt.log").exists()


def test_scrape_addresses_follow_the_process_runtimes_port_mapping(
    overlay: list[manifests.Object], tmp_path: Path
) -> None:
    """The first container port is the process's PORT, the metrics port METRICS_PORT's own host
    port; another stays where the manifest says."""
    from kontaxa_local.executor import Executor
    from kontaxa_local.process_runtime import ProcessRuntime
    from kontaxa_local.settings import Settings

    runtime = ProcessRuntime(Settings(state_dir=tmp_path), Executor())
    main = next(w for w in manifests.workloads(overlay) if w.name == "main-api")
    ports = {"main-api": 18080, "main-api-metrics": 19100}
    assert runtime.host_address(main, main.container_port, ports) == "127.0.0.1:18080"
    assert runtime.host_address(main, main.ports["metrics"], ports) == "127.0.0.1:19100"
    assert runtime.host_address(main, 9100, ports) == "127.0.0.1:9100"
    assert runtime.listen_env(main, ports) == {
        "HOST": "127.0.0.1",
        "PORT": "18080",
        "METRICS_PORT": "19100",
    }
    assigned = runtime.host_ports(manifests.workloads(overlay))
    assert {"main-api-metrics", "aux-service-metrics"} <= set(assigned)
    assert len(set(assigned.values())) == len(assigned), "side by side: distinct host ports"
