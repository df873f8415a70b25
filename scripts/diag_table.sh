#!/usr/bin/env bash
# The diagnostics table of docs/EXPERIMENT.md: for each variant of an experiment folder, the
# diagnostics.tsv values at one step (written by `tapegrad ckpt diagnose DIR/cells/*`), averaged
# over the layers and sublayers of the kind named, then over the seeds:
#   zero_frac, branch_mean, branch_rms, resid_dep of the attention sublayers (self and cross),
#   resid_dep of the FFNs, rank_resid after a layer, attn_entropy of the attention sublayers.
#
#   bash scripts/diag_table.sh runs/study-post [STEP, default 2000]
set -euo pipefail
DIR=${1:?usage: diag_table.sh EXPERIMENT_DIR [STEP]}
STEP=${2:-2000}
compgen -G "$DIR/cells/*/" > /dev/null || { echo "diag_table.sh: no cells in $DIR/cells" >&2; exit 1; }
echo "| variant | seeds | zeros after the activation (attention) | mean of attention branch f(x) | RMS of attention branch | residual dependency, attention | residual dependency, FFN | ‖X − 1x̄ᵀ‖/‖X‖ after a layer | attention entropy (nats) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for cell in "$DIR"/cells/*/; do
    f="$cell/diagnostics.tsv"
    [[ -f "$f" ]] || { echo "diag_table.sh: $f not found (run tapegrad ckpt diagnose first)" >&2; exit 1; }
    v=$(basename "$cell" | sed -n 's/.*variant=\([^,]*\).*/\1/p')
    awk -F'\t' -v step="$STEP" -v v="$v" '
        NR > 1 && $1 == step {
            k = ""
            if ($4 ~ /attn$/) k = "a_" $5
            else if ($4 == "ffn" && $5 == "resid_dep") k = "f_resid_dep"
            else if ($4 == "layer" && $5 == "rank_resid") k = "rank"
            if (k != "") { s[k] += $6; n[k]++ }
        }
        END {
            if (!n["rank"]) { print "diag_table.sh: no rows at step " step " in " FILENAME > "/dev/stderr"; exit 1 }
            split("a_zero_frac a_branch_mean a_branch_rms a_resid_dep f_resid_dep rank a_attn_entropy", key, " ")
            printf "%s", v
            for (i = 1; i <= 7; i++) printf "\t%.6f", n[key[i]] ? s[key[i]] / n[key[i]] : 0
            printf "\n"
        }' "$f"
done | awk -F'\t' '
    !($1 in seen) { seen[$1] = 1; order[++nv] = $1 }
    { c[$1]++; for (i = 2; i <= 8; i++) s[$1, i] += $i }
    END {
        for (j = 1; j <= nv; j++) {
            v = order[j]
            printf "| %s | %d | %.2f | %+.3f | %.3f | %.3f | %.3f | %.3f | %.2f |\n", v, c[v],
                s[v, 2] / c[v], s[v, 3] / c[v], s[v, 4] / c[v], s[v, 5] / c[v], s[v, 6] / c[v], s[v, 7] / c[v], s[v, 8] / c[v]
        }
    }'
