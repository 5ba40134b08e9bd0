"""The rendered local overlay, read as the process runtime reads it."""

import pytest

from kontaxa_local import manifests
from kontaxa_local.errors import StepFailed
from kontaxa_local.settings import OVERLAY


@pytest.fixture(scope="module")
def objects() -> list[manifests.Object]:
    return manifests.load(manifests.render(OVERLAY))


def test_both_services_are_runnable(objects: list[manifests.Object]) -> None:
    by_name = {w.name: w for w in manifests.workloads(objects)}
    assert set(by_name) == {"main-api", "aux-service"}
    main, aux = by_name["main-api"], by_name["aux-service"]
    assert main.command == ["python", "-m", "main_api"]
    assert aux.command == ["python", "-m", "aux_service"]
    assert (main.readiness_path, main.readiness_port, main.container_port) == ("/ready", 8080, 8080)
    assert main.env["AUX_SERVICE_URL"] == "http://aux-service:8080"
    assert main.env["SECRETS_DIR"] == "/mnt/secrets"
    assert aux.env["AWS_ACCESS_KEY_ID"] == "test"  # from the emulator-credentials Secret
    assert aux.env["AWS_ENDPOINT_URL"].startswith("http://aws-emulator.")
    csi = [m for m in main.mounts if m.kind == "csi-secrets"]
    assert [m.path for m in csi] == ["/mnt/secrets"]


def test_secret_provider_parameters(objects: list[manifests.Object]) -> None:
    parameters = manifests.secret_provider_parameters(objects, "kontaxa", "main-api-secrets")
    assert "kontaxa/service-token" in parameters["objects"]
    assert "api-key-primary" in parameters["objects"]


def test_service_routes_point_at_local_ports(objects: list[manifests.Object]) -> None:
    workloads = manifests.workloads(objects)
    routes = manifests.service_routes(objects, {"main-api": 9001, "aux-service": 9002}, workloads)
    assert routes["http://aux-service:8080"] == "http://127.0.0.1:9002"
    assert routes["http://aux-service.kontaxa.svc.cluster.local:8080"] == "http://127.0.0.1:9002"
    assert routes["http://main-api.kontaxa:8080"] == "http://127.0.0.1:9001"


def _deployment(**container: object) -> manifests.Object:
    base = {
        "name": "c",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
    }
    return {
        "kind": "Deployment",
        "metadata": {"name": "svc", "namespace": "ns"},
        "spec": {
            "template": {"metadata": {"labels": {}}, "spec": {"containers": [base | container]}}
        },
    }


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"envFrom": [{"configMapRef": {"name": "missing"}}]}, "ConfigMap ns/missing"),
        ({"readinessProbe": {"httpGet": {"path": "/ready", "port": "web"}}}, "port 'web'"),
        ({"ports": []}, "declares no port"),
        ({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, "names no volume"),
    ],
)
def test_wrong_manifests_fail_here(container: dict[str, object], message: str) -> None:
    with pytest.raises(StepFailed, match=message):
        manifests.workloads([_deployment(**container)])


def test_env_expansion_and_secret_refs() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns"},
        "data": {"K": "dmFsdWU="},
    }
    deployment = _deployment(
        env=[
            {"name": "A", "value": "one"},
            {"name": "B", "value": "$(A)-two"},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "K"}}},
            {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ]
    )
    (workload,) = manifests.workloads([deployment, secret])
    assert workload.env == {"A": "one", "B": "one-two", "C": "value", "D": "127.0.0.1"}
