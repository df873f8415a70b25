/* score_paired_bs.h: `tapegrad score --paired-bs`, the part after the files are read: segment
 * statistics, tg_paired_bs, and sacreBLEU's table (or JSON) on stdout. */
#ifndef TG_SCORE_PAIRED_BS_H
#define TG_SCORE_PAIRED_BS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "train/metrics/metrics.h"

typedef struct tg_score_bs_args {
    const char *const *names;   /* (n_sys) file names; [0] the baseline */
    char **const *hyps;         /* (n_sys) lines of each system, n_seg each */
    size_t n_sys;
    char *const *refs;          /* (n_seg) */
    size_t n_seg;
    const tg_bleu_opts *bleu;
    int n_samples;
    uint64_t seed;
    bool json;
} tg_score_bs_args;

/* Returns the exit code: 0, or 1 with a message on stderr. */
int tg_score_paired_bs(const tg_score_bs_args *a);

#endif /* TG_SCORE_PAIRED_BS_H */
