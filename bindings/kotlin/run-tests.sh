#!/usr/bin/env bash
# Runs the Kotlin binding's JUnit tests (real nodes over loopback) with Maven.
#
# It does not build Rust: it uses the release library that `cargo build
# --release` left in target/release/libhypar.so, or the one $HYPAR_LIB names.
# The library is copied to bindings/kotlin/target/native/ first, so a
# concurrent cargo build cannot swap it out under the running JVM.
#
# Needs Java 17+ and Maven 3.6.3+; Maven downloads Kotlin, JNA, coroutines and
# JUnit on the first run. Extra arguments go to mvn (e.g. -Dtest=CloseTest).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LIB="${HYPAR_LIB:-$ROOT/target/release/libhypar.so}"
NATIVE="$HERE/target/native"

if [[ ! -f "$LIB" ]]; then
    echo "run-tests.sh: $LIB not found." >&2
    echo "  Build it first with 'cargo build --release' at $ROOT, or point HYPAR_LIB at a libhypar.so." >&2
    exit 1
fi
for tool in java mvn; do
    command -v "$tool" >/dev/null || { echo "run-tests.sh: $tool is not on PATH (Java 17+ and Maven are needed)" >&2; exit 1; }
done

mkdir -p "$NATIVE"
# Copy to a temporary name and rename, so a JVM never maps a half-written file.
cp "$LIB" "$NATIVE/libhypar.so.tmp"
mv -f "$NATIVE/libhypar.so.tmp" "$NATIVE/libhypar.so"

REPORTS="$HERE/target/surefire-reports"
rm -rf "$REPORTS"

echo "Kotlin tests: $(java -version 2>&1 | head -1), $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')"
echo "  library: $LIB"
echo "  (3 'Callback interface failure' panics on stderr are expected: tests make handlers throw)"
start=$SECONDS
status=0
# -q keeps Maven to warnings, errors and the tests' native stderr; sed drops
# the colour resets some Maven launchers print even in batch mode.
(cd "$HERE" && mvn -B -q -Dstyle.color=never test -Dhypar.lib.dir="$NATIVE" "$@") 2>&1 \
    | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' || status=$?
elapsed=$((SECONDS - start))

# One line per test class from the surefire XML reports, then the totals.
attr() { sed -n "s/.*<testsuite [^>]*\b$1=\"\([^\"]*\)\".*/\1/p" "$2" | head -1; }
total=0 failed=0 skipped=0
shopt -s nullglob
for xml in "$REPORTS"/TEST-*.xml; do
    name=$(attr name "$xml"); t=$(attr tests "$xml"); f=$(attr failures "$xml"); e=$(attr errors "$xml")
    s=$(attr skipped "$xml"); secs=$(attr time "$xml")
    total=$((total + t)); failed=$((failed + f + e)); skipped=$((skipped + s))
    printf '  %-28s %3d tests, %d failed, %d skipped, %ss\n' "${name#hypar.}" "$t" "$((f + e))" "$s" "$secs"
done

if [[ $total -eq 0 ]]; then
    echo "Kotlin tests: FAILED, no test ran (mvn exit status $status, ${elapsed}s); see the Maven output above" >&2
    exit 1
fi
if [[ $status -ne 0 || $failed -ne 0 ]]; then
    # The failing tests' own output (stdout and stderr of the test JVM).
    for out in "$REPORTS"/*-output.txt; do
        cls=$(basename "$out" -output.txt)
        if grep -q -E '(failures|errors)="[1-9]' "$REPORTS/TEST-$cls.xml" 2>/dev/null; then
            echo "--- last lines of $cls output ($out):"
            tail -n 40 "$out"
        fi
    done
    echo "Kotlin tests: FAILED, $failed of $total failed (mvn exit status $status, ${elapsed}s); reports in $REPORTS" >&2
    exit 1
fi
echo "Kotlin tests: OK, $total passed, $skipped skipped in ${elapsed}s"
