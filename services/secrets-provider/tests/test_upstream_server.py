"""The AWS provider's mount tests, case by case, against our gRPC provider and a real emulator.

Ported from aws/secrets-store-csi-driver-provider-aws at tag
secrets-store-csi-driver-provider-aws-2.1.1 (the chart the eks overlay pins):
`server/server_test.go` (TestMountsNoWrite over mountTests and
noWriteMountTests, TestNoWriteReMounts over remountTests, TestEmptyAttributes,
TestNoPath, TestGetRegionFromNodeWithAWSRegionEnvVar, TestDriverVersion) and
`provider/secret_value_test.go`. Each case id is the upstream `testName` (or
test function). Upstream runs them with mocked AWS clients; here the values are
seeded into moto and read over HTTP, and the requests are built as the CSI
driver v1.5.6 builds them (`pkg/secrets-store/nodeserver.go` on node publish:
attributes = class parameters + pod volume context, json.Marshal'ed; secrets
"null"; permission "420"; no versions; `pkg/rotation/reconciler.go` on
rotation: secrets "{}", the versions stored from the previous response).

The driver-writes variant is the one ported: our provider always returns the
files for the driver to write, which is the mode the eks values select
(`driverWritesSecrets: true`). Not ported, because one emulator in one region
with the provider's own credentials cannot express them:
- the multi-region cases (mountTestsForMultiRegion: failover to a second
  region when the first fails) and utils/error_handling_helper_test.go
  (which errors stop that failover); "Region Equals FallbackRegion Fail" is
  kept, it is a parameter check;
- Fail Pod/Node/Region Retrieval, TestGetRegionFromNodeWithNodeLabels and
  TestGetRegionFromNodeError (region from the node's label: the region comes
  from the class or AWS_REGION, which upstream also reads first),
  Fail IRSA Session and the pod-identity token (the provider's credentials
  are its own, the pod's tokens are ignored);
- writeOnlyMountTests (the provider writing files itself).
"""

import json
import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from secrets_provider.config import Settings
from secrets_provider.server import RUNTIME_NAME, create_server
from secrets_provider.v1alpha1 import service_pb2, service_pb2_grpc

REGION = "us-east-1"
SM = "secretsmanager"
SSM = "ssmparameter"
JSON_SECRET = '{"dbUser": {"username": "SecretsManagerUser", "password": "SecretsManagerPassword"}}'
JSON_PARAMETER = (
    '{"dbUser": {"username": "ParameterStoreUser", "password" : "ParameterStorePassword"}}'
)


@pytest.fixture(scope="module")
def stub(moto_url: str) -> Iterator[service_pb2_grpc.CSIDriverProviderStub]:
    """Our provider in this process, on a unix socket, reading the module's moto server."""
    with tempfile.TemporaryDirectory(prefix="sp-", dir="/tmp") as directory:
        settings = Settings(
            provider_dir=Path(directory), aws_region=REGION, aws_endpoint_url=moto_url
        )
        server = create_server(settings)
        channel = grpc.insecure_channel(f"unix://{settings.socket_path}")
        try:
            grpc.channel_ready_future(channel).result(timeout=10)
            yield service_pb2_grpc.CSIDriverProviderStub(channel)
        finally:
            channel.close()
            server.stop(None).wait()


def driver_request(
    objects: list[dict[str, Any]] | str,
    target: Path,
    parameters: dict[str, str] | None = None,
    *,
    stored_versions: dict[str, str] | None = None,
    permission: str = "420",
) -> service_pb2.MountRequest:
    """A MountRequest as driver v1.5.6 sends it: node publish, or rotation with stored versions."""
    attributes = {
        **(parameters or {}),
        # Upstream's yaml.Marshal quotes every string go-yaml would read as a
        # number; JSON (a subset of YAML) quotes every string, so it reads the same.
        "objects": objects if isinstance(objects, str) else json.dumps(objects),
        "secretProviderClass": "upstream-case",
        "csi.storage.k8s.io/ephemeral": "false",
        "csi.storage.k8s.io/pod.name": "fakePod",
        "csi.storage.k8s.io/pod.namespace": "fakeNS",
        "csi.storage.k8s.io/pod.uid": str(uuid.uuid4()),
        "csi.storage.k8s.io/serviceAccount.name": "fakeSvcAcc",
    }
    rotation = stored_versions is not None
    return service_pb2.MountRequest(
        attributes=json.dumps(attributes, sort_keys=True, separators=(",", ":")),
        # nodeserver.go marshals the request's nil map ("null"); the rotation
        # reconciler an empty map ("{}").
        secrets="{}" if rotation else "null",
        target_path=str(target),
        permission=permission,
        current_object_version=[
            service_pb2.ObjectVersion(id=key, version=value)
            for key, value in (stored_versions or {}).items()
        ],
    )


