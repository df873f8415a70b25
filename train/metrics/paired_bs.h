/* paired_bs.h: paired bootstrap resampling of corpus BLEU, as sacreBLEU 2.6's `--paired-bs`
 * (sacrebleu/significance.py) does it: the same resampled segment sets for every system, corpus
 * BLEU of each resample recomputed from summed segment statistics, a p-value for each system
 * against the baseline and a 95% interval for each score.
 *
 *   tg_bleu_stats *seg[3];            // seg[s][i] from tg_bleu_stats_add on one zeroed struct
 *   tg_paired_bs_system out[3];
 *   tg_bleu_opts bo = tg_bleu_opts_default();
 *   if (tg_paired_bs((const tg_bleu_stats *const *)seg, 3, n_seg, 1000, 12345, &bo, out,
 *                    &err) != TG_OK) { ... err.msg ... }
 *   printf("%.1f (μ = %.1f ± %.1f) p = %.4f\n", out[1].bleu.score, out[1].bleu.mean,
 *          out[1].bleu.ci, out[1].p_value);
 *
 * The method, as sacreBLEU has it: n_samples resamples of the n_seg segment indices, drawn with
 * replacement, the same for every system; each system's corpus BLEU of each resample from its
 * summed segment statistics. For each score, mean = the mean over the resamples and ci = half
 * the distance between the (n/40)-th smallest and the (n/40)-th largest resampled value (0-based;
 * at n = 1000 the 26th smallest and 26th largest). p-value of system s against the baseline:
 * with d_b = |BLEU_s(b) - BLEU_0(b)| on resample b and D = |BLEU_s - BLEU_0| on the full set,
 * count the resamples where d_b - mean(d) exceeds D, and p = (count + 1) / (n_samples + 1).
 *
 * Where it differs, and why:
 * - The generator. sacreBLEU draws the indices with numpy's default_rng(seed).choice (PCG64);
 *   here xoshiro256** seeded by splitmix64 (tg_data_rng, stream 0) draws them in the same order
 *   (resample by resample). Same seed, different resamples: means, intervals and p-values agree
 *   with sacreBLEU's to Monte Carlo precision, not digit for digit.
 * - Ties. sacreBLEU counts d_b - mean(d) > D strictly; here >= D. They differ only when a
 *   centred difference equals D exactly, which in practice means the two systems have equal
 *   statistics on every segment: then every d_b and D are 0, sacreBLEU's count is 0 and it
 *   reports p = 1 / (n + 1) (0.001: "significantly different from itself"), while here every
 *   resample counts and p = 1.
 * - diff is an addition (sacreBLEU prints no interval for the difference): the same estimate
 *   applied to the signed per-resample differences BLEU_s(b) - BLEU_0(b).
 * - Statistics are summed as integers (sacreBLEU sums float32, exact below 2^24 per field). */
#ifndef TG_PAIRED_BS_H
#define TG_PAIRED_BS_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"
#include "train/metrics/metrics.h"

/* sacreBLEU's defaults for --paired-bs-n and --paired-bs-seed. */
#define TG_PAIRED_BS_N_DEFAULT 1000
#define TG_PAIRED_BS_SEED_DEFAULT 12345

typedef struct tg_bs_estimate {
    double score;   /* on the full set */
    double mean;    /* mean over the resamples */
    double ci;      /* 95% half-width, as sacreBLEU prints "mu ± ci" */
} tg_bs_estimate;

typedef struct tg_paired_bs_system {
    tg_bs_estimate bleu;   /* the system alone */
    tg_bs_estimate diff;   /* system minus baseline, over the same resamples */
    double p_value;        /* sacreBLEU paired_bs's p-value against the baseline (1 for s = 0) */
} tg_paired_bs_system;

/* seg[s][i]: BLEU statistics of segment i for system s (s = 0 is the baseline), as
 * tg_bleu_stats_add gives them for one segment. n_samples resamples of n_seg segment indices
 * (with replacement), shared by all systems, drawn from a generator seeded by seed. Corpus BLEU
 * of each resample recomputed from the summed statistics with opts. Fills out[0..n_sys-1]. */
tg_status tg_paired_bs(const tg_bleu_stats *const *seg, size_t n_sys, size_t n_seg,
                       int n_samples, uint64_t seed, const tg_bleu_opts *opts,
                       tg_paired_bs_system *out, tg_err *err);

#endif /* TG_PAIRED_BS_H */
