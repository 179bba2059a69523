#!/usr/bin/env bash
# Creates .venv-sdk/ at the repository root with Fivetran's Connector SDK 2.13.1 (requirements.txt) for
# `cargo bench --bench vs_python_sdk`. Idempotent: returns at once when requirements.txt and this script are
# unchanged since the last successful run. PYTHON selects the interpreter (default python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/../.." && pwd)/.venv-sdk"
python="${PYTHON:-python3}"
want="$(cat "$here/requirements.txt" "$here/setup.sh" | sha256sum | cut -d' ' -f1)"
if [[ -f "$venv/.stamp" && -x "$venv/bin/python" && "$(cat "$venv/.stamp")" == "$want" ]]; then
    exit 0
fi
echo "creating $venv with $("$python" --version 2>&1) and fivetran-connector-sdk 2.13.1" >&2
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip --disable-pip-version-check --no-input --quiet install -r "$here/requirements.txt"
echo "$want" >"$venv/.stamp"
