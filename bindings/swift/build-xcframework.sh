#!/usr/bin/env bash
# Builds bindings/swift/HyparFFI.xcframework, the binary target of the Swift
# package: libhypar as a static library for
#
#   iOS devices        aarch64-apple-ios
#   the iOS simulator  aarch64-apple-ios-sim   (Apple silicon Macs)
#   macOS              aarch64-apple-darwin + x86_64-apple-darwin (one universal library)
#
# each with the C header of the FFI (HyparFFI/hyparFFI.h) and its module map,
# then links a small C program against every slice (and runs it on macOS) to
# catch missing system libraries before an app does.
#
# Needs macOS with Xcode (xcodebuild, lipo, xcrun) and rustup. Run it from
# anywhere: ./bindings/swift/build-xcframework.sh
#
# THIS SCRIPT HAS NOT BEEN RUN: it was written on Linux, without macOS,
# Xcode or a Swift toolchain. Read it before trusting it, and expect to fix
# small things on the first run.
#
# Known risk: libp2p's TCP and QUIC transports use if-watch, whose Apple
# code calls SCDynamicStore functions that the iOS SDK does not export
# (libp2p/rust-libp2p#6161). If the iOS link check below fails with
# undefined _SCDynamicStore* symbols, that is why; macOS is not affected.
#
# Environment:
#   HYPAR_APPLE_TARGETS      the Rust targets to build (default: the four above;
#                            e.g. "aarch64-apple-darwin x86_64-apple-darwin" for macOS only)
#   IPHONEOS_DEPLOYMENT_TARGET  default 13.0 (as Package.swift)
#   MACOSX_DEPLOYMENT_TARGET    default 10.15 (as Package.swift; arm64 is 11.0 at least)
#   HYPAR_SKIP_LINK_CHECK=1  skip the link check
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$HERE/HyparFFI.xcframework"
STAGE="$ROOT/target/xcframework"
TARGETS="${HYPAR_APPLE_TARGETS:-aarch64-apple-ios aarch64-apple-ios-sim aarch64-apple-darwin x86_64-apple-darwin}"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-13.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-10.15}"

