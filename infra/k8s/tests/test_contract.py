"""What the services and the process-mode runner read from the manifests, checked against the code.

A wrong env name, port, probe path or secret file name fails here, not only in a
cluster: the env each container gets is validated by the service's own Settings
class, the probe paths are routes of the app those settings build, and the secret
file names come from the secrets provider's own parser of the SecretProviderClass.
"""

import importlib
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from k8s_manifests import ENVIRONMENTS, K8S_ROOT, Obj, find, generated, one, pod_spec, render
from pydantic_settings import BaseSettings

from kontaxa_common.secrets import SERVICE_TOKEN_FILE
from main_api.config import API_KEY_FILE_PREFIX
from secrets_provider.objects import parse_objects

SERVICES = {"main-api": "main_api", "aux-service": "aux_service"}

# Set by the manifests although no Settings class declares them: boto3 reads these
# itself. Only ever from the emulator-credentials Secret (a test below checks it).
BOTO3_CREDENTIALS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}

# The secret files each service reads (see the contract in services/*/config.py).
SECRET_FILES = {
    "main-api": {"service-token", "api-keys", "api-key-primary", "api-key-secondary"},
    "aux-service": {"service-token"},
}


def _settings_class(module: str) -> type[BaseSettings]:
    settings: type[BaseSettings] = importlib.import_module(f"{module}.config").Settings
    return settings


def _container_env(objects: tuple[Obj, ...], container: Obj) -> dict[str, tuple[str, Any]]:
    """Every env var of a container with where it comes from: ("configmap"|"secret"|"value", v)."""
    env: dict[str, tuple[str, Any]] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = one(objects, "ConfigMap", source["configMapRef"]["name"])["data"]
            env.update({k: ("configmap", v) for k, v in data.items()})
        elif "secretRef" in source:
            secret = one(objects, "Secret", source["secretRef"]["name"])
            env.update({k: ("secret", source["secretRef"]["name"]) for k in secret["data"]})
        else:
            pytest.fail(f"unexpected envFrom source {source}")
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = ("value", item["value"])
        else:
            ref = item["valueFrom"].get("secretKeyRef") or item["valueFrom"]["configMapKeyRef"]
            kind = "secret" if "secretKeyRef" in item["valueFrom"] else "configmap"
            env[item["name"]] = (kind, ref["name"])
    return env


def _check_env(env: dict[str, tuple[str, Any]], settings: type[BaseSettings]) -> None:
    """Every variable is a Settings field (or a boto3 credential from the emulator Secret)."""
    fields = {name.upper() for name in settings.model_fields}
    for name, (origin, value) in env.items():
        if name in BOTO3_CREDENTIALS:
            assert (origin, value) == ("secret", "emulator-credentials"), name
            continue
        assert name in fields, f"{name} is not a field of {settings.__module__}.Settings"
        assert origin != "secret", f"{name}: secrets are files, never env"


def _settings_of(objects: tuple[Obj, ...], container: Obj, module: str) -> Any:
    """The settings a container's plain env (ConfigMaps and values) builds, defaults for the
    rest."""
    env = _container_env(objects, container)
    values = {k.lower(): v for k, (origin, v) in env.items() if origin in ("configmap", "value")}
    return _settings_class(module)(_env_file=None, **values)  # type: ignore[call-arg]


