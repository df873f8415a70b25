#!/usr/bin/env bash
# The experiment behind the project: "why is there no activation after multi-head attention, and
# what happens if you add one?". Trains the default recipe on the bundled corpus once per value of
# --attn-activation (none = the paper, relu, gelu: applied to each attention sub-layer's output
# projection, before dropout and the residual add), same seed, data and budget, then scores each
# best checkpoint on the whole dev set and plots the curves.
#
#   bash scripts/experiment_attn_activation.sh     # TIME_LIMIT=30m per run, OUT=runs/attn_activation
#                                                  # NORM=post VARIANTS="none relu gelu" TAPEGRAD=<built>
#
# Results: $OUT/results.md (a table, replaced only when whole) and $OUT/curves.png. Runs
# resume when the script is run again (with the norm they were started with: the table says it).
# Ctrl-C or SIGTERM stops it with the run saved (exit 130 or 143), and so does a signal that stops
# train alone (exit 128 + its number), rather than going on to the next run.
# An OUT or TAPEGRAD you give is relative to where you are; the default OUT is in the source tree.
set -euo pipefail
# train finishes its step on Ctrl-C or SIGTERM, saves and exits 0: the script stops once it returns
trap 'echo "experiment_attn_activation.sh: stopped by SIGINT; run the same command again to resume" >&2; exit 130' INT
trap 'echo "experiment_attn_activation.sh: stopped by SIGTERM; run the same command again to resume" >&2; exit 143' TERM
case ${OUT:-} in ''|/*) ;; *) OUT=$PWD/$OUT;; esac
case ${TAPEGRAD:-} in ''|/*) ;; */*) TAPEGRAD=$PWD/$TAPEGRAD;; esac
cd "$(dirname "$(readlink -f -- "$0")")/.."
OUT=${OUT:-runs/attn_activation}
TIME_LIMIT=${TIME_LIMIT:-30m}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 2)}
VARIANTS=${VARIANTS:-"none relu gelu"}
NORM=${NORM:-post}
DATA=data/bible_en_es
. scripts/train_end.sh

if [ -n "${TAPEGRAD:-}" ]; then
    TG=$TAPEGRAD   # a tapegrad already built: nothing is built
    [ -f "$TG" ] && [ -x "$TG" ] || { echo "experiment_attn_activation.sh: TAPEGRAD '$TG' is not a program" >&2; exit 2; }
else
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j "$THREADS" --target tapegrad
    TG=build/tapegrad
fi
mkdir -p "$OUT"
runs=()
for v in $VARIANTS; do
    run="$OUT/$v"
    runs+=("$run")
    if [ -f "$run/last.ckpt" ]; then
        "$TG" train --resume "$run" --time-limit "$TIME_LIMIT" --threads "$THREADS"
    else
        "$TG" train --train "$DATA/train.tsv.gz" --dev "$DATA/dev.tsv.gz" --out "$run" --norm "$NORM" \
            --attn-activation "$v" --time-limit "$TIME_LIMIT" --valid-every 500 --valid-sentences 200 \
            --threads "$THREADS"
    fi
    stop_if_stopped experiment_attn_activation.sh "$run"
done
# each file is written beside its place and moved there when whole: a failed or killed evaluation
# leaves the earlier one as it was
table=$(mktemp "$OUT/results.md.XXXXXX.tmp") json=
trap 'rm -f -- "$table" ${json:+"$json"}' EXIT   # this run's own temporaries
{
    echo "# Activation after multi-head attention ($TIME_LIMIT of training each)"
    echo
    echo "| attn-activation | norm | steps | dev loss | dev NLL | dev ppl | dev BLEU (greedy, 1000 sentences) | chrF2 |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for v in $VARIANTS; do
        run="$OUT/$v"
        json=$(mktemp "$run/eval.json.XXXXXX.tmp")
        "$TG" eval --model "$run/best.ckpt" --data "$DATA/dev.tsv.gz" --beam 1 --threads "$THREADS" --json > "$json"
        chmod a+r -- "$json" && mv -f -- "$json" "$run/eval.json" && json=
        steps=$("$TG" ckpt info --json "$run/best.ckpt" | sed 's/.*"step": \([0-9]*\).*/\1/')
        norm=$(awk -F ' = ' '$1 == "norm" { print $2 }' < "$run/config.txt")   # the run's own
        sed 's/.*"loss": \([0-9.]*\), "nll": \([0-9.]*\), "ppl": \([0-9.]*\).*"bleu": {"score": \([0-9.]*\).*"chrf": {"score": \([0-9.]*\).*/\1 \2 \3 \4 \5/' "$run/eval.json" |
            awk -v v="$v" -v n="$norm" -v s="$steps" '{printf "| %s | %s | %s | %.3f | %.3f | %.2f | %.2f | %.2f |\n", v, n, s, $1, $2, $3, $4, $5}'
    done
} > "$table"
chmod a+r -- "$table" && mv -f -- "$table" "$OUT/results.md"
bash scripts/plot_runs.sh -o "$OUT/curves.png" "${runs[@]}"
cat "$OUT/results.md"
