#!/usr/bin/env bash
# Builds the Python package from source with pip (maturin + uniffi) into a
# virtualenv, checks it with mypy --strict (the package and the examples),
# then runs the pytest suite (real nodes over loopback) and the examples.
# The venv is $HYPAR_VENV, default .venv at the repository root.
# Run it after the other suites: maturin replaces target/release/libhypar.so.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${HYPAR_VENV:-$root/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
export PATH="$venv/bin:$PATH"
pip install -q --disable-pip-version-check -r "$root/bindings/python/requirements-dev.txt"
echo "building and installing the wheel (pip install bindings/python)"
start=$SECONDS
pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall "$root/bindings/python"
echo "  built and installed in $((SECONDS - start)) s"
echo "mypy --strict: the installed package and examples-python/"
mypy --strict --config-file "$root/bindings/python/pyproject.toml" -p hypar
mypy --strict --config-file "$root/bindings/python/pyproject.toml" "$root/examples-python"
cd "$root/tests/python"
python -m pytest -q