@dataclass
class Case:
    """One upstream mount case: what the store holds, what is mounted, what comes back."""

    objects: list[dict[str, Any]]
    secrets: dict[str, str | bytes] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, int]] | None = None
    error: tuple[grpc.StatusCode, str] | None = None
    permission: str = "420"


def sm(name: str, **extra: Any) -> dict[str, Any]:
    return {"objectName": name, "objectType": SM, **extra}


def ssm(name: str, **extra: Any) -> dict[str, Any]:
    return {"objectName": name, "objectType": SSM, **extra}


PLAIN = {"TestSecret1": "secret1"}
PARM = {"TestParm1": "parm1"}
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
BAD_CONTENT = grpc.StatusCode.FAILED_PRECONDITION
JSON_V1 = '{"username": "SecretsManagerUser", "password": "SecretsManagerPassword"}'
JSON_V2 = '{"username": "SecretsManagerUser2", "password": "SecretsManagerPassword"}'
BIG_BATCH = {f"TestParm{n}": f"parm{n}" for n in range(1, 12)}

MOUNT_TESTS: dict[str, Case] = {
    "Mount File Permission": Case(
        [sm("TestSecret1", filePermission="0600")],
        secrets={"TestSecret1": JSON_SECRET},
        files={"TestSecret1": (JSON_SECRET, 0o600)},
    ),
    "Mount File Permission Failure": Case(
        [sm("TestSecret1", filePermission="0900")],
        error=(INVALID, "Invalid File Permission: 0900"),
    ),
    "Mount JMES File Permission": Case(
        [
            sm(
                "TestSecret1",
                filePermission="0600",
                jmesPath=[
                    {
                        "path": "dbUser.username",
                        "objectAlias": "username",
                        "filePermission": "0777",
                    },
                    {"path": "dbUser.password", "objectAlias": "password"},
                ],
            )
        ],
        secrets={"TestSecret1": JSON_SECRET},
        files={
            "TestSecret1": (JSON_SECRET, 0o600),
            "username": ("SecretsManagerUser", 0o777),
            "password": ("SecretsManagerPassword", 0o600),
        },
    ),
    "Mount JMES File Permission Failure": Case(
        [
            sm(
                "TestSecret1",
                filePermission="0600",
                jmesPath=[
                    {"path": "dbUser.username", "objectAlias": "username", "filePermission": "a987"}
                ],
            )
        ],
        error=(INVALID, "Invalid File Permission: a987"),
    ),
    "New Mount Success": Case(
        [sm("TestSecret1"), ssm("TestParm1")],
        secrets=PLAIN,
        parameters=PARM,
        files={"TestSecret1": ("secret1", 0o644), "TestParm1": ("parm1", 0o644)},
    ),
    "New Mount Success with usePodIdentity provided": Case(
        [sm("TestSecret1"), ssm("TestParm1")],
        secrets=PLAIN,
        parameters=PARM,
        attributes={"usePodIdentity": "false"},
        files={"TestSecret1": ("secret1", 0o644), "TestParm1": ("parm1", 0o644)},
    ),
    "Mount Json Success": Case(
        [
            sm(
                "TestSecret1",
                jmesPath=[
                    {"path": "dbUser.username", "objectAlias": "username"},
                    {"path": "dbUser.password", "objectAlias": "password"},
                ],
            ),
            ssm(
                "TestParm1",
                jmesPath=[
                    {"path": "dbUser.username", "objectAlias": "ssmUsername"},
                    {"path": "dbUser.password", "objectAlias": "ssmPassword"},
                ],
            ),
        ],
        secrets={"TestSecret1": JSON_SECRET},
        parameters={"TestParm1": JSON_PARAMETER},
        files={
            "TestSecret1": (JSON_SECRET, 0o644),
            "TestParm1": (JSON_PARAMETER, 0o644),
            "username": ("SecretsManagerUser", 0o644),
            "password": ("SecretsManagerPassword", 0o644),
            "ssmUsername": ("ParameterStoreUser", 0o644),
            "ssmPassword": ("ParameterStorePassword", 0o644),
        },
    ),
    "Mount Json Success-specify ARN": Case(
        [
            {
                "objectName": "{arn:geheimnis}",
                "objectAlias": "TestSecret1",
                "jmesPath": [{"path": "dbUser.username", "objectAlias": "username"}],
            }
        ],
        secrets={"geheimnis": '{"dbUser": {"username": "SecretsManagerUser"}}'},
        files={
            "TestSecret1": ('{"dbUser": {"username": "SecretsManagerUser"}}', 0o644),
            "username": ("SecretsManagerUser", 0o644),
        },
    ),
    "New Mount Binary Success": Case(
        [sm("TestSecret1"), ssm("TestParm1")],
        secrets={"TestSecret1": b"BinarySecret"},
        parameters=PARM,
        files={"TestSecret1": ("BinarySecret", 0o644), "TestParm1": ("parm1", 0o644)},
    ),
    "Big Batch Success": Case(
        [sm("TestSecret1"), sm("BinarySecret1")] + [ssm(name) for name in BIG_BATCH],
        secrets={"TestSecret1": "secret1", "BinarySecret1": b"BinarySecret"},
        parameters=BIG_BATCH,
        files={
            "TestSecret1": ("secret1", 0o644),
            "BinarySecret1": ("BinarySecret", 0o644),
            **{name: (value, 0o644) for name, value in BIG_BATCH.items()},
        },
    ),
    "Fail File Perms": Case(
        [sm("TestSecret1"), ssm("TestParm1")],
        permission="",
        error=(INVALID, "permission"),
    ),
    "Fail Pod Identity Session": Case(
        [sm("TestSecret1"), ssm("TestParm1")],
        attributes={"usePodIdentity": "yes"},
        error=(INVALID, "failed to parse usePodIdentity value"),
    ),
    "Fail Descriptors": Case(
        [sm("TestSecret1"), {"objectType": SSM}],
        error=(INVALID, "Object name must be specified"),
    ),
    "Fail Fetch Secret": Case(
        [sm("TestSecret1"), ssm("TestParm1")],
        parameters=PARM,
        error=(NOT_FOUND, "TestSecret1"),
    ),
    "Fail Fetch Parm": Case(
        [sm("TestSecret1"), ssm("TestParm1")],
        secrets=PLAIN,
        error=(NOT_FOUND, "TestParm1"),
    ),
    "Fail Fetch Parms": Case(
        [sm("TestSecret1"), ssm("TestParm1"), ssm("FailParm2"), ssm("TestParm3"), ssm("FailParm4")],
        secrets=PLAIN,
        parameters={"TestParm1": "parm1", "TestParm3": "parm3"},
        error=(NOT_FOUND, "FailParm2"),
    ),
    "Fail Write Param": Case(
        [sm("TestSecret1"), ssm("../TestParm1")],
        attributes={"pathTranslation": "False"},
        error=(INVALID, "path can not contain"),
    ),
    "Fail Write Secret": Case(
        [sm("./../TestSecret1"), ssm("TestParm1")],
        attributes={"pathTranslation": "False"},
        error=(INVALID, "path can not contain"),
    ),
    "Success With Slash": Case(
        [sm("mypath/TestSecret1"), ssm("mypath/TestParm1")],
        secrets={"mypath/TestSecret1": "secret1"},
        parameters={"mypath/TestParm1": "parm1"},
        files={"mypath_TestSecret1": ("secret1", 0o644), "mypath_TestParm1": ("parm1", 0o644)},
    ),
    "Slash to dash": Case(
        [sm("mypath/TestSecret1"), ssm("mypath/TestParm1")],
        secrets={"mypath/TestSecret1": "secret1"},
        parameters={"mypath/TestParm1": "parm1"},
        attributes={"pathTranslation": "-"},
        files={"mypath-TestSecret1": ("secret1", 0o644), "mypath-TestParm1": ("parm1", 0o644)},
    ),
    "Fail pathTranslation": Case(
        [sm("TestSecret1"), ssm("TestParm1")],
        attributes={"pathTranslation": "--"},
        error=(INVALID, "pathTranslation must be"),
    ),
    "Leading Slash OK": Case(
        [sm("/TestSecret1"), ssm("/TestParm1")],
        secrets={"/TestSecret1": "secret1"},
        parameters={"/TestParm1": "parm1"},
        attributes={"pathTranslation": "False"},
        files={"TestSecret1": ("secret1", 0o644), "TestParm1": ("parm1", 0o644)},
    ),
    # noWriteMountTests
    "Full path OK": Case(
        [sm("/mypath/TestSecret1"), ssm("/mypath/TestParm1")],
        secrets={"/mypath/TestSecret1": "secret1"},
        parameters={"/mypath/TestParm1": "parm1"},
        attributes={"pathTranslation": "False"},
        files={"mypath/TestSecret1": ("secret1", 0o644), "mypath/TestParm1": ("parm1", 0o644)},
    ),
    # mountTestsForMultiRegion: the one that is a parameter check.
    "Region Equals FallbackRegion Fail": Case(
        [sm("TestSecret1")],
        attributes={"region": REGION, "failoverRegion": REGION},
        error=(INVALID, "failover region cannot be the same as the primary region"),
    ),
    # provider/secret_value_test.go
    "TestNotValidJson": Case(
        [sm("TEST_OBJECT_NAME", jmesPath=[{"path": ".username", "objectAlias": "test"}])],
        secrets={"TEST_OBJECT_NAME": "NotValidJson"},
        error=(BAD_CONTENT, "not valid JSON"),
    ),
    "TestJMESPathPointsToInvalidObject": Case(
        [sm("TEST_OBJECT_NAME", jmesPath=[{"path": "testpath", "objectAlias": "testAlias"}])],
        secrets={"TEST_OBJECT_NAME": '{"username": "ParameterStoreUser", "password": "P"}'},
        error=(BAD_CONTENT, "JMES path 'testpath' for objectAlias 'testAlias' does not point"),
    ),
    "TestInvalidJMESPath": Case(
        [sm("TEST_OBJECT_NAME", jmesPath=[{"path": ".testpath", "objectAlias": "testAlias"}])],
        secrets={"TEST_OBJECT_NAME": '{"username": "ParameterStoreUser", "password": "P"}'},
        error=(BAD_CONTENT, "JMES path '.testpath'"),
    ),
    "TestInvalidJMESResultType": Case(
        [sm("TEST_OBJECT_NAME", jmesPath=[{"path": "username", "objectAlias": "testAlias"}])],
        secrets={"TEST_OBJECT_NAME": '{"username": 3}'},
        error=(BAD_CONTENT, "only a string can be mounted"),
    ),
}


