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

step "Rust tests (protocol core, wire codec, simulator, real nodes over loopback, C header freshness)"
cargo test --release --workspace

step "build the release library and the hypar command (reused by every suite below)"
cargo build --release --workspace

step "Rust packages: cargo package for every publishable crate; a new project that depends on hypar alone"
cargo package --workspace --exclude libhypar --exclude uniffi-bindgen --no-verify --allow-dirty --quiet
bash tests/rust-consumer/run.sh

step "Phones: compile checks for Android and iOS of the crates with platform code (what this machine can check)"
bash scripts/mobile-check.sh

step "Fuzz targets (cargo-fuzz, nightly): replay the seed corpora, then a short fuzzing pass each"
bash fuzz/run.sh

step "C tests: shared, static, ASan+UBSan, valgrind (the header check ran with the Rust tests)"
bash tests/c/run.sh

step "C examples: Makefile, pkg-config, CMake find_package(hypar) from an install; chat and bridge over loopback"
bash tests/c/examples.sh

step "uniffi bindings: the checked-in Kotlin and Swift files are what uniffi-bindgen generates"
bash bindings/check-generated.sh

step "Kotlin bindings: JUnit 5 with real nodes over loopback, then the jar (libhypar.so inside) from a consumer project"
bash bindings/kotlin/run-tests.sh

# Last: maturin rebuilds target/release/libhypar.so for the wheel.
step "Python package: pip install from source (maturin + uniffi) into a venv, then pytest"
bash bindings/python/run-tests.sh

step "Hosts in network namespaces: hypar chat through crashes, power-offs, a partition, restarts, a late bootstrap, a slow link, NAT routers and relays, mDNS"
bash tests/hosts/run.sh
