#!/usr/bin/env bash
# Compile checks for phones, as far as this machine allows. The crates that
# carry the platform-specific code hypar depends on (the protocol core; the
# interface watcher if-watch, patched for iOS, under libp2p's TCP and mDNS;
# libp2p's DNS with hickory's Android resolver code) are checked for Android
# (aarch64-linux-android) and iOS (aarch64-apple-ios). The whole library is
# not: ring and aws-lc-sys compile C for the target, which needs the Android
# NDK or an iOS SDK, and neither exists here (README, "Phones").
set -euo pipefail
cd "$(dirname "$0")/.."
check() {
  local target=$1
  shift
  if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
  fi
  for crate in "$@"; do
    echo "cargo check --target $target -p $crate"
    cargo check --release --quiet --target "$target" -p "$crate"
  done
}
check aarch64-linux-android hypar-proto if-watch libp2p-tcp libp2p-mdns libp2p-dns
check aarch64-apple-ios hypar-proto if-watch libp2p-tcp libp2p-mdns libp2p-dns
echo "mobile compile checks: OK"
