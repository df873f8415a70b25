#!/usr/bin/env bash
# Fuzzes every target in tests/fuzz with libFuzzer for SECONDS each (default 60) and prints, per
# target, the executions and the findings. Builds build-fuzz/ with clang (-DTG_FUZZ=ON: ASan +
# libFuzzer). The seeds in tests/fuzz/corpus/<target>/ are read, never written: new inputs go to
# build-fuzz/corpus/<target>/, crashes, leaks, timeouts and OOMs to build-fuzz/findings/<target>/.
# Exit status 1 if any target found something. Keep a finding (with its fix) by copying it into
# tests/fuzz/corpus/<target>/: ctest then replays it in every build.
#   scripts/fuzz.sh 120            # two minutes a target
#   TARGETS="vocab score" scripts/fuzz.sh 30
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
# libFuzzer reads -max_total_time with atoi: text or 0 would fuzz without end, 1m for 1 second
case $secs in ''|*[!0-9]*|0*) echo "fuzz.sh: SECONDS must be a whole number from 1, not '$secs' (usage: scripts/fuzz.sh [SECONDS])" >&2; exit 2;; esac
[ $# -le 1 ] || { echo "fuzz.sh: one argument, SECONDS, not $# (usage: scripts/fuzz.sh [SECONDS])" >&2; exit 2; }
targets=${TARGETS:-"ckpt corpus vocab run_config score tsv"}
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz.sh: clang not found (Debian: apt-get install -y clang libclang-rt-14-dev)" >&2
    exit 1
fi
echo "== build-fuzz: clang, -DTG_FUZZ=ON"
CC=clang cmake -S . -B build-fuzz -DTG_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j 2 --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done) >/dev/null
found=0
for t in $targets; do
    work=build-fuzz/corpus/$t findings=build-fuzz/findings/$t
    mkdir -p "$work" "$findings"
    log=build-fuzz/fuzz_$t.log
    # -rss_limit_mb: a hostile file must not make a reader take gigabytes (issue 9)
    set +e
    build-fuzz/tests/fuzz/fuzz_$t "$work" "tests/fuzz/corpus/$t" -max_total_time="$secs" -timeout=20 \
        -rss_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    n=$(find "$findings" -type f | wc -l)
    printf '%-12s %10s executions in %ss, %d finding(s)%s\n' "$t" "${execs:-?}" "$secs" "$n" \
        "$([ "$rc" -ne 0 ] && echo " (exit $rc, see $log)")"
    if [ "$n" -gt 0 ] || [ "$rc" -ne 0 ]; then found=1; fi
done
exit $found
