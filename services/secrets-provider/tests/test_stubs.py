"""The committed gRPC stubs: generated from the .proto as committed, and wire-compatible."""

import os
import subprocess
import sys
from pathlib import Path

from google.protobuf.descriptor import FieldDescriptor

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


def _declaration(field: FieldDescriptor) -> str:
    """A field as the .proto declares it: `[repeated] <type> <name> = <number>`."""
    kind = field.message_type.name if field.message_type else _SCALARS[field.type]
    return f"{'repeated ' if field.is_repeated else ''}{kind} {field.name} = {field.number}"


_SCALARS = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_BYTES: "bytes",
}


def test_service_and_fields_are_the_drivers_wire_protocol() -> None:
    """Every method and field as kubernetes-sigs/secrets-store-csi-driver v1.5.6 declares
    them (provider/v1alpha1/service.proto): names, numbers, types and repetition, so a
    changed type (`int32 mode` to `int64`, say) fails here as a changed number does."""
    service = service_pb2.DESCRIPTOR.services_by_name["CSIDriverProvider"]
    fields = {
        message: [_declaration(field) for field in descriptor.fields]
        for message, descriptor in service_pb2.DESCRIPTOR.message_types_by_name.items()
    }

    assert service.full_name == "v1alpha1.CSIDriverProvider"
    assert [
        (method.name, method.input_type.name, method.output_type.name) for method in service.methods
    ] == [
        ("Version", "VersionRequest", "VersionResponse"),
        ("Mount", "MountRequest", "MountResponse"),
    ]
    assert fields == {
        "VersionRequest": ["string version = 1"],
        "VersionResponse": [
            "string version = 1",
            "string runtime_name = 2",
            "string runtime_version = 3",
        ],
        "MountRequest": [
            "string attributes = 1",
            "string secrets = 2",
            "string target_path = 3",
            "string permission = 4",
            "repeated ObjectVersion current_object_version = 5",
        ],
        "MountResponse": [
            "repeated ObjectVersion object_version = 1",
            "Error error = 2",
            "repeated File files = 3",
        ],
        "File": ["string path = 1", "int32 mode = 2", "bytes contents = 3"],
        "ObjectVersion": ["string id = 1", "string version = 2"],
        "Error": ["string code = 1"],
    }
