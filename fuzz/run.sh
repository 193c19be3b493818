#!/usr/bin/env bash
# Replays each fuzz target's checked-in seed corpus (fuzz/corpus/<target>),
# then fuzzes each briefly (FUZZ_SECONDS, default 20) into a scratch corpus.
# Needs the nightly toolchain; installs cargo-fuzz if missing. Any crash fails.
# The long runs whose counts the README quotes are:
#   cd fuzz && cargo +nightly fuzz run -s none <target> corpus/<target> -- -runs=10000000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
seconds=${FUZZ_SECONDS:-20}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in wire_decode state_machine signatures; do
  echo "== $target: replay $(ls "corpus/$target" | wc -l) seed inputs, then fuzz ${seconds} s"
  cargo +nightly fuzz run -s none "$target" "corpus/$target" -- -runs=0 2>&1 | grep -aE '^#[0-9]+ *(INITED|DONE)|Done' | tail -1
  mkdir -p "$scratch/$target"
  cargo +nightly fuzz run -s none "$target" "$scratch/$target" "corpus/$target" -- -max_total_time="$seconds" \
    -print_final_stats=1 2>&1 | grep -aE '^stat::number_of_executed_units' | sed "s/^/   /"
done
echo "fuzz targets: no finding"
