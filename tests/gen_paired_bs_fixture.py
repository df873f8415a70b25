#!/usr/bin/python3
"""Writes tests/fixtures/paired_bs/expected.tsv: what sacreBLEU 2.6's `--paired-bs` gives for a
baseline and a few systems against one reference, for test_score.c to compare `tapegrad score
--paired-bs` with.

sacreBLEU cannot be installed here, so this follows its method from the source
(sacrebleu/significance.py: _paired_bs_test, _bootstrap_resample, estimate_ci, _compute_p_value;
sacrebleu/metrics/bleu.py and tokenizers/tokenizer_13a.py for the statistics), with numpy only:

- per-segment BLEU statistics (13a tokens, clipped n-gram matches and totals of orders 1-4,
  hypothesis and reference lengths); the full-set scores are checked against the scores
  sacreBLEU itself wrote to ../shared/fixtures/sacrebleu/*/expected.json;
- rng = np.random.default_rng(seed); idxs = rng.choice(n, size=(n_samples, n), replace=True),
  the same resamples for every system (each system's test reseeds with the same seed);
- each resample's corpus BLEU from its summed float32 statistics;
- mean and 95% CI (half the distance between sorted[n // 40] and sorted[n - n // 40 - 1]);
- p-value: d = |sys - base| per resample, count (d - mean(d)) > |observed difference|,
  p = (count + 1) / (n_samples + 1). Written twice: p_sacrebleu counts strictly greater as
  sacreBLEU does; p_value counts ties too, as tapegrad does (see train/metrics/paired_bs.h): they
  differ only for a system identical to the baseline.

The "slightly_better" system is made here too (tests/fixtures/paired_bs/slightly_better.txt):
the baseline with every 100th line (0, 100, 200, ...) taken from the clearly better system, so
10 of 1000 segments improve (+0.6 BLEU, p near 0.05).

Also written: each system's difference to the baseline (score, mean and CI of the signed
per-resample differences) and the standard deviations of the resampled scores and differences,
which the test turns into Monte Carlo tolerances.

Run from the repository root:  /usr/bin/python3 tests/gen_paired_bs_fixture.py
"""
import json
import math
import os
import re
import sys
from collections import Counter

import numpy as np

SB = "../shared/fixtures/sacrebleu"
OUT = "tests/fixtures/paired_bs/expected.tsv"
N_SAMPLES = 1000
SEED = 12345
REF = SB + "/de_drop10/ref.txt"
# (name, file, sacreBLEU's expected.json for that hypothesis file or None). The first is the
# baseline; "identical" is the baseline file again.
SYSTEMS = [
    ("baseline", SB + "/de_drop30_swap10/hyp.txt", SB + "/de_drop30_swap10/expected.json"),
    ("clearly_better", SB + "/de_drop10/hyp.txt", SB + "/de_drop10/expected.json"),
    ("slightly_better", "tests/fixtures/paired_bs/slightly_better.txt", None),
    ("identical", SB + "/de_drop30_swap10/hyp.txt", SB + "/de_drop30_swap10/expected.json"),
    ("worse", SB + "/de_lower_empty5/hyp.txt", SB + "/de_lower_empty5/expected.json"),
]

# tokenizer_13a: the mteval-v13a.pl rules as sacreBLEU writes them.
_13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def tok_13a(line):
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = (line.replace("&quot;", '"').replace("&amp;", "&")
                .replace("&lt;", "<").replace("&gt;", ">"))
    line = f" {line} "
    for pat, rep in _13A:
        line = pat.sub(rep, line)
    return line.split()


