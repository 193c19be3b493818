#!/usr/bin/env bash
# A new Rust project that depends on the `hypar` crate by path, as a user's
# would: it must build without uniffi or cbindgen (the foreign layer lives in
# other crates), and the README's Rust quickstart and examples/ must compile
# and run against `hypar` alone.
#
# The project shares the workspace's target directory and lock file, so
# crates already built are reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
app="$work/app"
mkdir -p "$app/src" "$app/examples"

cat >"$app/Cargo.toml" <<TOML
[package]
name = "hypar-consumer"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
hypar = { path = "$root" }
# The bridge example runs on tokio; these features (and the profile below)
# are the workspace's, so the build reuses its artifacts.
tokio = { version = "1", features = ["rt", "rt-multi-thread", "sync", "time", "macros", "net"] }

[profile.release]
debug = "line-tables-only"

[workspace]
TOML
cp "$root/Cargo.lock" "$app/Cargo.lock"

# The README's Rust quickstart (its first rust block, doctest-style: lines
# starting with "# " are code too) becomes main().
{
    echo 'fn main() -> Result<(), Box<dyn std::error::Error>> {'
    awk '/^```rust$/ {inside = 1; next} inside && /^```$/ {exit} inside' "$root/README.md" \
        | sed -e 's/^# //' -e '/^Ok::<(), hypar::Error>(())$/d'
    echo '    Ok(())'
    echo '}'
} >"$app/src/main.rs"
cp "$root"/examples/*.rs "$app/examples/"

cd "$app"
# The workspace patches some crates (if-watch, see Cargo.toml); a user's
# project takes them from crates.io, which the workspace's builds never
# fetched. Fetch what is missing; everything after runs offline.
cargo fetch --quiet
echo "dependency tree of a crate that depends on hypar:"
# The workspace's lock file, trimmed to this project: the same versions.
cargo tree -e normal --offline >"$work/tree.txt"
if grep -E 'uniffi|cbindgen' "$work/tree.txt"; then
    echo "rust-consumer: hypar pulls in uniffi or cbindgen (above)" >&2
    exit 1
fi
echo "  no uniffi, no cbindgen"
log="$work/build.log"
CARGO_TARGET_DIR="$root/target" cargo build --release --offline --all-targets -v >"$log" 2>&1 || {
    tail -n 40 "$log" >&2
    echo "rust-consumer: the build failed" >&2
    exit 1
}
if grep -E '^ *(Compiling|Fresh) (uniffi|cbindgen)' "$log"; then
    echo "rust-consumer: the build compiled uniffi or cbindgen (above)" >&2
    exit 1
fi
echo "  built the quickstart and $(ls "$app/examples" | wc -l) examples without uniffi or cbindgen"
CARGO_TARGET_DIR="$root/target" timeout 120 cargo run --release --offline -q
echo "rust-consumer: the README quickstart ran"
