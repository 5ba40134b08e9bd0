"""The committed gRPC stubs: generated from the .proto as committed, and wire-compatible."""

import os
import subprocess
import sys
from pathlib import Path

from secrets_provider.v1alpha1 import service_pb2

PACKAGE = Path(__file__).resolve().parents[1]
GENERATED = "src/secrets_provider/v1alpha1"
STUBS = ["service_pb2.py", "service_pb2.pyi", "service_pb2_grpc.py", "service_pb2_grpc.pyi"]


def test_committed_stubs_match_the_pinned_generators(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(PACKAGE / "scripts" / "generate-stubs.sh"), str(tmp_path)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    for name in STUBS:
        fresh = (tmp_path / "secrets_provider" / "v1alpha1" / name).read_text()
        committed = (PACKAGE / GENERATED / name).read_text()
        assert fresh == committed, f"{name} is stale: run scripts/generate-stubs.sh"


def test_service_and_fields_are_the_drivers_wire_protocol() -> None:
    service = service_pb2.DESCRIPTOR.services_by_name["CSIDriverProvider"]
    fields = {
        message: {field.name: field.number for field in descriptor.fields}
        for message, descriptor in service_pb2.DESCRIPTOR.message_types_by_name.items()
    }

    assert service.full_name == "v1alpha1.CSIDriverProvider"
    assert [method.name for method in service.methods] == ["Version", "Mount"]
    assert fields == {
        "VersionRequest": {"version": 1},
        "VersionResponse": {"version": 1, "runtime_name": 2, "runtime_version": 3},
        "MountRequest": {
            "attributes": 1,
            "secrets": 2,
            "target_path": 3,
            "permission": 4,
            "current_object_version": 5,
        },
        "MountResponse": {"object_version": 1, "error": 2, "files": 3},
        "File": {"path": 1, "mode": 2, "contents": 3},
        "ObjectVersion": {"id": 1, "version": 2},
        "Error": {"code": 1},
    }
