#!/usr/bin/env bash
# The larger model's gate folders of docs/EXPERIMENT.md: paper x gate x wide-ffn x seeds 1-3, post-LN
# (runs/medium-gate3) and pre-LN (runs/medium-pre-gate), assembled from the cells trained in their own
# folders (hard links; the paper cells are runs/medium-2000's and runs/medium-pre3's), then reported
# against the paper and against wide-ffn. Every cell is done, so nothing is trained. Replaces both folders.
set -euo pipefail
cd "$(dirname "$0")/.."
TG=${TG:-build/tapegrad}
rm -rf runs/medium-gate3 runs/medium-pre-gate
mkdir -p runs/medium-gate3/cells runs/medium-pre-gate/cells
cp -al runs/medium-2000/cells/variant=paper* runs/medium-gate/cells/variant=gate* runs/m9-post-gate-3/cells/* \
       runs/medium-wide-ffn/cells/* runs/m9-post-wide-ffn-3/cells/* runs/medium-gate3/cells/
cp -al runs/medium-pre3/cells/variant=paper* runs/m9-pre-gate-[123]/cells/* runs/m9-pre-wide-ffn-[123]/cells/* \
       runs/medium-pre-gate/cells/
for norm in post pre; do
    d=runs/medium-gate3
    [ "$norm" = pre ] && d=runs/medium-pre-gate
    MODEL=medium VARIANTS="paper gate wide-ffn" SEED_LIST=1,2,3 OUT=$d TG=$TG bash scripts/study_attn_activation.sh "$norm"
    for c in "$d"/cells/*; do [ -f "$c/diagnostics.tsv" ] || "$TG" ckpt diagnose "$c"; done
    "$TG" experiment report "$d" --baseline variant=wide-ffn
    mv "$d/report.md" "$d/report-vs-wide-ffn.md"
    "$TG" experiment report "$d"
done
