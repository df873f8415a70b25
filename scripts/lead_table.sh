#!/usr/bin/env bash
# The lead tables of docs/EXPERIMENT.md: a variant's dev NLL against the baseline's, from the
# `valid` rows of two cells' metrics.tsv, at every EVERY steps; and matched in time, for each
# cost ratio R given (a variant step costs R baseline steps, as scripts/step_cost.sh measures
# them): the variant's NLL at step S / R, linearly interpolated between its two validations
# around that step, against the baseline's at S.
#
#   bash scripts/lead_table.sh BASELINE_CELL VARIANT_CELL [EVERY, default 1000] [R ...]
#   bash scripts/lead_table.sh "runs/X/cells/variant=paper,seed=3" "runs/X/cells/variant=gate,seed=3" 2000 1.16 1.20
set -euo pipefail
BASE=${1:?usage: lead_table.sh BASELINE_CELL VARIANT_CELL [EVERY] [R ...]}
VAR=${2:?usage: lead_table.sh BASELINE_CELL VARIANT_CELL [EVERY] [R ...]}
EVERY=${3:-1000}
shift $(( $# < 3 ? $# : 3 ))
[[ "$EVERY" =~ ^[1-9][0-9]*$ ]] || { echo "lead_table.sh: EVERY must be a positive whole number, not '$EVERY'" >&2; exit 2; }
for r in "$@"; do
    [[ "$r" =~ ^[0-9]+(\.[0-9]+)?$ && ! "$r" =~ ^0+(\.0+)?$ ]] ||
        { echo "lead_table.sh: a cost ratio must be a positive number like 1.16, not '$r'" >&2; exit 2; }
done
for c in "$BASE" "$VAR"; do
    [ -f "$c/metrics.tsv" ] || { echo "lead_table.sh: no metrics.tsv in '$c'" >&2; exit 1; }
done
# awk takes an operand like variant=paper,seed=3/metrics.tsv for an assignment: anchor the paths
case "$BASE" in /*) ;; *) BASE=./$BASE ;; esac
case "$VAR" in /*) ;; *) VAR=./$VAR ;; esac
# Both files are read in one awk: the baseline's first (f = 1), then the variant's (f = 2).
awk -F'\t' -v every="$EVERY" -v ratios="$*" '
FNR == 1 { f++ }
$1 != "valid" { next }
$7 !~ /^[0-9.eE+-]+$/ { bad(FILENAME ":" FNR ": no dev NLL in column 7") }
$2 + 0 <= last[f] { bad(FILENAME ":" FNR ": step " $2 " after step " last[f] " (steps must increase)") }
{ last[f] = $2 + 0 }
f == 1 { b[$2 + 0] = $7 + 0; bmax = $2 + 0; next }
{ n++; vs[n] = $2 + 0; vn[n] = $7 + 0; v[$2 + 0] = $7 + 0 }
function bad(msg) { print "lead_table.sh: " msg > "/dev/stderr"; failed = 1; exit 1 }
# the variant NLL at (fractional) step s, between the validations around it; -1 outside them
function at(s,    i) {
    for (i = 1; i < n; i++)
        if (vs[i] <= s && s <= vs[i + 1])
            return vn[i] + (vn[i + 1] - vn[i]) * (s - vs[i]) / (vs[i + 1] - vs[i]);
    return -1
}
END {
    if (failed) exit 1
    if (bmax == 0 || n == 0) { print "lead_table.sh: no valid rows in one of the cells" > "/dev/stderr"; exit 1 }
    nr = split(ratios, r, " ")
    printf "| step | baseline dev NLL | variant | Δ |"
    for (j = 1; j <= nr; j++) printf " matched in time at ×%s: variant step | its NLL | Δ |", r[j]
    printf "\n|---:|---:|---:|---:|"
    for (j = 1; j <= nr; j++) printf "---:|---:|---:|"
    printf "\n"
    for (s = every; s <= bmax; s += every) {
        if (!(s in b)) continue
        printf "| %d | %.4f | ", s, b[s]
        if (s in v) printf "%.4f | %+.4f |", v[s], v[s] - b[s]; else printf " | |"
        for (j = 1; j <= nr; j++) {
            t = s / r[j]; x = at(t)
            if (x < 0) printf " | | |"; else printf " %.0f | %.4f | %+.4f |", t, x, x - b[s]
        }
        printf "\n"
    }
}' "$BASE/metrics.tsv" "$VAR/metrics.tsv"