def _effective(objects: tuple[Obj, ...], service: str) -> Any:
    """The settings a service's container gets."""
    (container,) = pod_spec(one(objects, "Deployment", service))["containers"]
    return _settings_of(objects, container, SERVICES[service])


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_container_command_env_and_port(env_name: str, service: str) -> None:
    """python -m <module>; env made of Settings fields that validate; ports http and metrics."""
    objects = render(f"overlays/{env_name}")
    module = SERVICES[service]
    settings_class = _settings_class(module)
    (container,) = pod_spec(one(objects, "Deployment", service))["containers"]
    assert container["command"] == ["python", "-m", module]
    assert "args" not in container
    env = _container_env(objects, container)
    _check_env(env, settings_class)
    # The runner sets HOST, PORT and METRICS_PORT itself; the container relies on the defaults.
    assert "PORT" not in env
    assert "HOST" not in env
    assert "METRICS_PORT" not in env
    assert settings_class.model_fields["port"].default == 8080
    assert settings_class.model_fields["metrics_port"].default == 9090
    assert container["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]
    settings = _settings_of(objects, container, module)
    assert settings.secrets_dir.as_posix() == "/mnt/secrets"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert settings.secrets_dir.as_posix() in mounts


def test_env_check_can_fail() -> None:
    """A name that is not a Settings field, or a secret as env, is refused."""
    settings_class = _settings_class("main_api")
    with pytest.raises(AssertionError, match="AUX_SERVICE_ULR"):
        _check_env({"AUX_SERVICE_ULR": ("configmap", "x")}, settings_class)
    with pytest.raises(AssertionError):
        _check_env({"AWS_ACCESS_KEY_ID": ("value", "x")}, settings_class)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_probe_paths_are_routes_and_metrics_are_not(service: str) -> None:
    """The probe paths are routes of the app the env builds; the PodMonitor's path is not
    (the metrics listener serves it, on the metrics port)."""
    objects = render("overlays/local")
    module = SERVICES[service]
    app_module = importlib.import_module(f"{module}.app")
    app = app_module.create_app(_settings_class(module)(_env_file=None))  # type: ignore[call-arg]
    # Included routers are resolved lazily; the OpenAPI document lists their paths.
    routes = set(app.openapi()["paths"]) | {getattr(r, "path", None) for r in app.routes}
    (container,) = pod_spec(one(objects, "Deployment", service))["containers"]
    probes = [container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")]
    probes.append(container["startupProbe"]["httpGet"]["path"])
    for path in probes:
        assert path in routes, f"{service} serves no {path}"
    monitor = one(objects, "PodMonitor", service)
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        assert endpoint["path"] not in routes, f"{service} serves {endpoint['path']} publicly"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_secret_files(env_name: str, service: str) -> None:
    """The SecretProviderClass mounts exactly the files the service reads, at SECRETS_DIR."""
    objects = render(f"overlays/{env_name}")
    pod = pod_spec(one(objects, "Deployment", service))
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if "csi" in volumes[m["name"]]]
    class_name = volumes[mount["name"]]["csi"]["volumeAttributes"]["secretProviderClass"]
    spc = one(objects, "SecretProviderClass", class_name)
    assert spc["spec"]["provider"] == "aws"
    parameters = spc["spec"]["parameters"]
    parsed = parse_objects(parameters["objects"], region=parameters["region"])
    files = {o.file_name for o in parsed} | {j.file_name for o in parsed for j in o.jmes_path}
    assert files == SECRET_FILES[service]
    assert SERVICE_TOKEN_FILE in files
    if service == "main-api":
        assert any(f.startswith(API_KEY_FILE_PREFIX) for f in files)
    config = generated(objects, "ConfigMap", f"{service}-config")["data"]
    assert mount["mountPath"] == config["SECRETS_DIR"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_selects_the_pods(env_name: str, service: str) -> None:
    """Service port 8080 -> http only (no metrics), selector matching the pods."""
    objects = render(f"overlays/{env_name}")
    svc = one(objects, "Service", service)
    labels = one(objects, "Deployment", service)["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    account = one(objects, "ServiceAccount", service)
    assert pod_spec(one(objects, "Deployment", service))["serviceAccountName"] == service
    assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_aux_service_url_names_the_service(env_name: str) -> None:
    """main-api's AUX_SERVICE_URL is aux-service's Service and port."""
    objects = render(f"overlays/{env_name}")
    url = urlsplit(generated(objects, "ConfigMap", "main-api-config")["data"]["AUX_SERVICE_URL"])
    assert url.scheme == "http"
    assert url.hostname == "aux-service"
    svc = one(objects, "Service", "aux-service")
    assert url.port == svc["spec"]["ports"][0]["port"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_timeouts_nest(env_name: str) -> None:
    """Each layer gives up before the one above it: botocore's attempts fit in aux-service's
    AWS deadline, which ends half a second before main-api's read timeout of aux-service.

    Otherwise a slow AWS reaches the client as main-api's own timeout: aux-service's answer
    (504 `aws_timeout`) is never read, and aux-service goes on working for a caller that has
    left; and a retry of a slow AWS read never happens inside the deadline.
    """
    objects = render(f"overlays/{env_name}")
    aux = _effective(objects, "aux-service")
    main = _effective(objects, "main-api")
    attempt = aux.aws_connect_timeout_seconds + aux.aws_read_timeout_seconds
    # 0.1 s left for botocore's backoff between attempts (under 50 ms) and the scheduling.
    assert aux.aws_max_attempts * attempt + 0.1 <= aux.aws_deadline_seconds, env_name
    assert aux.aws_deadline_seconds + 0.5 <= main.aux_read_timeout_seconds, env_name


def _emulator_service(url: str, platform: tuple[Obj, ...]) -> Obj:
    """The Service an in-cluster URL names (<name>.<namespace>.svc:<port>)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    name, namespace, svc_suffix = parts.hostname.split(".")[:3]
    assert svc_suffix == "svc"
    matches = [
        s
        for s in find(platform, "Service", name)
        if s["metadata"]["namespace"] == namespace
        and parts.port in {p["port"] for p in s["spec"]["ports"]}
    ]
    assert matches, f"{url}: no Service {namespace}/{name} on port {parts.port}"
    return matches[0]


def test_local_aws_endpoint_is_the_emulator() -> None:
    """aux-service in kind talks to the emulator Service that the local platform deploys."""
    url = generated(render("overlays/local"), "ConfigMap", "aux-service-config")["data"][
        "AWS_ENDPOINT_URL"
    ]
    platform = render("platform/local")
    service = _emulator_service(url, platform)
    emulator = one(platform, "Deployment", service["metadata"]["name"])
    assert service["spec"]["selector"].items() <= (
        emulator["spec"]["template"]["metadata"]["labels"].items()
    )


def test_secrets_provider_daemonset() -> None:
    """The drop-in provider: its Settings, the driver's providers dir, socket aws.sock."""
    platform = render("platform/local")
    daemonset = one(platform, "DaemonSet", "kontaxa-secrets-provider")
    pod = pod_spec(daemonset)
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "secrets_provider"]
    assert container["image"].startswith("kontaxa/secrets-provider:")
    env = _container_env(platform, container)
    _check_env(env, _settings_class("secrets_provider"))
    values = {k: v for k, (origin, v) in env.items() if origin == "value"}
    assert values["PROVIDER_NAME"] == "aws"
    aux_url = generated(render("overlays/local"), "ConfigMap", "aux-service-config")["data"][
        "AWS_ENDPOINT_URL"
    ]
    assert values["AWS_ENDPOINT_URL"] == aux_url
    _emulator_service(values["AWS_ENDPOINT_URL"], platform)
    driver_values = yaml.safe_load(
        (K8S_ROOT / "platform/values/secrets-store-csi-driver/common.yaml").read_text()
    )
    providers_dir = driver_values["linux"]["providersDir"]
    assert values["PROVIDER_DIR"] == providers_dir
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if "hostPath" in volumes[m["name"]]]
    assert mount["mountPath"] == providers_dir
    assert volumes[mount["name"]]["hostPath"]["path"] == providers_dir
    socket = f"{providers_dir}/{values['PROVIDER_NAME']}.sock"
    assert container["readinessProbe"]["exec"]["command"] == ["test", "-S", socket]
    account = one(platform, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False
    # No Kubernetes API access at all: nothing binds a role to the provider's account.
    for binding in find(platform, "ClusterRoleBinding") + find(platform, "RoleBinding"):
        assert pod["serviceAccountName"] not in str(binding)
    # EKS runs the official provider instead.
    assert not find(render("platform/eks"), "DaemonSet", "kontaxa-secrets-provider")
