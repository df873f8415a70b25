/* metrics.h: translation metrics compatible with sacreBLEU 2.6.0 -- corpus and sentence BLEU
 * (tokenizers 13a, intl, none; exp/floor/add-k/no smoothing; effective order), chrF and chrF++
 * -- over in-memory UTF-8 strings, one segment per string. Nothing here reads files or prints.
 * Counts, totals and lengths equal sacreBLEU's; scores agree to 1e-6 and the signatures are
 * sacreBLEU's strings (e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0").
 * One reference per segment.
 *
 *   const char *hyps[] = {"The cat sat on the mat."}, *refs[] = {"The cat sat on a mat."};
 *   tg_bleu_opts bo = tg_bleu_opts_default();          // 13a, mixed case, exp smoothing
 *   tg_bleu_result b;
 *   tg_err err;
 *   if (tg_bleu_corpus_score(hyps, refs, 1, &bo, &b, &err) != TG_OK) { ... err.msg ... }
 *   printf("BLEU|%s = %.2f\n", b.signature, b.score);
 *
 *   tg_chrf_opts co = tg_chrf_opts_default();          // chrF2; co.word_order = 2 for chrF++
 *   tg_chrf_result c;
 *   tg_chrf_corpus_score(hyps, refs, 1, &co, &c, &err);
 *   printf("%s|%s = %.2f\n", c.name, c.signature, c.score);
 *
 * To score a corpus as it streams (e.g. dev sentences as they are decoded), zero a stats struct,
 * add each segment with tg_bleu_stats_add / tg_chrf_stats_add, then call *_stats_score.
 */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"

/* The sacreBLEU version whose behaviour (and signature field) this reproduces. */
#define TG_SACREBLEU_VERSION "2.6.0"
#define TG_METRICS_SIGNATURE_MAX 128

/* ---------------------------------------------------------------------------------------- */
/* BLEU                                                                                     */

#define TG_BLEU_MAX_ORDER 4

typedef enum tg_bleu_tokenize {
    TG_BLEU_TOK_13A = 0,   /* mteval-v13a.pl: ASCII punctuation, &quot; &amp; &lt; &gt; */
    TG_BLEU_TOK_INTL,      /* mteval-v14.pl international: Unicode punctuation and symbols */
    TG_BLEU_TOK_NONE,      /* split on whitespace only */
} tg_bleu_tokenize;

typedef enum tg_bleu_smooth {
    TG_BLEU_SMOOTH_EXP = 0,  /* mteval's: the k-th zero count gets precision 1 / (2^k total) */
    TG_BLEU_SMOOTH_NONE,     /* a zero count makes the score 0 */
    TG_BLEU_SMOOTH_FLOOR,    /* a zero count gets precision smooth_value / total */
    TG_BLEU_SMOOTH_ADD_K,    /* smooth_value added to counts and totals of orders 2..4 */
} tg_bleu_smooth;

typedef struct tg_bleu_opts {
    tg_bleu_tokenize tokenize;
    bool lowercase;            /* Python's str.lower() before tokenizing */
    tg_bleu_smooth smooth;
    double smooth_value;       /* floor and add-k; negative: sacreBLEU's default (0.1, 1) */
    bool effective_order;      /* average over the orders that have n-grams (sentence BLEU) */
} tg_bleu_opts;

/* sacreBLEU's corpus_bleu defaults: 13a, mixed case, exp smoothing, no effective order. */
tg_bleu_opts tg_bleu_opts_default(void);

/* Sufficient statistics: summed over segments, then turned into a score. Zero-initialise. */
typedef struct tg_bleu_stats {
    int64_t counts[TG_BLEU_MAX_ORDER];   /* clipped n-gram matches, order 1..4 */
    int64_t totals[TG_BLEU_MAX_ORDER];   /* hypothesis n-grams, order 1..4 */
    int64_t sys_len, ref_len;            /* tokens */
} tg_bleu_stats;