die() { echo "build-xcframework.sh: $*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }

[[ "$(uname -s)" == Darwin ]] || die "needs macOS with Xcode (this is $(uname -s))"
for tool in cargo rustup xcodebuild lipo xcrun; do
    command -v "$tool" >/dev/null || die "$tool not found (install Xcode and rustup)"
done

rm -rf "$STAGE"
mkdir -p "$STAGE"

step "rustup target add $TARGETS"
# shellcheck disable=SC2086  # one word per target
rustup target add $TARGETS

# The static library of one target; records the system libraries it needs
# (rustc's --print native-static-libs) in $STAGE/<target>.libs.
build() {
    local target=$1 log="$STAGE/$1.log"
    step "cargo: static library for $target"
    # `cargo rustc` passes --print to the hypar crate only; --crate-type
    # builds just the static library, not the cdylib and rlib.
    (cd "$ROOT" && cargo rustc --release --lib --crate-type staticlib --target "$target" \
        -- --print native-static-libs) 2>&1 | tee "$log"
    [[ -f "$ROOT/target/$target/release/libhypar.a" ]] || die "no libhypar.a for $target (see $log)"
    local libs
    libs=$(sed -n 's/.*native-static-libs: //p' "$log" | tail -n 1)
    # Cargo prints the note only when it compiles hypar; a fresh build that
    # was up to date has none: fall back to what if-watch and std need.
    [[ -n "$libs" ]] || libs="-framework CoreFoundation -framework SystemConfiguration -liconv -lSystem -lc -lm"
    echo "$libs" >"$STAGE/$target.libs"
    echo "system libraries for $target: $libs"
}

for target in $TARGETS; do build "$target"; done

has() { [[ " $TARGETS " == *" $1 "* ]]; }

step "headers and module map"
# One subdirectory per module: Xcode copies the Headers of every static
# xcframework into one include directory, where two top-level
# module.modulemap files would collide. Clang finds <dir>/hyparFFI/module.modulemap
# for `import hyparFFI`.
HEADERS="$STAGE/headers"
mkdir -p "$HEADERS/hyparFFI"
cp "$HERE/HyparFFI/hyparFFI.h" "$HEADERS/hyparFFI/hyparFFI.h"
cp "$HERE/HyparFFI/hyparFFI.modulemap" "$HEADERS/hyparFFI/module.modulemap"

args=()
if has aarch64-apple-ios; then
    args+=(-library "$ROOT/target/aarch64-apple-ios/release/libhypar.a" -headers "$HEADERS")
fi
if has aarch64-apple-ios-sim; then
    args+=(-library "$ROOT/target/aarch64-apple-ios-sim/release/libhypar.a" -headers "$HEADERS")
fi
mac=()
for target in aarch64-apple-darwin x86_64-apple-darwin; do
    if has "$target"; then mac+=("$ROOT/target/$target/release/libhypar.a"); fi
done
if [[ ${#mac[@]} -gt 0 ]]; then
    step "lipo: one macOS library for ${#mac[@]} architecture(s)"
    mkdir -p "$STAGE/macos"
    lipo -create "${mac[@]}" -output "$STAGE/macos/libhypar.a"
    lipo -info "$STAGE/macos/libhypar.a"
    args+=(-library "$STAGE/macos/libhypar.a" -headers "$HEADERS")
fi
[[ ${#args[@]} -gt 0 ]] || die "no target to package: HYPAR_APPLE_TARGETS=$TARGETS"

step "xcodebuild -create-xcframework"
rm -rf "$OUT"
xcodebuild -create-xcframework "${args[@]}" -output "$OUT"

if [[ "${HYPAR_SKIP_LINK_CHECK:-}" != 1 ]]; then
    step "link check: a C program against every slice"
    cat >"$STAGE/check.c" <<'EOF'
#include <stdio.h>
#include "hyparFFI.h"

int main(int argc, char **argv) {
    (void)argv;
    RustCallStatus status = {0};
    RustBuffer v = uniffi_hypar_fn_func_version(&status);
    if (status.code != 0) return 1;
    printf("libhypar %.*s\n", (int)v.len, (const char *)v.data);
    ffi_hypar_rustbuffer_free(v, &status);
    /* Referenced, never called: links the network code (libp2p and its
       platform dependencies) as an app does. */
    if (argc > 99) {
        RustBuffer none = {0};
        (void)uniffi_hypar_fn_constructor_hyparnetwork_new(none, &status);
    }
    return status.code;
}
EOF
    # link <sdk> <clang target or arch flags> <library> <target whose .libs to use>
    link() {
        local sdk=$1 flags=$2 lib=$3 libs_from=$4 exe="$STAGE/check-$1"
        echo "-- $sdk ($flags)"
        # shellcheck disable=SC2086  # flags and the library list are word lists
        if ! xcrun --sdk "$sdk" clang $flags -I "$HEADERS/hyparFFI" "$STAGE/check.c" "$lib" \
            $(cat "$STAGE/$libs_from.libs") -o "$exe"; then
            echo "build-xcframework.sh: the $sdk slice does not link (see above)." >&2
            echo "  Undefined _SCDynamicStore* symbols on iOS: libp2p/rust-libp2p#6161 (if-watch)." >&2
            echo "  Other undefined symbols: add the library to the list and to Package.swift's linkerSettings." >&2
            exit 1
        fi
    }
    if has aarch64-apple-ios; then
        link iphoneos "-target arm64-apple-ios$IPHONEOS_DEPLOYMENT_TARGET" \
            "$ROOT/target/aarch64-apple-ios/release/libhypar.a" aarch64-apple-ios
    fi
    if has aarch64-apple-ios-sim; then
        link iphonesimulator "-target arm64-apple-ios$IPHONEOS_DEPLOYMENT_TARGET-simulator" \
            "$ROOT/target/aarch64-apple-ios-sim/release/libhypar.a" aarch64-apple-ios-sim
    fi
    if [[ ${#mac[@]} -gt 0 ]]; then
        arch_flags="" first_mac=""
        if has x86_64-apple-darwin; then arch_flags+=" -arch x86_64" first_mac=x86_64-apple-darwin; fi
        if has aarch64-apple-darwin; then arch_flags+=" -arch arm64" first_mac=aarch64-apple-darwin; fi
        link macosx "$arch_flags -mmacosx-version-min=$MACOSX_DEPLOYMENT_TARGET" \
            "$STAGE/macos/libhypar.a" "$first_mac"
        "$STAGE/check-macosx" || die "the macOS check program failed to run"
    fi
fi

step "done"
echo "$OUT"
echo "System libraries rustc asked for (Package.swift links SystemConfiguration and CoreFoundation):"
for target in $TARGETS; do printf '  %-22s %s\n' "$target" "$(cat "$STAGE/$target.libs")"; done
