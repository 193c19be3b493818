#!/usr/bin/env bash
# Runs the Kotlin binding's JUnit tests (real nodes over loopback) with Maven,
# then checks the packaging: the jar must carry the native library, and a
# separate project that depends on nothing but that jar must work.
#
#   1. `mvn install` here: unit tests, then target/hypar-<version>.jar with
#      libhypar.so inside as linux-x86-64/libhypar.so, installed into the
#      local Maven repository (~/.m2/repository unless settings say otherwise)
#      as io.github.hypar:hypar:<version>.
#   2. The jar's listing must show linux-x86-64/libhypar.so, byte for byte the
#      library the tests used.
#   3. `mvn test` in consumer/: resolves the installed jar like any other
#      dependency, with no native path, and runs two nodes over loopback.
#
# It does not build Rust: it uses the release library that `cargo build
# --release` left in target/release/libhypar.so, or the one $HYPAR_LIB names.
# The library is copied to bindings/kotlin/target/native/ first (with its debug
# sections stripped, as scripts/install.sh does), so a concurrent cargo build
# cannot swap it out under the running JVM, and that copy goes into the jar.
#
# Needs Java 17+ and Maven 3.6.3+; Maven downloads Kotlin, JNA, coroutines,
# JUnit and its plugins on the first run. Extra arguments go to the first mvn
# (e.g. -Dtest=CloseTest); the consumer always runs.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LIB="${HYPAR_LIB:-$ROOT/target/release/libhypar.so}"
NATIVE="$HERE/target/native"
CONSUMER="$HERE/consumer"

if [[ ! -f "$LIB" ]]; then
    echo "run-tests.sh: $LIB not found." >&2
    echo "  Build it first with 'cargo build --release' at $ROOT, or point HYPAR_LIB at a libhypar.so." >&2
    exit 1
fi
for tool in java mvn unzip; do
    command -v "$tool" >/dev/null || { echo "run-tests.sh: $tool is not on PATH (Java 17+, Maven and unzip are needed)" >&2; exit 1; }
done

mkdir -p "$NATIVE"
# Copy to a temporary name and rename, so a JVM never maps a half-written file.
cp "$LIB" "$NATIVE/libhypar.so.tmp"
strip --strip-debug "$NATIVE/libhypar.so.tmp" 2>/dev/null || true
mv -f "$NATIVE/libhypar.so.tmp" "$NATIVE/libhypar.so"

VERSION=$(sed -n 's|^  <version>\(.*\)</version>|\1|p' "$HERE/pom.xml" | head -1)
JAR="$HERE/target/hypar-$VERSION.jar"
REPORTS="$HERE/target/surefire-reports"
CONSUMER_REPORTS="$CONSUMER/target/surefire-reports"
rm -rf "$REPORTS" "$CONSUMER_REPORTS" "$JAR"

echo "Kotlin tests: $(java -version 2>&1 | head -1), $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')"
echo "  library: $LIB"
echo "  (3 'Callback interface failure' panics on stderr are expected: tests make handlers throw)"
start=$SECONDS

# mvn in batch mode, quiet (warnings, errors and the tests' native stderr);
# sed drops the colour resets some Maven launchers print even in batch mode.
mvn_quiet() { # dir args...
    local dir=$1
    shift
    (cd "$dir" && mvn -B -q -Dstyle.color=never "$@") 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d'
}

# One line per test class from surefire's XML reports in $1, added to the totals.
attr() { sed -n "s/.*<testsuite [^>]*\b$1=\"\([^\"]*\)\".*/\1/p" "$2" | head -1; }
total=0 failed=0 skipped=0
summarize() { # reports-dir
    local xml name t f e s secs
    shopt -s nullglob
    for xml in "$1"/TEST-*.xml; do
        name=$(attr name "$xml"); t=$(attr tests "$xml"); f=$(attr failures "$xml"); e=$(attr errors "$xml")
        s=$(attr skipped "$xml"); secs=$(attr time "$xml")
        total=$((total + t)); failed=$((failed + f + e)); skipped=$((skipped + s))
        printf '  %-28s %3d tests, %d failed, %d skipped, %ss\n' "${name#hypar.}" "$t" "$((f + e))" "$s" "$secs"
    done
    shopt -u nullglob
}
# The failing test classes' own output (stdout and stderr of the test JVM).
show_failures() { # reports-dir
    local out cls
    shopt -s nullglob
    for out in "$1"/*-output.txt; do
        cls=$(basename "$out" -output.txt)
        if grep -q -E '(failures|errors)="[1-9]' "$1/TEST-$cls.xml" 2>/dev/null; then
            echo "--- last lines of $cls output ($out):"
            tail -n 40 "$out"
        fi
    done
    shopt -u nullglob
}
fail() {
    echo "Kotlin tests: FAILED, $* ($((SECONDS - start))s)" >&2
    exit 1
}

# 1. Unit tests, the jar, and its installation into the local repository.
status=0
mvn_quiet "$HERE" install -Dhypar.lib.dir="$NATIVE" "$@" || status=$?
before=$total
summarize "$REPORTS"
if [[ $total -eq $before ]]; then
    fail "no test ran (mvn exit status $status); see the Maven output above"
fi
if [[ $status -ne 0 || $failed -ne 0 ]]; then
    show_failures "$REPORTS"
    fail "$failed of $total failed (mvn exit status $status); reports in $REPORTS"
fi

# 2. The native library is in the jar, and it is the one just tested.
[[ -f "$JAR" ]] || fail "mvn install left no $JAR"
listing=$(unzip -l "$JAR") || fail "unzip cannot read $JAR"
grep -q -E '[[:space:]]linux-x86-64/libhypar\.so$' <<<"$listing" \
    || { echo "$listing" >&2; fail "$JAR has no linux-x86-64/libhypar.so (listing above)"; }
unzip -p "$JAR" linux-x86-64/libhypar.so >"$HERE/target/libhypar.so.from-jar"
cmp -s "$HERE/target/libhypar.so.from-jar" "$NATIVE/libhypar.so" \
    || fail "linux-x86-64/libhypar.so in $JAR differs from $NATIVE/libhypar.so"
rm -f "$HERE/target/libhypar.so.from-jar"
echo "  jar: $(basename "$JAR") ($(du -h "$JAR" | cut -f1)) carries linux-x86-64/libhypar.so, installed as io.github.hypar:hypar:$VERSION"

# 3. A project whose only dependency is the installed jar. Nothing tells it
# where the library is: not -Djna.library.path, nor LD_LIBRARY_PATH.
status=0
before=$total failed_before=$failed
(unset LD_LIBRARY_PATH; mvn_quiet "$CONSUMER" test -Dhypar.version="$VERSION") || status=$?
summarize "$CONSUMER_REPORTS"
if [[ $total -eq $before ]]; then
    fail "the consumer project ran no test (mvn exit status $status); see the Maven output above"
fi
if [[ $status -ne 0 || $failed -ne $failed_before ]]; then
    show_failures "$CONSUMER_REPORTS"
    fail "the consumer project failed (mvn exit status $status); reports in $CONSUMER_REPORTS"
fi

echo "Kotlin tests: OK, $total passed, $skipped skipped in $((SECONDS - start))s"
