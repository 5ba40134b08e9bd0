"""Each image runs as its pod does: read-only root, non-root, no capabilities, and serves."""

import json
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from catalog import ROOT, SERVICE, ServiceImage

from kontaxa_e2e.docker_run import (
    RunningContainer,
    docker,
    network,
    run_container,
    running_container,
)
from kontaxa_e2e.emulator import CREDENTIALS, Emulator
from kontaxa_e2e.inprocess import PREFIX, Keys, seed
from kontaxa_local.settings import REGION

pytestmark = [pytest.mark.timeout(1800), pytest.mark.usefixtures("built_images")]

# PID 1's threads (the service): each one's name and scheduling policy, as JSON.
THREAD_POLICIES = (
    "import json, os; tasks = os.listdir('/proc/1/task'); print(json.dumps(["
    "[open(f'/proc/1/task/{t}/comm').read().strip(), os.sched_getscheduler(int(t))] "
    "for t in tasks]))"
)
HTTP_SERVICES = [pytest.param(SERVICE[name], id=name) for name in ("main-api", "aux-service")]


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def image_labels(image: str) -> dict[str, str]:
    labels: dict[str, str] = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Labels}}", image)
    )
    return labels


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """The files the CSI driver mounts for main-api (a superset of aux-service's)."""
    directory = Keys().write(tmp_path / "secrets")
    directory.chmod(0o755)  # pytest makes 0700 folders; uid 10001 must read this one
    return directory


def assert_hardened(container: RunningContainer) -> None:
    """The container runs as the manifests' securityContext says."""
    host_config = container.inspect()["HostConfig"]
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host_config["SecurityOpt"]
    assert container.exec("id", "-u").stdout.strip() == "10001"
    status = container.exec("cat", "/proc/1/status").stdout
    effective = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    assert int(effective.split()[1], 16) == 0, effective
    assert "10001" in next(line for line in status.splitlines() if line.startswith("Uid:"))
    for path in ("/app/written", "/opt/venv/written", "/written"):
        assert container.exec("touch", path).returncode != 0, f"{path} is writable"
    assert container.exec("touch", "/tmp/written").returncode == 0, "/tmp must be writable"


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_http_service_runs_hardened_and_answers_health(
    service: ServiceImage, secrets_dir: Path
) -> None:
    labels = image_labels(service.ref)
    with running_container(service.ref, secrets_dir=secrets_dir) as container:
        assert_hardened(container)
        assert container.url
        status, body = get_json(container.url + "/health")
        assert status == 200
        assert body["status"] == "ok"
        meta = body["meta"]
        # The image's own version metadata, defaulted from its labels (ConfigMaps override).
        assert meta[f"{service.module}_version"] == labels["org.opencontainers.image.version"]
        assert meta["git_sha"] == labels["org.opencontainers.image.revision"]
        assert meta["build_time"] == labels["org.opencontainers.image.created"]
        # Every thread of the service under SCHED_BATCH (CPU_BATCH_SCHEDULING): the hardened
        # container (no capabilities, the engine's default seccomp profile) permits it. main-api's
        # /version asks aux-service (absent here), so its client's thread has started too.
        assert get_json(container.url + "/version")[0] == 200
        threads = json.loads(container.exec("python", "-c", THREAD_POLICIES).stdout)
        assert {policy for _, policy in threads} == {3}, f"policies (3: SCHED_BATCH): {threads}"
        if service.module == "main_api":
            assert "pyreqwest" in {name for name, _ in threads}, threads
        started = time.monotonic()
        exit_code = container.stop(timeout=15)
    # uvicorn is PID 1 and handles SIGTERM itself: a clean, quick exit, never a SIGKILL.
    assert exit_code == 0
    assert time.monotonic() - started < 10


