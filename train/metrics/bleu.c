/* bleu.c: corpus and sentence BLEU as sacreBLEU 2.x computes them (metrics/bleu.py): per
 * segment, lowercase (optional), rstrip, tokenize, split on whitespace, count clipped n-gram
 * matches of orders 1..4; over the corpus, sum the counts and apply smoothing and the brevity
 * penalty once. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/metrics/metrics.h"
#include "train/metrics/text.h"

/* One side's buffers: the decoded text, scratch for lowercasing and tokenizing, the words. */
typedef struct bleu_side {
    tg_cps a, b, c;
    tg_units words;
} bleu_side;

typedef struct bleu_work {
    bleu_side hyp, ref;
    tg_ngram_work ng;
} bleu_work;

static void side_free(bleu_side *s) {
    tg_cps_free(&s->a);
    tg_cps_free(&s->b);
    tg_cps_free(&s->c);
    tg_units_free(&s->words);
}

static void work_free(bleu_work *w) {
    side_free(&w->hyp);
    side_free(&w->ref);
    tg_ngram_work_free(&w->ng);
}

tg_bleu_opts tg_bleu_opts_default(void) {
    tg_bleu_opts o = {0};
    o.tokenize = TG_BLEU_TOK_13A;
    o.smooth = TG_BLEU_SMOOTH_EXP;
    o.smooth_value = -1.0;
    return o;
}

static tg_status opts_check(const tg_bleu_opts *o, tg_err *err) {
    if ((unsigned)o->tokenize > TG_BLEU_TOK_NONE)
        return tg_err_set(err, TG_ERR_ARG, "BLEU: unknown tokenizer %d (expected 13a, intl or none)",
                          (int)o->tokenize);
    if ((unsigned)o->smooth > TG_BLEU_SMOOTH_ADD_K)
        return tg_err_set(err, TG_ERR_ARG,
                          "BLEU: unknown smoothing %d (expected exp, none, floor or add-k)",
                          (int)o->smooth);
    if (isnan(o->smooth_value) || isinf(o->smooth_value))
        return tg_err_set(err, TG_ERR_ARG, "BLEU: smooth_value must be finite");
    return TG_OK;
}

static void swap_cps(tg_cps *x, tg_cps *y) {
    tg_cps t = *x;
    *x = *y;
    *y = t;
}

/* Decodes, lowercases, rstrips and tokenizes text into s->words. */
static tg_status side_words(bleu_side *s, const char *text, const tg_bleu_opts *o,
                            const char *what, tg_err *err) {
    size_t bad = 0;
    tg_status st = tg_utf8_decode(text, strlen(text), &s->a, &bad);
    if (st == TG_ERR_FORMAT)
        return tg_err_set(err, st, "%s is not valid UTF-8 (byte %zu)", what, bad + 1);
    if (st != TG_OK) return tg_err_set(err, st, "out of memory decoding the %s", what);
    if (o->lowercase) {
        if (tg_text_lower(s->a.p, s->a.len, &s->b) != TG_OK)
            return tg_err_set(err, TG_ERR_NOMEM, "out of memory lowercasing the %s", what);
        swap_cps(&s->a, &s->b);
    }
    size_t len = tg_text_rstrip_len(s->a.p, s->a.len);
    const tg_cps *tok = &s->a;
    if (o->tokenize != TG_BLEU_TOK_NONE) {
        st = o->tokenize == TG_BLEU_TOK_13A ? tg_tok_13a(s->a.p, len, &s->b, &s->c)
                                            : tg_tok_intl(s->a.p, len, &s->b, &s->c);
        if (st != TG_OK) return tg_err_set(err, st, "out of memory tokenizing the %s", what);
        tok = &s->b;
        len = s->b.len;
    }
    if (tg_text_split(tok->p, len, &s->words) != TG_OK)
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory splitting the %s", what);
    return TG_OK;
}

static tg_status add_segment(tg_bleu_stats *stats, const char *hyp, const char *ref,
                             const tg_bleu_opts *o, bleu_work *w, tg_err *err) {
    if (!hyp || !ref)
        return tg_err_set(err, TG_ERR_ARG, "BLEU: %s is NULL", hyp ? "reference" : "hypothesis");
    tg_status st = side_words(&w->hyp, hyp, o, "hypothesis", err);
    if (st != TG_OK) return st;
    st = side_words(&w->ref, ref, o, "reference", err);
    if (st != TG_OK) return st;
    const tg_units *h = &w->hyp.words, *r = &w->ref.words;
    /* Summed into locals first, so stats is untouched when a segment fails half-way. */
    int64_t counts[TG_BLEU_MAX_ORDER];
    st = tg_ngram_match_orders(h->u, h->len, r->u, r->len, TG_BLEU_MAX_ORDER, &w->ng, counts);
    if (st != TG_OK) return tg_err_set(err, st, "out of memory counting BLEU n-grams");
    for (size_t n = 1; n <= TG_BLEU_MAX_ORDER; n++) {
        stats->counts[n - 1] += counts[n - 1];
        stats->totals[n - 1] += h->len >= n ? (int64_t)(h->len - n + 1) : 0;
    }
    stats->sys_len += (int64_t)h->len;
    stats->ref_len += (int64_t)r->len;
    return TG_OK;
}

tg_status tg_bleu_stats_add(tg_bleu_stats *stats, const char *hyp, const char *ref,
                            const tg_bleu_opts *opts, tg_err *err) {
    tg_bleu_opts o = opts ? *opts : tg_bleu_opts_default();
    tg_status st = opts_check(&o, err);
    if (st != TG_OK) return st;
    bleu_work w = {0};
    st = add_segment(stats, hyp, ref, &o, &w, err);
    work_free(&w);
    return st;
}

