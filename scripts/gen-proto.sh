#!/usr/bin/env bash
# Regenerates the CRI v1 Python stubs in api/gen/ from api/proto/runtime/v1/api.proto.
# Usage: scripts/gen-proto.sh [OUTPUT_DIR]   (default: api/gen; the staleness test
# passes a temp dir and compares).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
out="${1:-$root/api/gen}"
proto_root="$root/api/proto"
proto="runtime/v1/api.proto"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$py" -m grpc_tools.protoc \
    -I "$proto_root" \
    --plugin=protoc-gen-mypy="$root/.venv/bin/protoc-gen-mypy" \
    --plugin=protoc-gen-mypy_grpc="$root/.venv/bin/protoc-gen-mypy_grpc" \
    --python_out="$work" \
    --grpc_python_out="$work" \
    --mypy_out="$work" \
    --mypy_grpc_out="$work" \
    "$proto"

mkdir -p "$out"
for f in api_pb2.py api_pb2.pyi api_pb2_grpc.py api_pb2_grpc.pyi; do
    # protoc names the module after the proto path (runtime.v1.api_pb2); inside the
    # pycri.api.gen package it must be a relative import instead.
    sed -e 's/^from runtime\.v1 import api_pb2\b/from . import api_pb2/' \
        -e 's/^import runtime\.v1\.api_pb2$/from . import api_pb2/' \
        -e 's/\bruntime\.v1\.api_pb2\./api_pb2./g' \
        "$work/runtime/v1/$f" > "$out/$f"
done
if [ ! -e "$out/__init__.py" ]; then
    echo '"""Generated CRI v1 stubs; do not edit, run scripts/gen-proto.sh."""' > "$out/__init__.py"
fi
