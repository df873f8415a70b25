#!/usr/bin/env bash
# tapegrad against the PyTorch anchor on this machine, in one run: the training step of configs T
# and B (`tapegrad bench step` and ../shared/bench/torch_reference.py, alternating, each run
# repeated) and float GEMM GFLOP/s (`tapegrad bench gemm` and ../shared/bench/gemm_peak.py), at 1
# and 2 threads. Torch runs as ../shared/bench/README.md says: /usr/bin/python3, OpenBLAS 0.3.21
# (the system's libopenblas0-pthread alternative for 1 thread, the OpenMP build through
# LD_LIBRARY_PATH for 2 threads). Step figures are the median over runs of each run's mean step
# time, as in ../shared/bench/ANCHOR_FIGURES.md. Builds build/tapegrad (Release), or brings it up to date.
#
#   bash scripts/bench_vs_torch.sh [--runs N] [--configs "T B"] [--threads "1 2"] [--no-gemm]
#                                  [--no-step] [--kernels auto|portable|avx2|avx512] [--log FILE]
set -euo pipefail
cd "$(dirname "$(readlink -f -- "$0")")/.."   # the source root, also when started through a symlink

runs=3 configs="T B" threads="1 2" gemm=1 step=1 kernels=auto log=""
while [ $# -gt 0 ]; do
    case "$1" in
    --runs|--configs|--threads|--kernels|--log)
        [ $# -ge 2 ] || { echo "bench_vs_torch.sh: $1 wants a value (try --help)" >&2; exit 2; } ;;
    esac
    case "$1" in
    --runs) runs=$2; shift 2
        case $runs in ''|*[!0-9]*|0*) echo "bench_vs_torch.sh: --runs must be a whole number from 1, not '$runs'" >&2; exit 2;; esac ;;
    --configs) configs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --no-gemm) gemm=0; shift ;;
    --no-step) step=0; shift ;;
    --kernels) kernels=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_vs_torch.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
# every value checked before anything runs
bad() { echo "bench_vs_torch.sh: $*" >&2; exit 2; }
[ "${#runs}" -le 4 ] || bad "--runs must be a whole number from 1 to 9999, not '$runs'"
[ -n "$threads" ] || bad "--threads is empty"
for t in $threads; do case $t in *[!0-9]*|0*) bad "--threads holds whole numbers from 1, not '$t'";; esac; done
[ -n "$configs" ] || bad "--configs is empty"
for c in $configs; do case $c in T|B) ;; *) bad "--configs holds T and B, not '$c'";; esac; done
case $kernels in auto|portable|avx2|avx512) ;; *) bad "--kernels is auto, portable, avx2 or avx512, not '$kernels'";; esac
[ "$gemm$step" != 00 ] || bad "--no-gemm and --no-step leave nothing to measure"

bench=../shared/bench
py=/usr/bin/python3
openmp=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -f "$bench/torch_reference.py" ] || { echo "bench_vs_torch.sh: $bench/torch_reference.py not found" >&2; exit 1; }
"$py" -c "import torch" 2>/dev/null || { echo "bench_vs_torch.sh: $py cannot import torch (apt-get install python3-torch)" >&2; exit 1; }
# built, or brought up to date with the source (an edit since the last build is measured, not the old binary)
[ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target tapegrad >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -n "$log" ] && : >"$log"
say() { echo "$@"; [ -z "$log" ] || echo "$@" >>"$log"; }

# OpenBLAS picks its kernels by the CPU's model number: a CPU newer than the library (0.3.21 on an
# Emerald Rapids Xeon, model 207) gets its fallback, Prescott's SSE3 kernels, a quarter of the
# machine's speed. A CPU with AVX2 whose OpenBLAS picked kernels without it gets those of its ISA
# (SkylakeX with AVX-512, else Haswell), said in the header; OPENBLAS_CORETYPE set by the caller wins.
blas_core=$("$py" -c 'import ctypes; b = ctypes.CDLL("libblas.so.3"); b.openblas_get_corename.restype = ctypes.c_char_p
print(b.openblas_get_corename().decode())' 2>/dev/null || echo "not OpenBLAS")
blas_fix=""
case $blas_core in Haswell|Zen|SkylakeX|Cooperlake|SapphireRapids|Excavator|"not OpenBLAS") ;; *)
    if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo; then
        if grep -qw avx512f /proc/cpuinfo; then blas_fix=SkylakeX; else blas_fix=Haswell; fi
    fi ;;
esac