def seed(store: Any, case: Case) -> dict[str, str]:
    """Create the case's secrets and parameters; returns {"{arn:name}": ARN}."""
    arns = {}
    for name, value in case.secrets.items():
        arns[f"{{arn:{name}}}"] = store.create_secret(name, value)["arn"]
    for name, value in case.parameters.items():
        store.put_parameter(name, value)
    return arns


def with_arns(objects: list[dict[str, Any]], arns: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {**obj, "objectName": arns[obj["objectName"]]} if obj.get("objectName") in arns else obj
        for obj in objects
    ]


@pytest.mark.parametrize("name", list(MOUNT_TESTS))
def test_server_test_go_mounts_no_write(
    stub: service_pb2_grpc.CSIDriverProviderStub, store: Any, tmp_path: Path, name: str
) -> None:
    """TestMountsNoWrite (and secret_value_test.go): files, modes and errors as upstream's."""
    case = MOUNT_TESTS[name]
    arns = seed(store, case)
    request = driver_request(
        with_arns(case.objects, arns), tmp_path, case.attributes, permission=case.permission
    )

    if case.error is not None:
        code, message = case.error
        with pytest.raises(grpc.RpcError) as raised:
            stub.Mount(request, timeout=10)
        assert raised.value.code() == code
        assert re.search(re.escape(message), raised.value.details() or ""), raised.value.details()
        return
    response = stub.Mount(request, timeout=10)

    assert {f.path: (f.contents.decode(), f.mode) for f in response.files} == case.files
    # Every mounted file reports a version (the driver refuses a response without any).
    assert {v.id for v in response.object_version} == set(case.files or {})
    assert list(tmp_path.iterdir()) == []  # the driver writes, not the provider


