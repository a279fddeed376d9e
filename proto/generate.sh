#!/usr/bin/env bash
# Regenerates the protobuf message modules in runtime/tfplugin/ from the .proto files here.
#
# Dev-time only: the generated *_pb2.py files are committed, so the runtime image needs the
# `protobuf` package but not protoc. We generate messages only (no grpclib stubs): the
# client calls each RPC by its path (runtime/tfplugin/rpc.py), because protocol 5 and 6 name
# the same operations differently and one table maps both.
#
# Needs grpcio-tools (bundles protoc); it is installed into a throw-away venv so it never
# lands in the project's own environment:
#   proto/generate.sh            # uses $PROTOC_VENV (default /tmp/jetgen-protoc-venv)
#
# Regenerating with a newer protoc raises the minimum `protobuf` runtime the modules accept
# (they check it at import), so bump the pin in pyproject.toml together with them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../runtime/tfplugin"
venv="${PROTOC_VENV:-/tmp/jetgen-protoc-venv}"
if ! "$venv/bin/python" -c "import grpc_tools" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "grpcio-tools==1.85.1"
fi
cd "$here"
for proto in tfplugin5.proto tfplugin6.proto goplugin.proto; do
    # --pyi_out: type stubs of the messages, which the .py files build only at import time
    # (mypy reads the stubs; see docs/architecture.md).
    "$venv/bin/python" -m grpc_tools.protoc --proto_path=. --python_out="$out" --pyi_out="$out" "$proto"
done
echo "regenerated: $(cd "$out" && ls tfplugin5_pb2.py* tfplugin6_pb2.py* goplugin_pb2.py* | tr '\n' ' ')"
