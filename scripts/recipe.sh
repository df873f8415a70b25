# The main job's choice of recipe and its file writes, sourced by scripts/main_job.sh and
# tests/recipe_test.sh.
#
# A short probe (`tapegrad bench step --config tiny`: 3 steps of the standard model on random ids)
# estimates the steps a time budget holds, at 1.45 probe steps a training step (real batches are
# longer: 1.42 on a Zen 1-class EPYC, 1.5 on a Zen 5). The main job trains the small model
# (d_model 128, d_ff 512, pre-LN, lr 3e-3) on any machine: on the Zen 1-class EPYC it gets
# ~3,500-4,100 steps against ~1,340 of the standard model; on the Zen 5, 31.18 dev BLEU in 30
# minutes against the standard recipe's 26.22 (docs/RESULTS.md). Its dropout follows the epochs
# the budget holds: 0 where fewer than 3,000 standard steps fit (~6 epochs of the small model on
# the Zen 1-class EPYC), 0.1 where more do (~23 on the Zen 5). On dev, dropout 0.1 costs 3.0 BLEU
# at 6 epochs and gains 0.4-0.6 at 12 (step-matched, two seeds: the line), 3.8 at 22-24.

# seconds DURATION: a --time-limit as train reads it (30m, 1h30m, 90s, 1.5h, .5m, 1e5, 45) in
# whole seconds (rounded down); fails (status 1, no output) when malformed or over train's 1e12.
# The text reaches awk through the environment: -v would turn its backslash escapes into characters.
seconds() {
    TG_DURATION=$1 awk 'BEGIN { t = ENVIRON["TG_DURATION"]; if (t == "") exit 1
        for (s = 0; t != ""; t = substr(t, RLENGTH + 1)) {
            if (!match(t, /^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?[hms]?/)) exit 1
            u = substr(t, 1, RLENGTH); c = substr(u, length(u))
            r = c == "h" ? 1 : c == "m" ? 2 : 3; if (r <= last) exit 1; last = r   # each unit once, h m s
            s += (u + 0) * (c == "h" ? 3600 : c == "m" ? 60 : 1)
        }
        if (!(s <= 1e12)) exit 1
        printf "%.0f\n", int(s) }'
}

# count_ok VALUE MAX: VALUE is a whole number in 1..MAX (THREADS, MERGES), checked before anything
# is built, as the commands that take it would refuse it only after the build.
count_ok() {
    case $1 in ''|*[!0-9]*|0*) return 1;; esac
    [ "${#1}" -le 9 ] && [ "$1" -le "$2" ]
}

# probe_step TAPEGRAD THREADS: the median time of the standard model's step (tiny, 3 timed steps
# after 1 warm-up step, at THREADS threads) in seconds; empty when the bench gave none (its
# error, if any, goes to stderr).
probe_step() {
    "$1" bench step --config tiny --threads "$2" --steps 3 --warmup 1 |
        sed -n 's/^RESULT .* median_step_s=\([0-9.]*\) .*/\1/p' || true
}

# recipe_for BUDGET_SECONDS PROBE_STEP_SECONDS: prints "N DROPOUT", N the standard model's steps
# the budget holds and DROPOUT the small recipe's for that many (0 below 3,000, else 0.1); fails
# when either is not a positive number.
recipe_for() {
    awk -v b="$1" -v p="$2" 'BEGIN {
        if (b !~ /^[0-9]+(\.[0-9]*)?$/ || p !~ /^[0-9]*\.?[0-9]+$/ || !(b > 0) || !(p > 0)) exit 1
        n = int(b / (1.45 * p)); printf "%d %s\n", n, (n >= 3000 ? "0.1" : "0") }'
}

# alpha_for RUN: beam 4's GNMT length penalty for the recipe RUN/config.txt holds, chosen on dev:
# 1.0 for the small model (its pre-LN run Z1 on the Zen 1-class EPYC: 23.50 against 23.10 at 0.6,
# whose beam 4 output was 3% short; its post-LN recipe of session 20, 13% long greedy, wanted 0.6
# over 1.4), 1.4 for the standard one (Zen 5, where 0.6 left beam 4 10% short). Fails (status 1,
# no output) when RUN has no readable d-model.
alpha_for() {
    [ -f "$1/config.txt" ] && [ -r "$1/config.txt" ] || return 1
    # the file on stdin: as an argument, a path like lr=1/config.txt is an awk assignment
    awk -F ' = ' '$1 == "d-model" && $2 ~ /^[0-9]+$/ { a = ($2 <= 128 ? "1.0" : "1.4") }
        END { if (a == "") exit 1; print a }' < "$1/config.txt" 2>/dev/null
}

# into FILE CMD...: CMD's output into FILE through a temporary file beside it, moved into place when
# CMD succeeds: a failed or interrupted CMD leaves the earlier FILE, and a symlink at FILE is
# replaced, never written through (as train and ckpt write). The caller removes "$tmp_out" on EXIT.
tmp_out=
into() {
    local dest=$1 rc=0; shift
    tmp_out=$(mktemp "$dest.XXXXXX.tmp") || return 1
    "$@" > "$tmp_out" || rc=$?
    if [ "$rc" = 0 ]; then chmod a+r "$tmp_out" && mv -f "$tmp_out" "$dest" || rc=$?; fi
    rm -f "$tmp_out"
    tmp_out=
    return "$rc"
}
