#!/usr/bin/env bash
# Chooses the decoding of a finished run on dev: the model (best.ckpt, last.ckpt, or the average
# of the last K kept step-N.ckpt, K in AVG) and beam 4's GNMT length penalty alpha (ALPHAS),
# each scored with sacreBLEU-compatible BLEU on the whole dev set. Prints a table; writes it to
# RUN/decode_tuning.tsv. Dev only: a test set is never used to choose.
#
#   bash scripts/tune_decode.sh RUN DEV.tsv[.gz]      # AVG="4 8" ALPHAS="0.6 1.0 1.4" BEAM=4
set -euo pipefail
RUN=${1:?usage: tune_decode.sh RUN DEV.tsv[.gz]}
DEV=${2:?usage: tune_decode.sh RUN DEV.tsv[.gz]}
TG=${TG:-build/tapegrad}
AVG=${AVG-4 8}   # AVG= (empty): no averages
for k in $AVG; do
    case $k in ''|*[!0-9]*|0*|1) echo "tune_decode: AVG holds whole numbers from 2 (checkpoints to average), not '$k'" >&2; exit 2;; esac
done
ALPHAS=${ALPHAS:-0.6 1.0 1.4}
BEAM=${BEAM:-4}
case $BEAM in ''|*[!0-9]*|0*|1) echo "tune_decode: BEAM is a beam of 2 or more, not '$BEAM' (the length penalty it tunes scores beam search's hypotheses; greedy decoding, beam 1, has none)" >&2; exit 2;; esac
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 2)}
W="$RUN/tune"
mkdir -p "$W"
case "$DEV" in *.gz) gzip -dc "$DEV" ;; *) cat "$DEV" ;; esac | cut -f1 > "$W/dev.src"
case "$DEV" in *.gz) gzip -dc "$DEV" ;; *) cat "$DEV" ;; esac | cut -f2 > "$W/dev.ref"

models=("$RUN/best.ckpt" "$RUN/last.ckpt")
mapfile -t kept < <(ls "$RUN"/step-*.ckpt 2>/dev/null | sed 's/.*step-\([0-9]*\)\.ckpt/\1 &/' | sort -n | cut -d' ' -f2)
for k in $AVG; do
    [ "${#kept[@]}" -ge "$k" ] || { echo "tune_decode: only ${#kept[@]} kept checkpoints, skipping avg$k" >&2; continue; }
    "$TG" ckpt average "${kept[@]: -$k}" -o "$W/avg$k.ckpt" >/dev/null
    models+=("$W/avg$k.ckpt")
done

# the table replaces an earlier one only when whole; a failed translation shows its messages
table=$(mktemp "$RUN/decode_tuning.tsv.XXXXXX.tmp")
trap 'rm -f "$table"' EXIT
printf 'model\tbeam\talpha\tbleu\tbp\tchrf\n' > "$table"
for m in "${models[@]}"; do
    for a in $ALPHAS; do
        name=$(basename "$m" .ckpt)
        hyp="$W/$name.b$BEAM.a$a.txt"
        if ! "$TG" translate --model "$m" --beam "$BEAM" --alpha "$a" --threads "$THREADS" --input "$W/dev.src" > "$hyp" 2> "$hyp.err"; then
            tail -n 3 "$hyp.err" >&2
            echo "tune_decode: translating with $m failed (its messages: $hyp.err); $RUN/decode_tuning.tsv is left as it was" >&2
            exit 1
        fi
        s=$("$TG" score --ref "$W/dev.ref" --hyp "$hyp" --json)
        bleu=$(printf '%s' "$s" | grep -o '"score": [0-9.]*' | head -1 | cut -d' ' -f2)
        bp=$(printf '%s' "$s" | grep -o '"bp": [0-9.]*' | head -1 | cut -d' ' -f2)
        chrf=$(printf '%s' "$s" | grep -o '"score": [0-9.]*' | sed -n 2p | cut -d' ' -f2)
        printf '%s\t%s\t%s\t%.2f\t%.3f\t%.2f\n' "$name" "$BEAM" "$a" "$bleu" "$bp" "$chrf" | tee -a "$table"
    done
done
chmod a+r "$table" && mv -f "$table" "$RUN/decode_tuning.tsv"