# torch with the anchor's BLAS set-up for t threads; with --kernels avx2 (or portable) torch is held
# to AVX2 as well (OpenBLAS's Haswell kernels, ATen's avx2 code), so that an AVX-512 machine
# stands in for an AVX2-only one on both sides
torch_env() {
    case "$kernels" in
    avx2|portable) echo "OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2" ;;
    *) [ -z "$blas_fix" ] || echo "OPENBLAS_CORETYPE=$blas_fix" ;;
    esac
    if [ "$1" -gt 1 ]; then
        if [ -d "$openmp" ]; then echo "LD_LIBRARY_PATH=$openmp"
        else echo "bench_vs_torch.sh: $openmp missing (apt-get install libopenblas0-openmp): torch uses the default BLAS" >&2; fi
    fi
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }            # field NAME < RESULT line
median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

say "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; tapegrad $(git rev-parse --short HEAD 2>/dev/null || echo '?'), kernels=$kernels"
say "# torch: $("$py" -c 'import torch; print(torch.__version__)')$(case "$kernels" in avx2|portable) echo ' (OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2)';; esac) with $(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | sed -n 's/^Value: //p') (1 thread), $openmp (2 threads)"
say "# OpenBLAS's own pick of kernels here: $blas_core${OPENBLAS_CORETYPE:+ (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE given)}$([ -z "$blas_fix" ] || case $kernels in avx2|portable) ;; *) echo "; it has no AVX2, which this CPU has: torch runs with OPENBLAS_CORETYPE=$blas_fix";; esac)"

if [ "$gemm" = 1 ]; then
    for t in $threads; do
        say "## GEMM, $t thread(s)"
        build/tapegrad bench gemm --threads "$t" --kernels "$kernels" | tee -a "${log:-/dev/null}"
        env $(torch_env "$t") "$py" "$bench/gemm_peak.py" --threads "$t" | grep '^GEMM' | tee -a "${log:-/dev/null}"
    done
fi

if [ "$step" = 1 ]; then
    for c in $configs; do
        case $c in
        T) targs=(--name T --vocab 8000 --d-model 256 --heads 4 --d-ff 1024 --layers 3 --batch 32
                  --src-len 32 --tgt-len 32 --steps 20 --warmup-steps 3); cfg=tiny ;;
        B) targs=(--name B --vocab 8000 --d-model 512 --heads 8 --d-ff 2048 --layers 6 --batch 16
                  --src-len 32 --tgt-len 32 --steps 5 --warmup-steps 2); cfg=base ;;
        *) echo "bench_vs_torch.sh: unknown config '$c' (T or B)" >&2; exit 2 ;;
        esac
        for t in $threads; do
            say "## step, config $c, $t thread(s), $runs runs"
            for r in $(seq "$runs"); do
                build/tapegrad bench step --config "$cfg" --threads "$t" --kernels "$kernels" |
                    grep '^RESULT' | tee -a "$tmp/tg_${c}_$t" "${log:-/dev/null}"
                env $(torch_env "$t") "$py" "$bench/torch_reference.py" "${targs[@]}" --threads "$t" |
                    grep '^RESULT' | tee -a "$tmp/torch_${c}_$t" "${log:-/dev/null}"
            done
        done
    done
    say ""
    say "| config | threads | tapegrad step s (runs) | tapegrad tgt tok/s | torch step s (runs) | torch tgt tok/s | speed-up |"
    say "|---|---|---|---|---|---|---|"
    for c in $configs; do
        for t in $threads; do
            tok=$([ "$c" = T ] && echo 1024 || echo 512)
            a=$(field step_s <"$tmp/tg_${c}_$t" | median); b=$(field step_s <"$tmp/torch_${c}_$t" | median)
            ar=$(field step_s <"$tmp/tg_${c}_$t" | paste -sd, -); br=$(field step_s <"$tmp/torch_${c}_$t" | paste -sd, -)
            say "$(awk -v c="$c" -v t="$t" -v a="$a" -v b="$b" -v ar="$ar" -v br="$br" -v n="$tok" \
                'BEGIN {printf "| %s | %s | %.3f (%s) | %.0f | %.3f (%s) | %.0f | %.2fx |", c, t, a, ar, n / a, b, br, n / b, b / a}')"
        done
    done
    say ""
    say "Forward / backward / optimiser (median over runs; tapegrad: each run's median step split, torch: its mean):"
    for c in $configs; do
        for t in $threads; do
            s=""
            for who in tg torch; do
                f=$(field fwd_s <"$tmp/${who}_${c}_$t" | median); b=$(field bwd_s <"$tmp/${who}_${c}_$t" | median)
                o=$(field opt_s <"$tmp/${who}_${c}_$t" | median); m=$(field rss_mb <"$tmp/${who}_${c}_$t" | median)
                s="$s $who $f / $b / $o s, RSS $m MB;"
            done
            say "  $c-$t:$s"
        done
    done
fi
