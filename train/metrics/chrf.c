/* chrf.c: chrF and chrF++ as sacreBLEU 2.x computes them (metrics/chrf.py). Character n-grams
 * are over code points with whitespace removed; chrF++ adds word n-grams over whitespace-split
 * words from which one leading or trailing ASCII punctuation mark is split off. Statistics are
 * summed over the corpus and the F-score is taken once, averaging precision and recall over
 * the orders that have both hypothesis and reference n-grams (sacreBLEU's "effective order"). */
#include <stdio.h>
#include <string.h>

#include "train/metrics/metrics.h"
#include "train/metrics/text.h"

typedef struct chrf_side {
    tg_cps a, b;
    tg_units chars, split, words;
} chrf_side;

typedef struct chrf_work {
    chrf_side hyp, ref;
    tg_ngram_work ng;
} chrf_work;

static void side_free(chrf_side *s) {
    tg_cps_free(&s->a);
    tg_cps_free(&s->b);
    tg_units_free(&s->chars);
    tg_units_free(&s->split);
    tg_units_free(&s->words);
}

static void work_free(chrf_work *w) {
    side_free(&w->hyp);
    side_free(&w->ref);
    tg_ngram_work_free(&w->ng);
}

tg_chrf_opts tg_chrf_opts_default(void) {
    tg_chrf_opts o = {0};
    o.char_order = 6;
    o.word_order = 0;
    o.beta = 2;
    return o;
}

static tg_status opts_check(const tg_chrf_opts *o, tg_err *err) {
    if (o->char_order < 0 || o->word_order < 0 || o->char_order + o->word_order < 1 ||
        o->char_order + o->word_order > TG_CHRF_MAX_ORDER)
        return tg_err_set(err, TG_ERR_ARG,
                          "chrF: char order %d and word order %d: expected non-negative orders "
                          "adding up to 1..%d", o->char_order, o->word_order, TG_CHRF_MAX_ORDER);
    if (o->beta < 0 || o->beta > 1000)
        return tg_err_set(err, TG_ERR_ARG, "chrF: beta %d: expected 0..1000", o->beta);
    return TG_OK;
}

/* string.punctuation, the set sacreBLEU's chrF++ splits off words. */
static bool ascii_punct(uint32_t c) {
    return c < 0x80 && c > ' ' && c != 0x7F && !(c >= '0' && c <= '9') &&
           !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z');
}

static void swap_cps(tg_cps *x, tg_cps *y) {
    tg_cps t = *x;
    *x = *y;
    *y = t;
}

static tg_status side_units(chrf_side *s, const char *text, const tg_chrf_opts *o,
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
    const uint32_t *p = s->a.p;
    size_t n = s->a.len;
    s->chars.len = 0;
    for (size_t i = 0; i < n; i++)
        if (o->whitespace || !tg_uni_is_space(p[i]))
            if (tg_units_push(&s->chars, p + i, 1) != TG_OK) goto nomem;
    s->words.len = 0;
    if (o->word_order > 0) {
        if (tg_text_split(p, n, &s->split) != TG_OK) goto nomem;
        for (size_t i = 0; i < s->split.len; i++) {
            const tg_unit *w = &s->split.u[i];
            /* One mark comes off the end, else off the start: "(hi)" gives "(hi" and ")". */
            if (w->len > 1 && ascii_punct(w->p[w->len - 1])) {
                if (tg_units_push(&s->words, w->p, w->len - 1) != TG_OK ||
                    tg_units_push(&s->words, w->p + w->len - 1, 1) != TG_OK) goto nomem;
            } else if (w->len > 1 && ascii_punct(w->p[0])) {
                if (tg_units_push(&s->words, w->p, 1) != TG_OK ||
                    tg_units_push(&s->words, w->p + 1, w->len - 1) != TG_OK) goto nomem;
            } else {
                if (tg_units_push(&s->words, w->p, w->len) != TG_OK) goto nomem;
            }
        }
    }
    return TG_OK;
nomem:
    return tg_err_set(err, TG_ERR_NOMEM, "out of memory splitting the %s", what);
}

/* Adds the counts of orders 1 .. orders into hyp, ref and match [0 .. orders): hypothesis n-grams
 * count only where the reference has n-grams of that order, as in sacreBLEU's
 * _get_match_statistics. */
static tg_status add_orders(const tg_units *h, const tg_units *r, size_t orders,
                            tg_ngram_work *ng, int64_t *hyp, int64_t *ref, int64_t *match) {
    if (tg_ngram_match_orders(h->u, h->len, r->u, r->len, orders, ng, match) != TG_OK)
        return TG_ERR_NOMEM;
    for (size_t n = 1; n <= orders; n++) {
        int64_t nh = h->len >= n ? (int64_t)(h->len - n + 1) : 0;
        int64_t nr = r->len >= n ? (int64_t)(r->len - n + 1) : 0;
        hyp[n - 1] = nr > 0 ? nh : 0;
        ref[n - 1] = nr;
    }
    return TG_OK;
}