typedef struct tg_bleu_result {
    double score;                          /* 0..100 */
    int64_t counts[TG_BLEU_MAX_ORDER];     /* as in the stats (add-k does not change these) */
    int64_t totals[TG_BLEU_MAX_ORDER];
    double precisions[TG_BLEU_MAX_ORDER];  /* percent, smoothed as the score used them */
    double bp;                             /* brevity penalty; 0 when sys_len is 0 < ref_len */
    int64_t sys_len, ref_len;
    char signature[TG_METRICS_SIGNATURE_MAX];
} tg_bleu_result;

/* Adds one segment pair to stats. TG_ERR_FORMAT if either string is not valid UTF-8. */
tg_status tg_bleu_stats_add(tg_bleu_stats *stats, const char *hyp, const char *ref,
                            const tg_bleu_opts *opts, tg_err *err);
/* Adds the statistics in x to acc (e.g. segments' statistics into a resampled corpus). */
void tg_bleu_stats_sum(tg_bleu_stats *acc, const tg_bleu_stats *x);
/* The score, precisions, brevity penalty and signature of accumulated stats. */
tg_status tg_bleu_stats_score(const tg_bleu_stats *stats, const tg_bleu_opts *opts,
                              tg_bleu_result *out, tg_err *err);
/* Corpus BLEU of n segments (hyps[i] against refs[i]); n = 0 gives score 0. Errors name the
 * segment (1-based) and side. */
tg_status tg_bleu_corpus_score(const char *const *hyps, const char *const *refs, size_t n,
                               const tg_bleu_opts *opts, tg_bleu_result *out, tg_err *err);
/* Sentence BLEU as sacrebleu.sentence_bleu computes it: opts (NULL: defaults) with effective
 * order switched on. */
tg_status tg_bleu_sentence_score(const char *hyp, const char *ref, const tg_bleu_opts *opts,
                                 tg_bleu_result *out, tg_err *err);

/* ---------------------------------------------------------------------------------------- */
/* chrF and chrF++                                                                          */

#define TG_CHRF_MAX_ORDER 16   /* char_order + word_order */

typedef struct tg_chrf_opts {
    int char_order;        /* character n-grams 1..char_order (6) */
    int word_order;        /* word n-grams 1..word_order: 0 for chrF, 2 for chrF++ */
    int beta;              /* recall weight (2) */
    bool lowercase;
    bool whitespace;       /* keep whitespace in character n-grams (sacreBLEU: off) */
    bool eps_smoothing;    /* chrF++.py's epsilon smoothing instead of effective order (off) */
} tg_chrf_opts;

/* chrF2: char order 6, word order 0, beta 2, mixed case, whitespace removed, effective order. */
tg_chrf_opts tg_chrf_opts_default(void);

typedef struct tg_chrf_stats {
    /* Per order, characters 1..char_order first, then words 1..word_order: hypothesis n-grams
     * (counted only where the reference has n-grams of that order, as sacreBLEU does),
     * reference n-grams, clipped matches. */
    int64_t hyp[TG_CHRF_MAX_ORDER], ref[TG_CHRF_MAX_ORDER], match[TG_CHRF_MAX_ORDER];
} tg_chrf_stats;

typedef struct tg_chrf_result {
    double score;                          /* 0..100 */
    char name[24];                         /* "chrF2", "chrF2++" */
    char signature[TG_METRICS_SIGNATURE_MAX];
    tg_chrf_stats stats;
} tg_chrf_result;

tg_status tg_chrf_stats_add(tg_chrf_stats *stats, const char *hyp, const char *ref,
                            const tg_chrf_opts *opts, tg_err *err);
tg_status tg_chrf_stats_score(const tg_chrf_stats *stats, const tg_chrf_opts *opts,
                              tg_chrf_result *out, tg_err *err);
tg_status tg_chrf_corpus_score(const char *const *hyps, const char *const *refs, size_t n,
                               const tg_chrf_opts *opts, tg_chrf_result *out, tg_err *err);
tg_status tg_chrf_sentence_score(const char *hyp, const char *ref, const tg_chrf_opts *opts,
                                 tg_chrf_result *out, tg_err *err);

#endif /* TG_METRICS_H */
