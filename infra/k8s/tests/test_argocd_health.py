"""The health checks argocd-cm adds, run in a real Lua interpreter (lupa) as Argo CD runs them.

Argo CD (argoproj/argo-cd v3.4.7, util/lua/lua.go) runs a health customization with the live
object as the global `obj` and reads `status` and `message` from the table it returns.
"""

import re
from typing import Any

import lupa
import pytest
import yaml
from k8s_manifests import K8S_ROOT

ARGOCD_CM = K8S_ROOT / "argocd/install/argocd-cm.yaml"
HEALTH = "resource.customizations.health."


def _health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    script = yaml.safe_load(ARGOCD_CM.read_text())["data"][HEALTH + kind]
    lua = lupa.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return str(result["status"]), str(result["message"])


def _prometheus(*conditions: dict[str, str]) -> dict[str, Any]:
    return {"kind": "Prometheus", "status": {"conditions": list(conditions)}}


RECONCILED = {"type": "Reconciled", "status": "True"}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"kind": "Prometheus"}, "Progressing"),
        # Pods starting: upstream's health.lua (resource_customizations/monitoring.coreos.com/
        # Prometheus/health.lua, v3.4.7) says Degraded here, which fails a first sync's wave.
        (
            _prometheus(
                {"type": "Available", "status": "False", "reason": "NoPodReady"}, RECONCILED
            ),
            "Progressing",
        ),
        (
            _prometheus(
                {"type": "Available", "status": "Degraded", "reason": "SomePodsNotReady"},
                RECONCILED,
            ),
            "Progressing",
        ),
        (_prometheus({"type": "Available", "status": "True"}, RECONCILED), "Healthy"),
        (
            _prometheus(
                {"type": "Available", "status": "True"},
                {"type": "Reconciled", "status": "False", "reason": "ReconciliationFailed"},
            ),
            "Degraded",
        ),
    ],
    ids=["new", "no-pod-ready", "some-pods-not-ready", "available", "not-reconciled"],
)
def test_prometheus_is_progressing_while_its_pods_start(obj: dict[str, Any], expected: str) -> None:
    status, message = _health("monitoring.coreos.com_Prometheus", obj)
    assert status == expected
    assert message


@pytest.mark.parametrize(
    ("health", "expected"),
    [(None, "Progressing"), ("Degraded", "Degraded"), ("Healthy", "Healthy")],
)
def test_application_health_follows_the_child(health: str | None, expected: str) -> None:
    obj: dict[str, Any] = {"kind": "Application"}
    if health:
        obj["status"] = {"health": {"status": health, "message": "m"}}
    assert _health("argoproj.io_Application", obj)[0] == expected


def test_the_argo_cd_pin_is_one_whose_built_in_checks_were_reviewed() -> None:
    """The overrides above were written against the built-in checks of the pinned release.

    At v3.4.7 the HPA check (gitops-engine health_hpa.go) stops at the first condition it
    knows, so a new HPA (AbleToScale=True before ScalingActive=False while metrics-server has
    no data) is Healthy. argoproj/argo-cd#26274 (merged 2026-02, first in v3.5.0) checks the
    degraded conditions first: that HPA is Degraded and fails the services' wave of a first
    sync; argoproj/argo-cd#28446 (merged 2026-06) adds an Alertmanager check whose rule
    (Degraded unless SomePodsNotReady) is the one overridden here for Prometheus. Bumping
    the pin means reviewing those checks and adding overrides.
    """
    install = (K8S_ROOT / "argocd/install/kustomization.yaml").read_text()
    pinned = sorted(
        set(re.findall(r"argoproj/argo-cd/(v[0-9.]+)/manifests/install\.yaml", install))
    )
    assert pinned == ["v3.4.7"], (
        f"Argo CD pinned at {pinned}: review its built-in HPA and Alertmanager health checks "
        "(argoproj/argo-cd#26274, #28446) against a first sync, add overrides to argocd-cm, then "
        "update this test"
    )
