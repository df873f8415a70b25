/* paired_bs.c: paired bootstrap resampling of corpus BLEU (sacreBLEU 2.6's _paired_bs_test,
 * estimate_ci and _compute_p_value in significance.py; see paired_bs.h for where it differs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "train/metrics/order_stats.h"
#include "train/metrics/paired_bs.h"

/* estimate_ci: the mean of the n values, and half the distance between the (n/40)-th smallest
 * and the (n/40)-th largest (0-based), i.e. the 2.5% and 97.5% order statistics. Sorts v. */
static tg_bs_estimate estimate(double *v, int n, double score) {
    double sum = 0.0;
    for (int b = 0; b < n; b++) sum += v[b];
    tg_sort_doubles(v, (size_t)n);
    int lo = n / 40, hi = n - lo - 1;
    return (tg_bs_estimate){.score = score, .mean = sum / n, .ci = 0.5 * (v[hi] - v[lo])};
}

/* _compute_p_value on sacreBLEU's statistic: the resampled absolute differences, centred on
 * their mean, against the observed absolute difference; (count + 1) / (n + 1). A centred
 * difference equal to the observed one counts (sacreBLEU counts only greater ones: see the
 * header). */
static double p_value(const double *sys, const double *base, int n, double observed) {
    double mean = 0.0;
    for (int b = 0; b < n; b++) mean += fabs(sys[b] - base[b]);
    mean /= n;
    int count = 0;
    for (int b = 0; b < n; b++)
        if (fabs(sys[b] - base[b]) - mean >= observed) count++;
    return (count + 1.0) / (n + 1.0);
}

/* Corpus BLEU of every resample for every system: scores[s * n_samples + b]. */
static tg_status resample_scores(const tg_bleu_stats *const *seg, size_t n_sys, size_t n_seg,
                                 int n_samples, uint64_t seed, const tg_bleu_opts *opts,
                                 double *scores, tg_err *err) {
    size_t *idx = malloc(n_seg * sizeof *idx);
    if (!idx) return tg_err_set(err, TG_ERR_NOMEM, "paired bootstrap: out of memory");
    tg_data_rng rng;
    tg_data_rng_seed(&rng, seed, 0);
    tg_status st = TG_OK;
    for (int b = 0; b < n_samples && st == TG_OK; b++) {
        /* One resample of segment indices, shared by every system: that is the pairing. */
        for (size_t i = 0; i < n_seg; i++) idx[i] = (size_t)tg_data_rng_below(&rng, n_seg);
        for (size_t s = 0; s < n_sys && st == TG_OK; s++) {
            tg_bleu_stats acc = {0};
            for (size_t i = 0; i < n_seg; i++) tg_bleu_stats_sum(&acc, &seg[s][idx[i]]);
            tg_bleu_result r;
            st = tg_bleu_stats_score(&acc, opts, &r, err);
            scores[s * (size_t)n_samples + (size_t)b] = r.score;
        }
    }
    free(idx);
    return st;
}

static tg_status full_scores(const tg_bleu_stats *const *seg, size_t n_sys, size_t n_seg,
                             const tg_bleu_opts *opts, double *full, tg_err *err) {
    for (size_t s = 0; s < n_sys; s++) {
        tg_bleu_stats acc = {0};
        for (size_t i = 0; i < n_seg; i++) tg_bleu_stats_sum(&acc, &seg[s][i]);
        tg_bleu_result r;
        tg_status st = tg_bleu_stats_score(&acc, opts, &r, err);
        if (st != TG_OK) return st;
        full[s] = r.score;
    }
    return TG_OK;
}

/* Fills out[] from the resampled scores (n_sys, n_samples); work holds n_samples doubles. */
static void summarise(const double *scores, const double *full, size_t n_sys, int n,
                      double *work, tg_paired_bs_system *out) {
    const double *base = scores;
    for (size_t s = 0; s < n_sys; s++) {
        const double *sys = scores + s * (size_t)n;
        memcpy(work, sys, (size_t)n * sizeof *work);
        out[s].bleu = estimate(work, n, full[s]);
        for (int b = 0; b < n; b++) work[b] = sys[b] - base[b];
        out[s].diff = estimate(work, n, full[s] - full[0]);
        out[s].p_value = s == 0 ? 1.0 : p_value(sys, base, n, fabs(full[s] - full[0]));
    }
}

tg_status tg_paired_bs(const tg_bleu_stats *const *seg, size_t n_sys, size_t n_seg,
                       int n_samples, uint64_t seed, const tg_bleu_opts *opts,
                       tg_paired_bs_system *out, tg_err *err) {
    if (!seg || !out || n_sys == 0)
        return tg_err_set(err, TG_ERR_ARG, "paired bootstrap: no systems");
    if (n_seg == 0) return tg_err_set(err, TG_ERR_ARG, "paired bootstrap: no segments to resample");
    if (n_samples < 1)
        return tg_err_set(err, TG_ERR_ARG, "paired bootstrap: %d resamples (expected at least 1)",
                          n_samples);
    for (size_t s = 0; s < n_sys; s++)
        if (!seg[s])
            return tg_err_set(err, TG_ERR_ARG, "paired bootstrap: system %zu has no statistics", s);
    size_t n = (size_t)n_samples;
    double *scores = malloc(n_sys * n * sizeof *scores), *work = malloc(n * sizeof *work);
    double *full = malloc(n_sys * sizeof *full);
    tg_status st = TG_ERR_NOMEM;
    if (!scores || !work || !full) {
        tg_err_set(err, st, "paired bootstrap: out of memory for %zu x %d scores", n_sys,
                   n_samples);
        goto done;
    }
    st = full_scores(seg, n_sys, n_seg, opts, full, err);
    if (st == TG_OK) st = resample_scores(seg, n_sys, n_seg, n_samples, seed, opts, scores, err);
    if (st == TG_OK) summarise(scores, full, n_sys, n_samples, work, out);
done:
    free(scores);
    free(work);
    free(full);
    return st;
}
