#!/usr/bin/env bash
# Install the C library, its header and a pkg-config file under a prefix.
#
#   scripts/install.sh [PREFIX]        # default /usr/local
#
# Builds the release library first unless HYPAR_NO_BUILD=1. Afterwards:
#   cc app.c $(pkg-config --cflags --libs hypar)
# (set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a non-standard prefix).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(realpath -m "${1:-/usr/local}")
cd "$root"
[ "${HYPAR_NO_BUILD:-0}" = 1 ] || cargo build --release -p libhypar
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 644 include/hypar.h "$prefix/include/hypar.h"
install -m 644 target/release/libhypar.a "$prefix/lib/libhypar.a"
install -m 755 target/release/libhypar.so "$prefix/lib/libhypar.so"
strip --strip-debug "$prefix/lib/libhypar.so" "$prefix/lib/libhypar.a" 2>/dev/null || true
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" scripts/hypar.pc.in >"$prefix/lib/pkgconfig/hypar.pc"
echo "installed hypar $version under $prefix"