void tg_bleu_stats_sum(tg_bleu_stats *acc, const tg_bleu_stats *x) {
    for (int k = 0; k < TG_BLEU_MAX_ORDER; k++) {
        acc->counts[k] += x->counts[k];
        acc->totals[k] += x->totals[k];
    }
    acc->sys_len += x->sys_len;
    acc->ref_len += x->ref_len;
}

static double smooth_value(const tg_bleu_opts *o) {
    if (o->smooth_value >= 0) return o->smooth_value;
    return o->smooth == TG_BLEU_SMOOTH_FLOOR ? 0.1 : 1.0;
}

static void signature(const tg_bleu_opts *o, char *out, size_t cap) {
    static const char *const toks[] = {"13a", "intl", "none"};
    char smooth[32];
    switch (o->smooth) {
    case TG_BLEU_SMOOTH_NONE: snprintf(smooth, sizeof smooth, "none"); break;
    case TG_BLEU_SMOOTH_FLOOR: snprintf(smooth, sizeof smooth, "floor[%.2f]", smooth_value(o)); break;
    case TG_BLEU_SMOOTH_ADD_K: snprintf(smooth, sizeof smooth, "add-k[%.2f]", smooth_value(o)); break;
    default: snprintf(smooth, sizeof smooth, "exp"); break;
    }
    snprintf(out, cap, "nrefs:1|case:%s|eff:%s|tok:%s|smooth:%s|version:%s",
             o->lowercase ? "lc" : "mixed", o->effective_order ? "yes" : "no", toks[o->tokenize],
             smooth, TG_SACREBLEU_VERSION);
}

/* sacreBLEU's my_log: log(0) is a large negative number rather than -inf. */
static double bleu_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

tg_status tg_bleu_stats_score(const tg_bleu_stats *stats, const tg_bleu_opts *opts,
                              tg_bleu_result *out, tg_err *err) {
    tg_bleu_opts o = opts ? *opts : tg_bleu_opts_default();
    tg_status st = opts_check(&o, err);
    if (st != TG_OK) return st;
    *out = (tg_bleu_result){0};
    bool any = false;
    for (int i = 0; i < TG_BLEU_MAX_ORDER; i++) {
        out->counts[i] = stats->counts[i];
        out->totals[i] = stats->totals[i];
        if (stats->counts[i]) any = true;
    }
    out->sys_len = stats->sys_len;
    out->ref_len = stats->ref_len;
    signature(&o, out->signature, sizeof out->signature);
    if (stats->sys_len < stats->ref_len)
        out->bp = stats->sys_len > 0 ? exp(1.0 - (double)stats->ref_len / (double)stats->sys_len) : 0.0;
    else
        out->bp = 1.0;
    /* No match at any order: score 0 whatever the smoothing (sacreBLEU issue #141). */
    if (!any) return TG_OK;

    double k = smooth_value(&o), smooth_mteval = 1.0;
    int eff_order = TG_BLEU_MAX_ORDER;
    for (int n = 1; n <= TG_BLEU_MAX_ORDER; n++) {
        double correct = (double)stats->counts[n - 1], total = (double)stats->totals[n - 1];
        if (o.smooth == TG_BLEU_SMOOTH_ADD_K && n > 1) {
            correct += k;
            total += k;
        }
        if (total == 0.0) break;
        if (o.effective_order) eff_order = n;
        if (correct == 0.0) {
            if (o.smooth == TG_BLEU_SMOOTH_EXP) {
                smooth_mteval *= 2;
                out->precisions[n - 1] = 100.0 / (smooth_mteval * total);
            } else if (o.smooth == TG_BLEU_SMOOTH_FLOOR) {
                out->precisions[n - 1] = 100.0 * k / total;
            }
        } else {
            out->precisions[n - 1] = 100.0 * correct / total;
        }
    }
    double sum = 0.0;
    for (int n = 0; n < eff_order; n++) sum += bleu_log(out->precisions[n]);
    out->score = out->bp * exp(sum / eff_order);
    return TG_OK;
}

tg_status tg_bleu_corpus_score(const char *const *hyps, const char *const *refs, size_t n,
                               const tg_bleu_opts *opts, tg_bleu_result *out, tg_err *err) {
    tg_bleu_opts o = opts ? *opts : tg_bleu_opts_default();
    tg_status st = opts_check(&o, err);
    if (st != TG_OK) return st;
    if (n > 0 && (!hyps || !refs))
        return tg_err_set(err, TG_ERR_ARG, "BLEU: %zu segments but no %s array", n,
                          hyps ? "reference" : "hypothesis");
    tg_bleu_stats stats = {0};
    bleu_work w = {0};
    for (size_t i = 0; i < n && st == TG_OK; i++) {
        tg_err inner;
        st = add_segment(&stats, hyps[i], refs[i], &o, &w, &inner);
        if (st != TG_OK) tg_err_set(err, st, "segment %zu: %s", i + 1, inner.msg);
    }
    work_free(&w);
    if (st != TG_OK) return st;
    return tg_bleu_stats_score(&stats, &o, out, err);
}

tg_status tg_bleu_sentence_score(const char *hyp, const char *ref, const tg_bleu_opts *opts,
                                 tg_bleu_result *out, tg_err *err) {
    tg_bleu_opts o = opts ? *opts : tg_bleu_opts_default();
    o.effective_order = true;
    tg_bleu_stats stats = {0};
    tg_status st = tg_bleu_stats_add(&stats, hyp, ref, &o, err);
    if (st != TG_OK) return st;
    return tg_bleu_stats_score(&stats, &o, out, err);
}
