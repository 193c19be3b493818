#!/usr/bin/env bash
# Build examples-c with its Makefile (build tree and, after scripts/install.sh
# into a temporary prefix, through pkg-config, shared and static) and with
# CMake; then run chat and bridge for real over loopback.
# Needs `cargo build --release` to have run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  make -s -C "$root/examples-c" clean >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # file pattern
  for _ in $(seq 200); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1:" >&2
  cat "$1" >&2
  return 1
}

echo "== examples-c: pkg-config build against an installed prefix (shared and static)"
HYPAR_NO_BUILD=1 "$root/scripts/install.sh" "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
make -s -C "$root/examples-c" clean all USE_PKG_CONFIG=1 STATIC=1
make -s -C "$root/examples-c" clean all USE_PKG_CONFIG=1
{ LD_LIBRARY_PATH="$work/prefix/lib" "$root/examples-c/chat" 2>&1 || true; } | grep -q usage

echo "== examples-c: CMake build"
cmake -S "$root/examples-c" -B "$work/cmake" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake" >/dev/null
unset PKG_CONFIG_PATH

echo "== examples-c: Makefile build against the build tree"
make -s -C "$root/examples-c" clean all
chat="$root/examples-c/chat"
bridge="$root/examples-c/bridge"
lo=(-l /ip4/127.0.0.1/tcp/0)

echo "== chat: a line typed into one chat appears in the other"
mkfifo "$work/a_in"
"$chat" "${lo[@]}" room <"$work/a_in" >"$work/a_out" 2>"$work/a_err" &
pids+=($!)
exec 3>"$work/a_in"
wait_for "$work/a_err" /p2p/
addr=$(grep -m1 /p2p/ "$work/a_err")
echo "hello from b" | "$chat" "${lo[@]}" room "$addr" >"$work/b_out" 2>"$work/b_err"
wait_for "$work/a_out" "hello from b"
exec 3>&-
wait "${pids[0]}"

echo "== bridge: a line sent on topic x arrives on topic y"
mkfifo "$work/bridge_in" "$work/y_in"
"$bridge" x y <"$work/bridge_in" 2>"$work/bridge_err" &
pids+=($!)
exec 4>"$work/bridge_in"
wait_for "$work/bridge_err" "/ip4/127.0.0.1/tcp/"
baddr=$(grep -m1 "/ip4/127.0.0.1/tcp/" "$work/bridge_err")
"$chat" "${lo[@]}" y "$baddr" <"$work/y_in" >"$work/y_out" 2>"$work/y_err" &
pids+=($!)
exec 5>"$work/y_in"
wait_for "$work/y_err" "joined"
echo "across the bridge" | "$chat" "${lo[@]}" x "$baddr" >/dev/null 2>"$work/x_err"
wait_for "$work/y_out" "across the bridge"
exec 4>&- 5>&-
wait "${pids[1]}" "${pids[2]}"
grep -q "forwarded 1 from x" "$work/bridge_err"
echo "examples-c passed"
