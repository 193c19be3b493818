#!/usr/bin/env bash
# Install the C library, its header, a pkg-config file and a CMake package
# configuration under a prefix.
#
#   scripts/install.sh [PREFIX]        # default /usr/local
#
# Builds the release library first unless HYPAR_NO_BUILD=1. Afterwards:
#   cc app.c $(pkg-config --cflags --libs hypar)
# (set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a non-standard prefix), or in
# a CMakeLists.txt (with -DCMAKE_PREFIX_PATH=PREFIX for a non-standard prefix):
#   find_package(hypar 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE hypar::hypar)   # or hypar::hypar_static
# The CMake files locate everything relative to themselves
# (PREFIX/lib/cmake/hypar/), so the installed tree can be moved; hypar.pc
# names PREFIX itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(realpath -m "${1:-/usr/local}")
cd "$root"
[ "${HYPAR_NO_BUILD:-0}" = 1 ] || cargo build --release -p libhypar
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

install -d "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/hypar"
install -m 644 include/hypar.h "$prefix/include/hypar.h"
install -m 644 target/release/libhypar.a "$prefix/lib/libhypar.a"
install -m 755 target/release/libhypar.so "$prefix/lib/libhypar.so"
strip --strip-debug "$prefix/lib/libhypar.so" "$prefix/lib/libhypar.a" 2>/dev/null || true
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" scripts/hypar.pc.in >"$prefix/lib/pkgconfig/hypar.pc"
# The pointer size the library was built for, from its ELF class (byte 4: 1 = 32-bit, 2 = 64-bit).
elf_class=$(od -An -tu1 -j4 -N1 target/release/libhypar.so | tr -d ' ')
sizeof_void_p=$((elf_class * 4))
for file in hyparConfig.cmake hyparConfigVersion.cmake; do
  sed -e "s|@VERSION@|$version|g" -e "s|@SIZEOF_VOID_P@|$sizeof_void_p|g" \
    "scripts/$file.in" >"$prefix/lib/cmake/hypar/$file"
done
echo "installed hypar $version under $prefix"
