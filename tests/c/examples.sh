#!/usr/bin/env bash
# Build examples-c every supported way: its Makefile against the build tree and,
# after scripts/install.sh into a temporary prefix, through pkg-config (shared
# and static); CMake through find_package(hypar) (shared and static, from a
# prefix moved after installation), through pkg-config and against the build
# tree. Then run chat and bridge for real over loopback: the CMake
# find_package binaries, talking to the Makefile build-tree chat.
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

# Configure and build examples-c with CMake in $work/$1; the configure output
# must contain $2 (which hypar it found). Further arguments go to cmake.
cmake_build() { # build-dir expected-line cmake-args...
  local dir="$work/$1" expect=$2
  shift 2
  cmake -S "$root/examples-c" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.log" 2>&1 \
    || { cat "$dir.log" >&2; return 1; }
  grep -qF -- "$expect" "$dir.log" \
    || { cat "$dir.log" >&2; echo "CMake did not report '$expect'" >&2; return 1; }
  cmake --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log" >&2; return 1; }
}

# Fails unless running $1 without arguments prints its usage line, i.e. it starts.
starts() { # program
  { "$1" 2>&1 || true; } | grep -q usage || { echo "$1 does not start:" >&2; "$1" >&2 || true; return 1; }
}

echo "== examples-c: pkg-config build against an installed prefix (shared and static)"
HYPAR_NO_BUILD=1 "$root/scripts/install.sh" "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
make -s -C "$root/examples-c" clean all USE_PKG_CONFIG=1 STATIC=1
make -s -C "$root/examples-c" clean all USE_PKG_CONFIG=1
LD_LIBRARY_PATH="$work/prefix/lib" starts "$root/examples-c/chat"

echo "== examples-c: CMake build through pkg-config"
cmake_build cmake-pc "pkg-config, $work/prefix/lib/libhypar.so" -DCMAKE_DISABLE_FIND_PACKAGE_hypar=ON
LD_LIBRARY_PATH="$work/prefix/lib" starts "$work/cmake-pc/chat"
unset PKG_CONFIG_PATH

# The CMake package locates everything relative to itself: move the prefix
# first, so a path recorded at install time would break the build.
mv "$work/prefix" "$work/moved"
pkg="$work/moved/lib/cmake/hypar"
for f in hyparConfig.cmake hyparConfigVersion.cmake; do
  [ -f "$pkg/$f" ] || { echo "scripts/install.sh did not install lib/cmake/hypar/$f" >&2; exit 1; }
done

echo "== examples-c: CMake build through find_package(hypar), shared (hypar::hypar)"
cmake_build cmake-pkg "hypar::hypar from the CMake package in $pkg" -DCMAKE_PREFIX_PATH="$work/moved"
# The examples must name libhypar.so, not a path, and find it through their runpath.
needed=$(readelf -d "$work/cmake-pkg/chat" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
grep -qx libhypar.so <<<"$needed" || { echo "chat's DT_NEEDED lacks a plain libhypar.so: $needed" >&2; exit 1; }
starts "$work/cmake-pkg/chat"

echo "== examples-c: CMake build through find_package(hypar), static (hypar::hypar_static)"
cmake_build cmake-static "hypar::hypar_static from the CMake package in $pkg" \
  -DCMAKE_PREFIX_PATH="$work/moved" -DHYPAR_STATIC=ON
if readelf -d "$work/cmake-static/chat" | grep -q 'libhypar'; then
  echo "the static chat still depends on a shared libhypar" >&2
  exit 1
fi
starts "$work/cmake-static/chat"

echo "== examples-c: CMake build against the build tree"
cmake_build cmake-tree "hypar: the build tree, $root/target/release/libhypar.so" \
  -DCMAKE_DISABLE_FIND_PACKAGE_hypar=ON -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON
starts "$work/cmake-tree/chat"

echo "== examples-c: Makefile build against the build tree"
make -s -C "$root/examples-c" clean all
# From here on: chat and bridge built by CMake through find_package(hypar),
# and the Makefile's chat as the other side of a conversation.
chat="$work/cmake-pkg/chat"
bridge="$work/cmake-pkg/bridge"
make_chat="$root/examples-c/chat"
lo=(-l /ip4/127.0.0.1/tcp/0)

echo "== chat: a line typed into one chat appears in the other"
mkfifo "$work/a_in"
"$chat" "${lo[@]}" room <"$work/a_in" >"$work/a_out" 2>"$work/a_err" &
pids+=($!)
exec 3>"$work/a_in"
wait_for "$work/a_err" /p2p/
addr=$(grep -m1 /p2p/ "$work/a_err")
echo "hello from b" | "$make_chat" "${lo[@]}" room "$addr" >"$work/b_out" 2>"$work/b_err"
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
"$make_chat" "${lo[@]}" y "$baddr" <"$work/y_in" >"$work/y_out" 2>"$work/y_err" &
pids+=($!)
exec 5>"$work/y_in"
wait_for "$work/y_err" "joined"
echo "across the bridge" | "$chat" "${lo[@]}" x "$baddr" >/dev/null 2>"$work/x_err"
wait_for "$work/y_out" "across the bridge"
exec 4>&- 5>&-
wait "${pids[1]}" "${pids[2]}"
grep -q "forwarded 1 from x" "$work/bridge_err"
echo "examples-c passed"