def test_configmap_values_override_image_defaults(secrets_dir: Path) -> None:
    env = {"APP_VERSION": "9.9.9", "GIT_SHA": "f" * 40, "BUILD_TIME": "2030-01-01T00:00:00Z"}
    with running_container(SERVICE["aux-service"].ref, env=env, secrets_dir=secrets_dir) as aux:
        assert aux.url
        _, body = get_json(aux.url + "/health")
    assert body["meta"]["aux_service_version"] == "9.9.9"
    assert body["meta"]["git_sha"] == "f" * 40


def test_secrets_provider_serves_the_csi_api_on_its_socket(tmp_path: Path) -> None:
    import grpc  # the secrets provider's own dependency: a failed import is a broken venv

    from secrets_provider.v1alpha1 import service_pb2, service_pb2_grpc

    provider = SERVICE["secrets-provider"]
    socket_dir = tmp_path / "providers"
    socket_dir.mkdir()
    socket_dir.chmod(0o777)  # the provider (uid 10001) creates its socket here
    container = run_container(
        provider.ref,
        container_port=None,
        ready_path=None,
        volumes=[(socket_dir, "/var/run/secrets-store-csi-providers", "rw")],
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": REGION},
    )
    try:
        assert_hardened(container)
        socket = socket_dir / "aws.sock"
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert time.monotonic() < deadline, "no socket after 30s:\n" + container.logs()
            time.sleep(0.1)
        with grpc.insecure_channel(f"unix://{socket}") as channel:
            stub = service_pb2_grpc.CSIDriverProviderStub(channel)
            answer = stub.Version(service_pb2.VersionRequest(version="v1alpha1"), timeout=10)
        project = tomllib.loads((ROOT / "services/secrets-provider/pyproject.toml").read_text())
        assert answer.runtime_name == "kontaxa-secrets-provider"
        # Installed as a distribution, so the provider knows its own version.
        assert answer.runtime_version == project["project"]["version"]
        assert container.stop(timeout=15) == 0
        assert not socket.exists(), "the provider removes its socket on SIGTERM"
    finally:
        container.stop()


def test_services_work_together_against_the_emulator_on_the_host(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Host network: the containers reach moto on the host's loopback, as the process runtime."""
    data = seed(emulator)
    keys = Keys()
    secrets = keys.write(tmp_path / "secrets")
    secrets.chmod(0o755)
    aws = {
        "AWS_ENDPOINT_URL": emulator.url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "PARAMETER_PREFIX": PREFIX,
    }
    with running_container(
        SERVICE["aux-service"].ref, network="host", env=aws, secrets_dir=secrets
    ) as aux:
        assert aux.url
        aux.wait_ready("/ready", timeout=30)
        with running_container(
            SERVICE["main-api"].ref,
            network="host",
            secrets_dir=secrets,
            env={"AUX_SERVICE_URL": aux.url},
        ) as main:
            assert main.url
            main.wait_ready("/ready", timeout=30)
            auth = {"Authorization": f"Bearer {keys.api_keys['primary']}"}
            status, body = get_json(main.url + "/parameters/welcome-message", auth)
            assert status == 200, body
            assert body["parameter"]["value"] == data.strings["welcome-message"]
            status, _ = get_json(main.url + "/parameters/welcome-message")
            assert status == 401


def test_services_find_each_other_by_name_on_a_docker_network(secrets_dir: Path) -> None:
    """main-api reaches aux-service at the manifests' URL, http://aux-service:8080."""
    with (
        network() as name,
        running_container(
            SERVICE["aux-service"].ref,
            network=name,
            aliases=["aux-service"],
            secrets_dir=secrets_dir,
        ),
        running_container(
            SERVICE["main-api"].ref,
            network=name,
            aliases=["main-api"],
            secrets_dir=secrets_dir,
            env={"AUX_SERVICE_URL": "http://aux-service:8080"},
        ) as main,
    ):
        assert main.url
        main.wait_ready("/ready", timeout=30)
        get_json(main.url + "/version")  # a call to aux-service by its name
        status, body = get_json(main.url + "/health")
    assert status == 200
    assert body["checks"]["aux_service"] == "ok"
