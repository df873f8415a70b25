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
 */
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
