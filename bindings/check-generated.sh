#!/usr/bin/env bash
# Checks that the checked-in uniffi bindings are what the repo's own
# uniffi-bindgen generates from the built library:
#
#   bindings/kotlin/src/main/kotlin/uniffi/hypar/hypar.kt
#   bindings/swift/Sources/Hypar/hypar.swift
#   bindings/swift/HyparFFI/hyparFFI.h
#   bindings/swift/HyparFFI/hyparFFI.modulemap
#
# Usage: bindings/check-generated.sh [path/to/libhypar.so]
#   The library defaults to target/release/libhypar.so; it is not built here.
#   HYPAR_BLESS=1 rewrites the checked-in files instead of failing.
#   UNIFFI_BINDGEN overrides the generator (default target/release/hypar-uniffi-bindgen,
#   built from bindings/uniffi-bindgen by `cargo build --release`).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LIB="${1:-$ROOT/target/release/libhypar.so}"
BINDGEN="${UNIFFI_BINDGEN:-$ROOT/target/release/hypar-uniffi-bindgen}"

die() { echo "check-generated.sh: $*" >&2; exit 1; }
[[ -f "$LIB" ]] || die "$LIB not found: build it with 'cargo build --release', or pass the library's path"
[[ -x "$BINDGEN" ]] || die "$BINDGEN not found: build it with 'cargo build --release' (bindings/uniffi-bindgen)"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# uniffi-bindgen runs `cargo metadata`, so it runs inside the workspace.
for language in kotlin swift; do
    if ! (cd "$ROOT" && "$BINDGEN" generate --no-format --library "$LIB" --language "$language" \
        --out-dir "$TMP/$language") >"$TMP/$language.log" 2>&1; then
        cat "$TMP/$language.log" >&2
        die "uniffi-bindgen failed for $language"
    fi
done

# generated file -> checked-in file
pairs=(
    "kotlin/uniffi/hypar/hypar.kt"  "bindings/kotlin/src/main/kotlin/uniffi/hypar/hypar.kt"
    "swift/hypar.swift"             "bindings/swift/Sources/Hypar/hypar.swift"
    "swift/hyparFFI.h"              "bindings/swift/HyparFFI/hyparFFI.h"
    "swift/hyparFFI.modulemap"      "bindings/swift/HyparFFI/hyparFFI.modulemap"
)

# A generated file without a place (a new namespace, a renamed output) is a
# change this script must learn about.
expected=$(for ((i = 0; i < ${#pairs[@]}; i += 2)); do echo "${pairs[i]}"; done | sort)
actual=$(cd "$TMP" && find kotlin swift -type f | sort)
if [[ "$expected" != "$actual" ]]; then
    echo "check-generated.sh: uniffi-bindgen generated other files than expected:" >&2
    diff <(echo "$expected") <(echo "$actual") >&2 || true
    die "update the list of files in $0"
fi

stale=()
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
    generated="$TMP/${pairs[i]}" checked_in="$ROOT/${pairs[i + 1]}"
    if ! cmp -s "$generated" "$checked_in"; then
        stale+=("${pairs[i + 1]}")
        if [[ "${HYPAR_BLESS:-}" == 1 ]]; then
            mkdir -p "$(dirname "$checked_in")"
            cp "$generated" "$checked_in"
        else
            echo "--- ${pairs[i + 1]} differs from what uniffi-bindgen generates:"
            diff -u --label "${pairs[i + 1]} (checked in)" --label "${pairs[i + 1]} (generated)" \
                "$checked_in" "$generated" | head -n 200 || true
        fi
    fi
done

if [[ ${#stale[@]} -eq 0 ]]; then
    echo "Generated bindings: up to date ($((${#pairs[@]} / 2)) files, from $LIB)"
elif [[ "${HYPAR_BLESS:-}" == 1 ]]; then
    echo "Generated bindings: rewrote ${stale[*]}"
else
    echo "check-generated.sh: ${#stale[@]} generated binding file(s) are stale: ${stale[*]}" >&2
    echo "  (diffs above, at most 200 lines each). If the interface change is intended, run:" >&2
    echo "  HYPAR_BLESS=1 bash bindings/check-generated.sh ${1:-}" >&2
    exit 1
fi
