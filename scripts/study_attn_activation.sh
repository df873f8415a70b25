#!/usr/bin/env bash
# The study of docs/EXPERIMENT.md: the six places for a nonlinearity around attention, and the
# paper's model with a wider FFN that has the gate's extra parameters (the gate's control), x 3
# seeds, 2000 steps each, on the bundled bible_en_es corpus, as one `tapegrad experiment` per norm
# placement. Run again, it skips finished cells and resumes an interrupted one.
#
#   bash scripts/study_attn_activation.sh post|pre [extra experiment flags, e.g. --dry-run]
#
# Each cell trains on 1 thread (--threads 1); `--jobs 2` trains two at a time, one a core, with
# the same results (the study's cells were run that way, two processes on the 2-core machine).
#
# Environment, for the follow-up runs of docs/EXPERIMENT.md (each its own experiment folder):
#   VARIANTS="paper gate ..."  a subset of the variants below, in this order (the first is the baseline)
#   SEEDS=N                    seeds 1..N [3]
#   SEED_LIST=2,3              these seeds instead (cells added to a study later: copy the
#                              finished cells into one folder of the whole recipe to report)
#   STEPS=N                    the budget of a cell in steps [2000]
#   CORPUS=gettext_en_de       the other corpus, read from ../shared/data [bible_en_es, bundled]
#   MODEL=medium               d_model 256, 3+3 layers, d_ff 1024 (wide-ffn 1216) instead of the
#                              small model: d_model 128, 2+2 layers, d_ff 512 (wide-ffn 608)
#   OUT=DIR                    the experiment folder [runs/study-NORM, or runs/study-NORM-CORPUS;
#                              -medium appended with MODEL=medium]
#
# d_ff is set in every variant's bundle (a variant may not change a base flag): 512, and 608 for
# wide-ffn, whose 4 FFNs then hold 4 x 96 x (2 x 128 + 1) = 98,688 more parameters, against the
# 6 x (128 x 128 + 128) = 99,072 of the gate's projections. MODEL=medium: 1024 and 1216, for
# 6 x 192 x (2 x 256 + 1) = 590,976 against 9 x (256 x 256 + 256) = 592,128.
set -euo pipefail
cd "$(dirname "$0")/.."
NORM=${1:?usage: study_attn_activation.sh post|pre [flags]}
shift
TG=${TG:-build/tapegrad}
CORPUS=${CORPUS:-bible_en_es}
case "${MODEL:-small}" in
    small) SIZE=(--d-model 128 --heads 4 --layers 2) FF=512 WIDE_FF=608 SUFFIX= ;;
    medium) SIZE=(--d-model 256 --heads 4 --layers 3) FF=1024 WIDE_FF=1216 SUFFIX=-medium ;;
    *) echo "study_attn_activation.sh: MODEL must be small or medium, not '$MODEL'" >&2; exit 2 ;;
esac
case "$CORPUS" in
    bible_en_es) TRAIN=data/bible_en_es/train.tsv.gz DEV=data/bible_en_es/dev.tsv.gz
                 OUT=${OUT:-runs/study-$NORM$SUFFIX} ;;
    gettext_en_de) TRAIN=../shared/data/gettext_en_de/train.tsv DEV=../shared/data/gettext_en_de/dev.tsv
                   OUT=${OUT:-runs/study-$NORM-$CORPUS$SUFFIX} ;;
    *) echo "study_attn_activation.sh: CORPUS must be bible_en_es or gettext_en_de, not '$CORPUS'" >&2; exit 2 ;;
esac
declare -A BUNDLE=(
    [paper]="d-ff=$FF"
    [relu-out]="d-ff=$FF;attn-activation=relu"
    [gelu-out]="d-ff=$FF;attn-activation=gelu"
    [relu-heads]="d-ff=$FF;attn-activation=relu;attn-activation-at=heads"
    [gate]="d-ff=$FF;attn-gate=sigmoid"
    [resid-relu]="d-ff=$FF;residual-activation=relu"
    [wide-ffn]="d-ff=$WIDE_FF"
)
ARGS=()
for v in ${VARIANTS:-paper relu-out gelu-out relu-heads gate resid-relu wide-ffn}; do
    [[ -n "${BUNDLE[$v]+set}" ]] || { echo "study_attn_activation.sh: no variant '$v'" >&2; exit 2; }
    ARGS+=(--variant "$v:${BUNDLE[$v]}")
done
if [[ -n "${SEED_LIST:-}" ]]; then
    [[ "$SEED_LIST" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "study_attn_activation.sh: SEED_LIST must be like 2,3, not '$SEED_LIST'" >&2; exit 2; }
    SEED_ARGS=(--seed-list "$SEED_LIST")
else
    SEED_ARGS=(--seeds "${SEEDS:-3}")
fi
exec "$TG" experiment --train "$TRAIN" --dev "$DEV" --merges 4000 \
    "${SIZE[@]}" --max-tokens 2000 --norm "$NORM" \
    --max-steps "${STEPS:-2000}" --valid-every 250 --valid-sentences 200 --save-every 500 --keep 8 --log-every 50 \
    --threads 1 "${ARGS[@]}" "${SEED_ARGS[@]}" --out "$OUT" "$@"
