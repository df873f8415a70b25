#!/usr/bin/env bash
# What a training step of the study's larger model costs with each set of flags, measured
# side by side in one run: the sets take turns (A B A B ...), each turn a fresh `train` of
# --steps steps on bible_en_es with the study's recipe (d_model 256, 4 heads, 3+3 layers,
# d_ff 1024, 2,000-token batches, 4,000 BPE merges, --threads 1, seed 1), one run at a time.
#
#   bash scripts/step_cost.sh [--reps N] [--steps N] [--out DIR] "FLAGS A" "FLAGS B" ...
#   e.g. bash scripts/step_cost.sh --norm-both "" "--attn-gate sigmoid"
#
# A run's cost is its quickest 10-step interval after step 20 (metrics.tsv's elapsed_s): load from
# outside (this is a VM; neighbours come and go, for a minute or more) only ever slows a step, so
# the quickest interval is the step's own cost; a set's cost is the median of its runs'. Prints one line per run, then per set: s/step, the runs'
# range, and the ratio to the first set. --norm-both measures every set under --norm post and
# then --norm pre. Run it on an otherwise idle machine: the runs use one core each, one at a time.
set -euo pipefail
set -f   # a set of flags is split into words, never globbed
CALLER=$PWD
cd "$(dirname "$0")/.."
TG=${TG:-build/tapegrad}
REPS=3 STEPS=150 OUT= NORMS=(post)
SETS=()
while (($#)); do
    case "$1" in
        --reps|--steps|--out) (($# >= 2)) || { echo "step_cost.sh: $1 needs a value" >&2; exit 2; } ;;
    esac
    case "$1" in
        --reps) REPS=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --norm-both) NORMS=(post pre); shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) SETS+=("$1"); shift ;;
    esac
done
[[ "$REPS" =~ ^[1-9][0-9]{0,5}$ && "$STEPS" =~ ^[1-9][0-9]{0,8}$ ]] && ((STEPS >= 60)) ||
    { echo "step_cost.sh: --reps must be a number >= 1 and --steps a number >= 60 (no leading zeros)" >&2; exit 2; }
((${#SETS[@]} >= 1)) || { echo "step_cost.sh: give at least one set of flags (\"\" for none)" >&2; exit 2; }
[[ -x "$TG" ]] || { echo "step_cost.sh: no $TG (build first, or set TG)" >&2; exit 2; }
if [[ -z "$OUT" ]]; then OUT=$(mktemp -d "${TMPDIR:-/tmp}/step_cost.XXXXXX")
elif [[ "$OUT" != /* ]]; then OUT=$CALLER/$OUT   # relative to where it was run from
fi
mkdir -p "$OUT"
DATA=data/bible_en_es/train.tsv.gz
if [[ ! -s "$OUT/vocab.txt" ]] && ! "$TG" vocab learn --data "$DATA" --merges 4000 -o "$OUT/vocab.txt" >"$OUT/vocab.log" 2>&1; then
    echo "step_cost.sh: learning the vocabulary failed, see $OUT/vocab.log" >&2; exit 1
fi
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores;" \
     "$TG of $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $STEPS steps a run, $REPS runs a set"

median() {   # the median of the numbers on stdin, one a line
    sort -g | awk '{ v[NR] = $1 } END { if (!NR) exit 1; printf "%.4f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
run_cost() {   # run_cost DIR: s/step of the quickest 10-step interval after step 20
    awk '$1 == "train" { if ($2 > 20) print ($4 - p) / ($2 - s); p = $4; s = $2 }' < "$1/metrics.tsv" |
        sort -g | head -1 | grep .
}

for norm in "${NORMS[@]}"; do
    declare -A COSTS=()
    for ((rep = 1; rep <= REPS; rep++)); do
        for i in "${!SETS[@]}"; do
            dir="$OUT/$norm-set$i-rep$rep"
            rm -rf "$dir"
            # shellcheck disable=SC2086  # a set is a list of flags (split, not globbed: set -f)
            "$TG" train --train "$DATA" --vocab "$OUT/vocab.txt" --d-model 256 --heads 4 --layers 3 \
                --d-ff 1024 --max-tokens 2000 --max-steps "$STEPS" \
                --save-every 100000 --log-every 10 --threads 1 --seed 1 --norm "$norm" ${SETS[$i]} \
                --out "$dir" >"$dir.log" 2>&1 || { echo "step_cost.sh: the run failed, see $dir.log" >&2; exit 1; }
            c=$(run_cost "$dir") || { echo "step_cost.sh: no timed intervals in $dir/metrics.tsv" >&2; exit 1; }
            COSTS[$i]+="$c "
            printf '%s  set %d [%s]  rep %d  %s s/step\n' "$norm" "$i" "${SETS[$i]:-(none)}" "$rep" "$c"
        done
    done
    base=
    for i in "${!SETS[@]}"; do
        med=$(tr ' ' '\n' <<<"${COSTS[$i]}" | grep . | median)
        lo=$(tr ' ' '\n' <<<"${COSTS[$i]}" | grep . | sort -g | head -1)
        hi=$(tr ' ' '\n' <<<"${COSTS[$i]}" | grep . | sort -g | tail -1)
        base=${base:-$med}
        awk -v n="$norm" -v i="$i" -v f="${SETS[$i]:-(none)}" -v m="$med" -v lo="$lo" -v hi="$hi" -v b="$base" \
            'BEGIN { printf "RESULT %s set %d [%s]: %.4f s/step (runs %.4f-%.4f), x%.3f of set 0\n", n, i, f, m, lo, hi, m / b }'
    done
    unset COSTS
done
