"""The gRPC provider as the CSI driver uses it: a real process on a temporary unix socket."""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import grpc
import pytest

from secrets_provider.config import Settings
from secrets_provider.server import create_server
from secrets_provider.v1alpha1 import service_pb2, service_pb2_grpc

REGION = "us-east-1"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a unix socket path holds at most 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="sp-", dir="/tmp") as directory:
        yield Path(directory)


def start_provider(socket_dir: Path, moto_url: str, log: Path) -> subprocess.Popen[bytes]:
    """`python -m secrets_provider` with the emulator's endpoint and dummy credentials."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "LOG_LEVEL": "DEBUG",
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "secrets_provider", "--socket-dir", str(socket_dir)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    socket_path = socket_dir / "aws.sock"
    deadline = time.monotonic() + 20
    while not socket_path.exists():
        if process.poll() is not None:
            pytest.fail(f"provider exited {process.returncode}: {log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"provider did not create {socket_path}: {log.read_text()}")
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@dataclass
class RunningProvider:
    """A client of the provider process, and the file its output goes to."""

    stub: service_pb2_grpc.CSIDriverProviderStub
    log: Path
    socket: Path


@pytest.fixture(scope="module")
def provider(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    """A provider process serving <dir>/aws.sock (LOG_LEVEL=DEBUG), and a client stub of it."""
    socket_dir = Path(tempfile.mkdtemp(prefix="sp-", dir="/tmp"))
    log = tmp_path_factory.mktemp("provider") / "provider.log"
    process = start_provider(socket_dir, moto_url, log)
    channel = grpc.insecure_channel(f"unix://{socket_dir / 'aws.sock'}")
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = service_pb2_grpc.CSIDriverProviderStub(channel)
        yield RunningProvider(stub, log, socket_dir / "aws.sock")
    finally:
        channel.close()
        stop(process)
        for leftover in socket_dir.iterdir():
            leftover.unlink()
        socket_dir.rmdir()


def mount_request(
    objects: str,
    target_path: Path,
    current: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
) -> service_pb2.MountRequest:
    """A MountRequest as the driver's NodePublishVolume builds it.

    attributes: the SecretProviderClass parameters merged with the volume
    context (pod info from podInfoOnMount, the class name, and the service account
    tokens, present when the CSIDriver has tokenRequests: the provider must ignore
    them), json.Marshal'ed (sorted keys, no spaces); secrets:
    the node-publish secrets ("null" when there are none); permission: the Go
    os.FileMode 0644 marshalled as the decimal number 420.
    """
    pod_uid = str(uuid.uuid4())
    attributes = {
        "objects": objects,
        "region": REGION,
        **(parameters or {}),
        "secretProviderClass": "main-api",
        "csi.storage.k8s.io/ephemeral": "false",
        "csi.storage.k8s.io/pod.name": "main-api-7d9c8b6f5-x2k4q",
        "csi.storage.k8s.io/pod.namespace": "kontaxa",
        "csi.storage.k8s.io/pod.uid": pod_uid,
        "csi.storage.k8s.io/serviceAccount.name": "main-api",
        "csi.storage.k8s.io/serviceAccount.tokens": json.dumps(
            {"sts.amazonaws.com": {"token": "header.payload.signature", "expirationTimestamp": ""}}
        ),
    }
    return service_pb2.MountRequest(
        attributes=json.dumps(attributes, sort_keys=True, separators=(",", ":")),
        secrets="null",
        target_path=str(target_path),
        permission=json.dumps(0o644),
        current_object_version=[
            service_pb2.ObjectVersion(id=name, version=version)
            for name, version in (current or {}).items()
        ],
    )


def files_of(response: service_pb2.MountResponse) -> dict[str, tuple[bytes, int]]:
    return {file.path: (file.contents, file.mode) for file in response.files}


def versions_of(response: service_pb2.MountResponse) -> dict[str, str]:
    return {item.id: item.version for item in response.object_version}


def test_version_reports_the_api_and_the_provider(provider: RunningProvider) -> None:
    response = provider.stub.Version(service_pb2.VersionRequest(version="v1alpha1"), timeout=5)

    assert response.version == "v1alpha1"
    assert response.runtime_name == "kontaxa-secrets-provider"
    assert response.runtime_version == version("kontaxa-secrets-provider")
    assert re.fullmatch(r"\d+\.\d+\.\d+", response.runtime_version)


# The driver dials the provider as `grpc.Dial(socketPath, ...)` with a unix dialer
# (kubernetes-sigs/secrets-store-csi-driver v1.5.6, pkg/secrets-store/provider_client.go,
# grpc-go v1.56.3): no scheme, so grpc-go's passthrough resolver, and the :authority of every
# call is the socket's path, not "localhost" as for a Python client of unix:// (some servers
# refuse such an authority: grpc/grpc#38142 and kubernetes/kubernetes#112597 for others).
@pytest.mark.parametrize(
    "authority",
    [
        "/var/run/secrets-store-csi-providers/aws.sock",
        "var/run/secrets-store-csi-providers/aws.sock",
    ],
)
def test_the_driver_s_authority_the_socket_path_is_accepted(
    provider: RunningProvider, authority: str
) -> None:
    options = [("grpc.default_authority", authority)]
    with grpc.insecure_channel(f"unix://{provider.socket}", options=options) as channel:
        stub = service_pb2_grpc.CSIDriverProviderStub(channel)
        response = stub.Version(service_pb2.VersionRequest(version="v1alpha1"), timeout=5)
    assert response.version == "v1alpha1"


def test_mount_returns_the_files_modes_and_versions_for_the_driver_to_write(
    provider: RunningProvider,
    store: Any,
    contract_secrets: dict[str, dict[str, str]],
    main_api_objects: str,
    contract_values: dict[str, str],
    tmp_path: Path,
) -> None:
    target = tmp_path / "mount"
    target.mkdir()

    response = provider.stub.Mount(mount_request(main_api_objects, target), timeout=10)

    assert files_of(response) == {
        "service-token": (contract_values["service-token"].encode(), 420),
        "api-keys": (contract_values["api-keys"].encode(), 420),
        "api-key-primary": (b"primary-key-1111", 420),
        "api-key-secondary": (b"secondary-key-2222", 420),
    }
    keys_version = contract_secrets["kontaxa/api-keys"]["version"]
    assert versions_of(response) == {
        "service-token": contract_secrets["kontaxa/service-token"]["version"],
        "api-keys": keys_version,
        "api-key-primary": keys_version,
        "api-key-secondary": keys_version,
    }
    assert not response.HasField("error")
    # The driver writes the files; the provider never touches the pod's volume.
    assert list(target.iterdir()) == []
    # Even at DEBUG, the provider logs the mount but no secret value.
    log = provider.log.read_text()
    assert "mount for pod kontaxa/main-api-7d9c8b6f5-x2k4q (service account main-api)" in log
    assert "mounted 4 files" in log
    for value in ("token-0123456789abcdef", "primary-key-1111", "secondary-key-2222"):
        assert value not in log


def test_mount_honours_path_translation_and_file_permission(
    provider: RunningProvider,
    store: Any,
    contract_secrets: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    objects = (
        '- {objectName: kontaxa/service-token, objectType: secretsmanager, filePermission: "0400"}'
    )

    response = provider.stub.Mount(
        mount_request(objects, tmp_path, parameters={"pathTranslation": "-"}), timeout=10
    )

    assert files_of(response) == {"kontaxa-service-token": (b"token-0123456789abcdef", 0o400)}


def test_rotation_second_mount_returns_new_content_and_version(
    provider: RunningProvider,
    store: Any,
    contract_secrets: dict[str, dict[str, str]],
    main_api_objects: str,
    tmp_path: Path,
) -> None:
    first = provider.stub.Mount(mount_request(main_api_objects, tmp_path), timeout=10)
    rotated = store.rotate_secret("kontaxa/service-token", "token-rotated-9999")

    second = provider.stub.Mount(
        mount_request(main_api_objects, tmp_path, current=versions_of(first)), timeout=10
    )

    assert files_of(first)["service-token"][0] == b"token-0123456789abcdef"
    assert files_of(second)["service-token"] == (b"token-rotated-9999", 420)
    assert versions_of(second)["service-token"] == rotated
    assert rotated != versions_of(first)["service-token"]
    # Unchanged objects keep their version, and every file is returned again.
    assert versions_of(second)["api-keys"] == versions_of(first)["api-keys"]
    assert set(files_of(second)) == set(files_of(first))


@pytest.mark.parametrize(
    ("objects", "code", "message"),
    [
        (
            "- {objectName: kontaxa/missing, objectType: secretsmanager, objectAlias: m}",
            grpc.StatusCode.NOT_FOUND,
            "secret 'kontaxa/missing' not found",
        ),
        (
            "- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: k,"
            " jmesPath: [{path: tertiary, objectAlias: t}]}",
            grpc.StatusCode.FAILED_PRECONDITION,
            "JMES path 'tertiary' for objectAlias 't' does not point to a value",
        ),
        (
            "- {objectName: kontaxa/service-token, objectType: secretsmanager, objectAlias: x}\n"
            "- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: x}",
            grpc.StatusCode.INVALID_ARGUMENT,
            "found duplicate object alias x",
        ),
    ],
)
def test_failed_mount_is_an_error_status_with_the_reason(
    provider: RunningProvider,
    store: Any,
    contract_secrets: dict[str, dict[str, str]],
    tmp_path: Path,
    objects: str,
    code: grpc.StatusCode,
    message: str,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        provider.stub.Mount(mount_request(objects, tmp_path), timeout=10)

    assert raised.value.code() == code
    assert message in raised.value.details()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target_path": ""}, "missing mount path"),
        ({"permission": "0644x"}, "is not JSON"),
        ({"permission": '"420"'}, "is not a file mode"),
        ({"permission": "4096"}, "is not a file mode"),
        ({"attributes": "[1, 2]"}, "JSON object of strings"),
        ({"attributes": "{}"}, "no 'objects'"),
    ],
)
def test_malformed_mount_requests_are_invalid_arguments(
    provider: RunningProvider, tmp_path: Path, change: dict[str, str], message: str
) -> None:
    request = mount_request("- {objectName: x, objectType: secretsmanager}", tmp_path)
    for field, value in change.items():
        setattr(request, field, value)

    with pytest.raises(grpc.RpcError) as raised:
        provider.stub.Mount(request, timeout=10)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()


def test_sigterm_stops_the_provider_and_removes_its_socket(
    moto_url: str, short_dir: Path, tmp_path: Path
) -> None:
    process = start_provider(short_dir, moto_url, tmp_path / "provider.log")
    assert (short_dir / "aws.sock").exists()

    assert stop(process) == 0
    assert not (short_dir / "aws.sock").exists()


def test_a_stale_socket_is_replaced(short_dir: Path) -> None:
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(short_dir / "aws.sock"))
    stale.close()
    server = create_server(Settings(provider_dir=short_dir))
    try:
        with grpc.insecure_channel(f"unix://{short_dir / 'aws.sock'}") as channel:
            stub = service_pb2_grpc.CSIDriverProviderStub(channel)
            assert stub.Version(service_pb2.VersionRequest(), timeout=5).version == "v1alpha1"
    finally:
        server.stop(None).wait()


def test_a_file_in_place_of_the_socket_is_never_deleted(short_dir: Path) -> None:
    (short_dir / "aws.sock").write_text("not a socket")

    with pytest.raises(ValueError, match="is not a socket"):
        create_server(Settings(provider_dir=short_dir))

    assert (short_dir / "aws.sock").read_text() == "not a socket"


def test_an_unexpected_failure_is_an_internal_status_that_quotes_nothing(
    short_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """An exception that is no MountError escaped to grpc: status UNKNOWN, its message (which
    may quote a secret) in the status the driver puts in the pod's events, and grpc's
    traceback in the log. Injected: the fetch raises one with a secret in its message."""

    def failing(*args: object, **kwargs: object) -> None:
        raise ValueError("could not convert 'hunter2-value'")

    monkeypatch.setattr("secrets_provider.server.fetch_files_for_parameters", failing)
    server = create_server(Settings(provider_dir=short_dir))
    try:
        with grpc.insecure_channel(f"unix://{short_dir / 'aws.sock'}") as channel:
            stub = service_pb2_grpc.CSIDriverProviderStub(channel)
            with caplog.at_level(logging.INFO), pytest.raises(grpc.RpcError) as raised:
                stub.Mount(mount_request("- {objectName: x}", tmp_path), timeout=10)
    finally:
        server.stop(None).wait()

    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == "the provider failed unexpectedly (ValueError); see its log"
    assert "hunter2" not in caplog.text
    assert "mount failed: unexpected ValueError at test_server.py:" in caplog.text
