#!/usr/bin/env bash
# Runs every test suite. This is the README's test command; .ci/run calls it.
# Everything is built once, in release mode, and reused by each suite.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all --check

step "clippy"
cargo clippy --release --workspace --all-targets -- -D warnings

step "Rust tests (protocol core, wire codec, simulator, real nodes over loopback)"
cargo test --release --workspace
