#!/usr/bin/env bash
# Builds the Python package from source with pip (maturin + uniffi) into a
# virtualenv, then runs the pytest suite (real nodes over loopback) and the
# examples. The venv is $HYPAR_VENV, default .venv at the repository root.
# Run it after the other suites: maturin replaces target/release/libhypar.so.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${HYPAR_VENV:-$root/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
export PATH="$venv/bin:$PATH"
pip install -q --disable-pip-version-check -r "$root/bindings/python/requirements-dev.txt"
echo "building and installing the wheel (pip install bindings/python)"
pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall "$root/bindings/python"
cd "$root/tests/python"
python -m pytest -q
