#!/usr/bin/env bash
# The study of docs/EXPERIMENT.md: the six places for a nonlinearity around attention x 3 seeds,
# 2000 steps each, on the bundled bible_en_es corpus, as one `tapegrad experiment` per norm
# placement. Run again, it skips finished cells and resumes an interrupted one.
#
#   bash scripts/study_attn_activation.sh post|pre [extra experiment flags, e.g. --dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
NORM=${1:?usage: study_attn_activation.sh post|pre [flags]}
shift
TG=${TG:-build/tapegrad}
DATA=data/bible_en_es
exec "$TG" experiment --train "$DATA/train.tsv.gz" --dev "$DATA/dev.tsv.gz" --merges 4000 \
    --d-model 128 --heads 4 --d-ff 512 --layers 2 --max-tokens 2000 --norm "$NORM" \
    --max-steps 2000 --valid-every 250 --valid-sentences 200 --save-every 500 --keep 8 --log-every 50 \
    --threads 1 \
    --variant paper --variant relu-out:attn-activation=relu --variant gelu-out:attn-activation=gelu \
    --variant 'relu-heads:attn-activation=relu;attn-activation-at=heads' --variant gate:attn-gate=sigmoid \
    --variant resid-relu:residual-activation=relu --seeds 3 --out "runs/study-$NORM" "$@"