def test_server_test_go_empty_attributes(
    stub: service_pb2_grpc.CSIDriverProviderStub, tmp_path: Path
) -> None:
    """TestEmptyAttributes: attributes that are not JSON fail the mount."""
    request = service_pb2.MountRequest(attributes="", target_path="/tmp", permission="420")
    with pytest.raises(grpc.RpcError) as raised:
        stub.Mount(request, timeout=10)
    assert raised.value.code() == INVALID
    assert "attributes are not JSON" in (raised.value.details() or "")


def test_server_test_go_no_path(stub: service_pb2_grpc.CSIDriverProviderStub) -> None:
    """TestNoPath: a request without target path fails the mount."""
    request = service_pb2.MountRequest(attributes="{}", permission="420")
    with pytest.raises(grpc.RpcError) as raised:
        stub.Mount(request, timeout=10)
    assert raised.value.code() == INVALID
    assert "missing mount path" in (raised.value.details() or "")


def test_server_test_go_get_region_from_node_with_aws_region_env_var(
    stub: service_pb2_grpc.CSIDriverProviderStub, store: Any, tmp_path: Path
) -> None:
    """TestGetRegionFromNodeWithAWSRegionEnvVar: without `region`, the provider's AWS_REGION."""
    store.create_secret("TestSecret1", "secret1")
    response = stub.Mount(driver_request([sm("TestSecret1")], tmp_path), timeout=10)
    assert [f.path for f in response.files] == ["TestSecret1"]


