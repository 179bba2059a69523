#!/usr/bin/env bash
# Creates the repository's .venv/ for the conformance test (tests/conformance.rs) and for .ci/run:
#   - grpcio, protobuf and the workflow linters from tests/conformance/requirements.txt;
#   - Fivetran's own gRPC stubs, the three files fivetran_connector_sdk/protos/{common_pb2,
#     connector_sdk_pb2,connector_sdk_pb2_grpc}.py taken from the hash-pinned 2.13.1 wheel
#     (tests/conformance/fivetran-sdk.txt) into .venv/fivetran-sdk/protos/. The wheel is never installed:
#     its pinned dependencies are not needed to speak gRPC (see fivetran_stubs.py).
# Idempotent: returns at once when the inputs (the two requirement files, this script, the Python
# version) are unchanged since the last successful run. PYTHON selects the interpreter (default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
stubs="$venv/fivetran-sdk"
stamp="$venv/.conformance-stamp"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
    echo "error: $python is $("$python" --version 2>&1); the conformance client needs Python >= 3.9" >&2
    exit 1
fi

want="$(cat "$here/requirements.txt" "$here/fivetran-sdk.txt" "$here/setup.sh" | sha256sum | cut -d' ' -f1)"
want="$want $("$python" -c 'import sys; print(sys.version.split()[0])')"
if [[ -f "$stamp" && -x "$venv/bin/python" && "$(cat "$stamp")" == "$want" ]]; then
    echo "venv up to date: $venv"
    exit 0
fi

echo "creating $venv with $("$python" --version 2>&1)"
rm -f "$stamp"
"$python" -m venv --clear "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input --quiet)
"${pip[@]}" install --only-binary :all: -r "$here/requirements.txt"

echo "fetching Fivetran's stubs (fivetran-connector-sdk wheel, sha256-pinned)"
rm -rf "$stubs"
"${pip[@]}" download --no-deps --only-binary :all: --require-hashes \
    -r "$here/fivetran-sdk.txt" -d "$stubs/wheel"
"$venv/bin/python" - "$stubs" <<'PY'
import pathlib, sys, zipfile

stubs = pathlib.Path(sys.argv[1])
(wheel,) = sorted((stubs / "wheel").glob("fivetran_connector_sdk-*.whl"))
out = stubs / "protos"
out.mkdir(parents=True)
with zipfile.ZipFile(wheel) as zf:
    for name in ("common_pb2", "connector_sdk_pb2", "connector_sdk_pb2_grpc"):
        (out / f"{name}.py").write_bytes(zf.read(f"fivetran_connector_sdk/protos/{name}.py"))
(out / "SOURCE").write_text(wheel.name + "\n")
print(f"stubs from {wheel.name} in {out}")
PY

echo "$want" >"$stamp"
echo "venv ready: $venv"
