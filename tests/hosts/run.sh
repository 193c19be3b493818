#!/usr/bin/env bash
# The host bed's scenarios at CI size: hypar chat processes on hosts in
# network namespaces (steady, crash, power-off, partition, restart, late
# bootstrap, slow link, unreachable peers behind NAT, mDNS, NAT traversal
# through a relay). Needs root; without it the tests fail and say why.
# Uses the release `hypar` binary ($HYPAR_BIN overrides) and the Python venv
# the Python suite made ($HYPAR_VENV, default .venv), for pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${HYPAR_VENV:-$root/.venv}
if [[ $(id -u) == 0 ]] && ! command -v tc >/dev/null; then
    echo "installing iproute2 (ip, tc) for the host bed"
    apt-get install -y -qq iproute2 >/dev/null
fi
if [[ $(id -u) == 0 ]] && ! command -v nft >/dev/null; then
    echo "installing nftables (nft) for the host bed's NAT routers"
    apt-get install -y -qq nftables >/dev/null
fi
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$root/bindings/python/requirements-dev.txt"; }
cd "$root/tests/hosts"
echo "mypy --strict: the host bed"
"$venv/bin/python" -m mypy --strict --cache-dir=/dev/null bed.py scenarios.py nat.py test_hosts.py
"$venv/bin/python" -m pytest -q -s -p no:cacheprovider test_hosts.py