def test_server_test_go_driver_version(stub: service_pb2_grpc.CSIDriverProviderStub) -> None:
    """TestDriverVersion: Version answers with the provider's runtime name."""
    response = stub.Version(service_pb2.VersionRequest(version="v1alpha1"), timeout=5)
    assert (response.version, response.runtime_name) == ("v1alpha1", RUNTIME_NAME)


REMOUNT_OBJECTS = [
    sm("TestSecret1"),
    sm("TestSecret2", objectVersionLabel="custom"),
    sm("TestSecret3", objectVersion="{version:TestSecret3-1}"),
    sm("TestSecretJSON", jmesPath=[{"path": "username", "objectAlias": "username"}]),
    ssm("TestParm1", objectVersionLabel="current"),
    ssm("TestParm2", objectVersion="1"),
] + [ssm(f"TestParm{n}") for n in range(3, 12)]


def test_server_test_go_no_write_re_mounts(
    stub: service_pb2_grpc.CSIDriverProviderStub, store: Any, tmp_path: Path
) -> None:
    """TestNoWriteReMounts: Initial Mount, No Change, Rotation1, Move Labels1, Move Version.

    Each remount sends the versions the previous response returned, as the
    rotation reconciler does from its SecretProviderClassPodStatus. Difference
    from upstream's expectations: in "Move Labels1" upstream's mock answers
    TestParm2 (pinned to version 1) with version 2's value; a real Parameter
    Store returns version 1, which is what is asserted here.
    """
    sm_client, ssm_client = store.client("secretsmanager"), store.client("ssm")
    ids: dict[str, str] = {}

    def put_secret(name: str, value: str | bytes, step: str, stages: list[str]) -> None:
        kind = "SecretString" if isinstance(value, str) else "SecretBinary"
        token = str(uuid.uuid4())
        if f"{name}-1" not in ids:
            sm_client.create_secret(Name=name, ClientRequestToken=token, **{kind: value})
        else:
            sm_client.put_secret_value(
                SecretId=name, ClientRequestToken=token, VersionStages=stages, **{kind: value}
            )
        ids[f"{name}-{step}"] = token

    def move_stage(name: str, stage: str, to: str) -> None:
        current = sm_client.describe_secret(SecretId=name)["VersionIdsToStages"]
        holder = next(version for version, stages in current.items() if stage in stages)
        sm_client.update_secret_version_stage(
            SecretId=name, VersionStage=stage, RemoveFromVersionId=holder, MoveToVersionId=to
        )

    def mount(stored: dict[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
        objects = [
            {
                **obj,
                **(
                    {"objectVersion": ids[obj["objectVersion"][9:-1]]}
                    if str(obj.get("objectVersion", "")).startswith("{version:")
                    else {}
                ),
            }
            for obj in REMOUNT_OBJECTS
        ]
        response = stub.Mount(driver_request(objects, tmp_path, stored_versions=stored), timeout=10)
        files = {f.path: f.contents.decode() for f in response.files}
        return files, {v.id: v.version for v in response.object_version}

    # Initial Mount Success
    put_secret("TestSecret1", b"TestSecret1 v1", "1", [])
    put_secret("TestSecret2", "TestSecret2 v1", "1", [])
    sm_client.update_secret_version_stage(
        SecretId="TestSecret2", VersionStage="custom", MoveToVersionId=ids["TestSecret2-1"]
    )
    put_secret("TestSecret3", "TestSecret3 v1", "1", [])
    put_secret(
        "TestSecretJSON",
        JSON_V1,
        "1",
        [],
    )
    for n in range(1, 12):
        store.put_parameter(f"TestParm{n}", f"parm{n} v1")
    ssm_client.label_parameter_version(Name="TestParm1", ParameterVersion=1, Labels=["current"])
    expected = {
        "TestSecret1": "TestSecret1 v1",
        "TestSecret2": "TestSecret2 v1",
        "TestSecret3": "TestSecret3 v1",
        "TestSecretJSON": JSON_V1,
        "username": "SecretsManagerUser",
        **{f"TestParm{n}": f"parm{n} v1" for n in range(1, 12)},
    }
    files, versions = mount(None)
    assert files == expected
    assert versions["TestSecret1"] == ids["TestSecret1-1"]
    assert versions["username"] == versions["TestSecretJSON"] == ids["TestSecretJSON-1"]
    assert versions["TestParm1"] == "1"

    # No Change Success
    files, again = mount(versions)
    assert (files, again) == (expected, versions)

    # Rotation1 Success: new current versions everywhere; labels and pins hold.
    put_secret("TestSecret1", b"TestSecret1 v2", "2", ["AWSCURRENT"])
    put_secret("TestSecret2", "TestSecret2 v2", "2", ["AWSCURRENT"])
    # Secrets Manager keeps a custom label on the old version; moto drops it
    # (stages become ["AWSPREVIOUS"]), so put it back where AWS leaves it.
    sm_client.update_secret_version_stage(
        SecretId="TestSecret2", VersionStage="custom", MoveToVersionId=ids["TestSecret2-1"]
    )
    put_secret(
        "TestSecretJSON",
        JSON_V2,
        "2",
        ["AWSCURRENT"],
    )
    for n in [1, 2, *range(4, 12)]:
        store.put_parameter(f"TestParm{n}", f"parm{n} v2")
    ssm_client.label_parameter_version(Name="TestParm1", ParameterVersion=2, Labels=["current"])
    expected |= {
        "TestSecret1": "TestSecret1 v2",
        "TestSecretJSON": JSON_V2,
        "username": "SecretsManagerUser2",
        "TestParm1": "parm1 v2",
        **{f"TestParm{n}": f"parm{n} v2" for n in range(4, 12)},
    }
    files, rotated = mount(versions)
    assert files == expected
    assert rotated["TestSecret1"] == ids["TestSecret1-2"]
    assert rotated["TestSecret2"] == ids["TestSecret2-1"]
    assert rotated["TestParm1"] == "2"
    assert rotated["TestParm2"] == "1"

    # Move Labels1 Success: "custom" moves to TestSecret2's second version.
    move_stage("TestSecret2", "custom", ids["TestSecret2-2"])
    expected["TestSecret2"] = "TestSecret2 v2"
    files, moved = mount(rotated)
    assert files == expected
    assert moved["TestSecret2"] == ids["TestSecret2-2"]

    # Move Version Success: the class pins new versions.
    put_secret("TestSecret3", "TestSecret3 v2", "2", ["AWSCURRENT"])
    store.put_parameter("TestParm3", "parm3 v2")
    REMOUNT_OBJECTS[2] = sm("TestSecret3", objectVersion="{version:TestSecret3-2}")
    REMOUNT_OBJECTS[5] = ssm("TestParm2", objectVersion="2")
    try:
        files, _ = mount(moved)
    finally:
        REMOUNT_OBJECTS[2] = sm("TestSecret3", objectVersion="{version:TestSecret3-1}")
        REMOUNT_OBJECTS[5] = ssm("TestParm2", objectVersion="1")
    expected |= {"TestSecret3": "TestSecret3 v2", "TestParm2": "parm2 v2", "TestParm3": "parm3 v2"}
    assert files == expected


def test_server_go_echoes_stored_versions_of_objects_no_longer_mounted(
    stub: service_pb2_grpc.CSIDriverProviderStub, store: Any, tmp_path: Path
) -> None:
    """server/server.go builds ObjectVersion from the request's map: a dropped id stays."""
    store.create_secret("TestSecret1", "secret1")
    stored = {"TestSecret1": "old", "removed-from-the-class": "v9"}

    response = stub.Mount(
        driver_request([sm("TestSecret1")], tmp_path, stored_versions=stored), timeout=10
    )

    versions = {v.id: v.version for v in response.object_version}
    assert versions["removed-from-the-class"] == "v9"
    assert versions["TestSecret1"] not in ("", "old")
