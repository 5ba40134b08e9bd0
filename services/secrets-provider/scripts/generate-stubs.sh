#!/usr/bin/env bash
# Regenerates the Python stubs of the CSI provider API from its .proto.
#
# The stubs are committed: the uv_build backend runs no code generation, and an
# image build then needs no protoc. Run this after editing the .proto; the
# generators are pinned in the root pyproject's dev group (grpcio-tools for the
# code, mypy-protobuf for the typed .pyi files), so the output is reproducible.
# tests/test_stubs.py fails when the committed stubs differ from this output.
#
# Usage: generate-stubs.sh [OUTPUT_ROOT]   (default: the package's src/)
# Env:   PYTHON  the interpreter of the synced workspace (default: <repo>/.venv/bin/python)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$here/../../.venv/bin/python}"
bin="$(dirname "$python")"
out="${1:-$here/src}"
proto="secrets_provider/v1alpha1/service.proto"

echo "generate-stubs: $proto -> $out/secrets_provider/v1alpha1/ (with $python)" >&2
cd "$here/src"
"$python" -m grpc_tools.protoc \
  --proto_path=. \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --plugin=protoc-gen-mypy="$bin/protoc-gen-mypy" \
  --mypy_out="$out" \
  --plugin=protoc-gen-mypy_grpc="$bin/protoc-gen-mypy_grpc" \
  --mypy_grpc_out="$out" \
  "$proto"