def read_lines(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        text = f.read()
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def ngrams(words, n):
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def segment_stats(hyp, ref):
    """[matches 1..4, totals 1..4, hyp_len, ref_len] of one segment (bleu.py's layout)."""
    h, r = tok_13a(hyp.rstrip()), tok_13a(ref.rstrip())
    matches, totals = [], []
    for n in range(1, 5):
        hc, rc = ngrams(h, n), ngrams(r, n)
        matches.append(sum(min(c, rc[g]) for g, c in hc.items()))
        totals.append(max(0, len(h) - n + 1))
    return matches + totals + [len(h), len(r)]


def bleu_from_stats(s):
    """BLEU._compute_score_from_stats with the defaults (exp smoothing, no effective order)."""
    correct, total = [float(x) for x in s[0:4]], [float(x) for x in s[4:8]]
    sys_len, ref_len = float(s[8]), float(s[9])
    if not any(correct):
        return 0.0
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0)
    prec, smooth = [0.0] * 4, 1.0
    for n in range(4):
        if total[n] == 0:
            break
        if correct[n] == 0:
            smooth *= 2
            prec[n] = 100.0 / (smooth * total[n])
        else:
            prec[n] = 100.0 * correct[n] / total[n]
    log = [-9999999999 if p == 0 else math.log(p) for p in prec]
    return bp * math.exp(sum(log) / 4)


def estimate_ci(scores):
    s = np.sort(scores)
    lo = len(s) // 40
    return float(s.mean()), float(0.5 * (s[len(s) - lo - 1] - s[lo]))


def p_values(sys_scores, base_scores, observed):
    d = np.abs(sys_scores - base_scores)
    centred = d - d.mean()
    strict = int(np.sum(centred > observed))
    ties = int(np.sum(centred >= observed))
    n = len(d)
    return (ties + 1) / (n + 1), (strict + 1) / (n + 1)


def make_slightly_better(path, every=100):
    base, better = read_lines(SYSTEMS[0][1]), read_lines(SYSTEMS[1][1])
    lines = [better[i] if i % every == 0 else b for i, b in enumerate(base)]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))


def main():
    make_slightly_better(SYSTEMS[2][1])
    refs = read_lines(REF)
    n = len(refs)
    stats, full = [], []
    for name, path, expected in SYSTEMS:
        hyps = read_lines(path)
        assert len(hyps) == n, f"{path}: {len(hyps)} lines, reference {n}"
        st = np.array([segment_stats(h, r) for h, r in zip(hyps, refs)], dtype=np.int64)
        score = bleu_from_stats(st.sum(0))
        if expected:
            want = json.load(open(expected))["bleu_13a"]["score"]
            assert abs(score - want) < 1e-6, f"{name}: BLEU {score} but sacreBLEU {want}"
        stats.append(st.astype("float32"))
        full.append(score)

    idxs = np.random.default_rng(SEED).choice(n, size=(N_SAMPLES, n), replace=True)
    resampled = [np.array([bleu_from_stats(x.sum(0)) for x in st[idxs]]) for st in stats]
    base = resampled[0]
    rows = []
    for (name, path, _), score, res in zip(SYSTEMS, full, resampled):
        mean, ci = estimate_ci(res)
        dmean, dci = estimate_ci(res - base)
        if res is base:
            p, p_sb = 1.0, 1.0   # the baseline row: no test
        else:
            p, p_sb = p_values(res, base, abs(score - full[0]))
        rows.append([name, os.path.relpath(path), score, mean, ci, float(res.std()),
                     score - full[0], dmean, dci, float((res - base).std()), p, p_sb])

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("# Written by tests/gen_paired_bs_fixture.py (numpy %s): sacreBLEU 2.6's paired\n"
                "# bootstrap of BLEU, %d resamples, seed %d, %d segments, reference %s.\n"
                % (np.__version__, N_SAMPLES, SEED, n, os.path.relpath(REF)))
        f.write("\t".join(["name", "file", "score", "mean", "ci", "sd", "diff_score",
                           "diff_mean", "diff_ci", "diff_sd", "p_value", "p_sacrebleu"]) + "\n")
        for r in rows:
            f.write("\t".join(r[:2] + ["%.17g" % x for x in r[2:]]) + "\n")
    for r in rows:
        print("%-16s BLEU %.2f (%.2f ± %.2f)  diff %+.2f (%+.2f ± %.2f)  p %.4f (sacreBLEU %.4f)"
              % (r[0], r[2], r[3], r[4], r[6], r[7], r[8], r[10], r[11]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
