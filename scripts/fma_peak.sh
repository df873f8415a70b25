#!/usr/bin/env bash
# One core's AVX2 FMA peak and tapegrad's micro-kernel loop against it (scripts/fma_peak.c), one
# copy alone and then two at once: two copies at the rate of one each mean two cores; at half
# the rate each, the two CPUs share one core's FMA units (a VM's vCPUs on one physical core).
#
#   bash scripts/fma_peak.sh [--rounds N]    # N rounds of the two-at-once test (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:-}; shift $(( $# > 1 ? 2 : 1 )) ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fma_peak.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "fma_peak.sh: --rounds needs a whole number from 1 to 9999, not '$rounds'" >&2; exit 2; }
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo || { echo "fma_peak.sh: this CPU has no AVX2 + FMA" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -mavx2 -mfma -o "$tmp/fma_peak" scripts/fma_peak.c
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
echo "alone: $("$tmp/fma_peak" fma); $("$tmp/fma_peak" ukernel); $("$tmp/fma_peak" ukernel1)"
for r in $(seq "$rounds"); do
    "$tmp/fma_peak" fma >"$tmp/a" & "$tmp/fma_peak" fma >"$tmp/b"; wait
    echo "two at once, round $r: $(cat "$tmp/a") + $(cat "$tmp/b")"
done