static tg_status add_segment(tg_chrf_stats *stats, const char *hyp, const char *ref,
                             const tg_chrf_opts *o, chrf_work *w, tg_err *err) {
    if (!hyp || !ref)
        return tg_err_set(err, TG_ERR_ARG, "chrF: %s is NULL", hyp ? "reference" : "hypothesis");
    tg_status st = side_units(&w->hyp, hyp, o, "hypothesis", err);
    if (st != TG_OK) return st;
    st = side_units(&w->ref, ref, o, "reference", err);
    if (st != TG_OK) return st;
    tg_chrf_stats seg = {0};
    int c = o->char_order;
    if (add_orders(&w->hyp.chars, &w->ref.chars, (size_t)c, &w->ng, seg.hyp, seg.ref,
                   seg.match) != TG_OK ||
        add_orders(&w->hyp.words, &w->ref.words, (size_t)o->word_order, &w->ng, seg.hyp + c,
                   seg.ref + c, seg.match + c) != TG_OK)
        goto nomem;
    for (int i = 0; i < TG_CHRF_MAX_ORDER; i++) {
        stats->hyp[i] += seg.hyp[i];
        stats->ref[i] += seg.ref[i];
        stats->match[i] += seg.match[i];
    }
    return TG_OK;
nomem:
    return tg_err_set(err, TG_ERR_NOMEM, "out of memory counting chrF n-grams");
}

tg_status tg_chrf_stats_add(tg_chrf_stats *stats, const char *hyp, const char *ref,
                            const tg_chrf_opts *opts, tg_err *err) {
    tg_chrf_opts o = opts ? *opts : tg_chrf_opts_default();
    tg_status st = opts_check(&o, err);
    if (st != TG_OK) return st;
    chrf_work w = {0};
    st = add_segment(stats, hyp, ref, &o, &w, err);
    work_free(&w);
    return st;
}

/* sacreBLEU's _compute_f_score, operation for operation, so the rounding is the same. */
static double f_score(const tg_chrf_stats *s, const tg_chrf_opts *o) {
    const double eps = 1e-16;
    const double factor = (double)o->beta * (double)o->beta;
    int order = o->char_order + o->word_order;
    double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    int effective_order = 0;
    for (int i = 0; i < order; i++) {
        double n_hyp = (double)s->hyp[i], n_ref = (double)s->ref[i], n_match = (double)s->match[i];
        double prec = s->hyp[i] > 0 ? n_match / n_hyp : eps;
        double rec = s->ref[i] > 0 ? n_match / n_ref : eps;
        double denom = factor * prec + rec;
        score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
        if (s->hyp[i] > 0 && s->ref[i] > 0) {
            avg_prec += prec;
            avg_rec += rec;
            effective_order++;
        }
    }
    if (o->eps_smoothing) return 100 * score / order;
    if (effective_order == 0) {
        avg_prec = avg_rec = 0.0;
    } else {
        avg_prec /= effective_order;
        avg_rec /= effective_order;
    }
    if (avg_prec + avg_rec == 0.0) return 0.0;
    score = (1 + factor) * avg_prec * avg_rec;
    score /= (factor * avg_prec) + avg_rec;
    return 100 * score;
}

tg_status tg_chrf_stats_score(const tg_chrf_stats *stats, const tg_chrf_opts *opts,
                              tg_chrf_result *out, tg_err *err) {
    tg_chrf_opts o = opts ? *opts : tg_chrf_opts_default();
    tg_status st = opts_check(&o, err);
    if (st != TG_OK) return st;
    *out = (tg_chrf_result){0};
    out->stats = *stats;
    out->score = f_score(stats, &o);
    /* "+" once per word order, as sacreBLEU names it: chrF2, chrF2+, chrF2++. */
    int len = snprintf(out->name, sizeof out->name, "chrF%d", o.beta);
    for (int i = 0; i < o.word_order && len + 1 < (int)sizeof out->name; i++) out->name[len++] = '+';
    out->name[len] = '\0';
    snprintf(out->signature, sizeof out->signature,
             "nrefs:1|case:%s|eff:%s|nc:%d|nw:%d|space:%s|version:%s",
             o.lowercase ? "lc" : "mixed", o.eps_smoothing ? "no" : "yes", o.char_order,
             o.word_order, o.whitespace ? "yes" : "no", TG_SACREBLEU_VERSION);
    return TG_OK;
}

tg_status tg_chrf_corpus_score(const char *const *hyps, const char *const *refs, size_t n,
                               const tg_chrf_opts *opts, tg_chrf_result *out, tg_err *err) {
    tg_chrf_opts o = opts ? *opts : tg_chrf_opts_default();
    tg_status st = opts_check(&o, err);
    if (st != TG_OK) return st;
    if (n > 0 && (!hyps || !refs))
        return tg_err_set(err, TG_ERR_ARG, "chrF: %zu segments but no %s array", n,
                          hyps ? "reference" : "hypothesis");
    tg_chrf_stats stats = {0};
    chrf_work w = {0};
    for (size_t i = 0; i < n && st == TG_OK; i++) {
        tg_err inner;
        st = add_segment(&stats, hyps[i], refs[i], &o, &w, &inner);
        if (st != TG_OK) tg_err_set(err, st, "segment %zu: %s", i + 1, inner.msg);
    }
    work_free(&w);
    if (st != TG_OK) return st;
    return tg_chrf_stats_score(&stats, &o, out, err);
}

tg_status tg_chrf_sentence_score(const char *hyp, const char *ref, const tg_chrf_opts *opts,
                                 tg_chrf_result *out, tg_err *err) {
    tg_chrf_stats stats = {0};
    tg_status st = tg_chrf_stats_add(&stats, hyp, ref, opts, err);
    if (st != TG_OK) return st;
    return tg_chrf_stats_score(&stats, opts, out, err);
}
