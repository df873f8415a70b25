/* ngram.c: clipped n-gram matching between a hypothesis and a reference, shared by BLEU (word
 * n-grams) and chrF (character and word n-grams). Both sides' n-grams are sorted and then
 * merged, so equal n-grams meet in runs and each distinct n-gram adds min(hyp run, ref run):
 * the same number as Python's Counter intersection, without a hash table. */
#include <stdlib.h>

#include "train/metrics/text.h"

static int unit_cmp(const tg_unit *a, const tg_unit *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i < n; i++)
        if (a->p[i] != b->p[i]) return a->p[i] < b->p[i] ? -1 : 1;
    return (a->len > b->len) - (a->len < b->len);
}

static int ngram_cmp(const tg_ngram *a, const tg_ngram *b) {
    for (size_t i = 0; i < a->n; i++) {
        int c = unit_cmp(&a->u[i], &b->u[i]);
        if (c) return c;
    }
    return 0;
}

static int ngram_qsort_cmp(const void *a, const void *b) { return ngram_cmp(a, b); }

/* Fills (*arr)[0 .. count) with the order-n n-grams of units[0 .. n_units), sorted. */
static tg_status collect(const tg_unit *units, size_t n_units, size_t n, tg_ngram **arr,
                         size_t *cap, size_t *count) {
    *count = n_units >= n ? n_units - n + 1 : 0;
    if (*count > *cap) {
        tg_ngram *p = realloc(*arr, *count * sizeof *p);
        if (!p) return TG_ERR_NOMEM;
        *arr = p;
        *cap = *count;
    }
    for (size_t i = 0; i < *count; i++) {
        (*arr)[i].u = units + i;
        (*arr)[i].n = n;
    }
    if (*count > 1) qsort(*arr, *count, sizeof **arr, ngram_qsort_cmp);
    return TG_OK;
}

tg_status tg_ngram_match(const tg_unit *hyp, size_t n_hyp, const tg_unit *ref, size_t n_ref,
                         size_t n, tg_ngram_work *w, int64_t *match) {
    *match = 0;
    if (n == 0) return TG_ERR_ARG;
    size_t nh, nr;
    if (collect(hyp, n_hyp, n, &w->hyp, &w->cap_hyp, &nh) != TG_OK) return TG_ERR_NOMEM;
    if (collect(ref, n_ref, n, &w->ref, &w->cap_ref, &nr) != TG_OK) return TG_ERR_NOMEM;
    size_t i = 0, j = 0;
    while (i < nh && j < nr) {
        int c = ngram_cmp(&w->hyp[i], &w->ref[j]);
        if (c < 0) { i++; continue; }
        if (c > 0) { j++; continue; }
        size_t ri = i + 1, rj = j + 1;
        while (ri < nh && ngram_cmp(&w->hyp[ri], &w->hyp[i]) == 0) ri++;
        while (rj < nr && ngram_cmp(&w->ref[rj], &w->ref[j]) == 0) rj++;
        size_t a = ri - i, b = rj - j;
        *match += (int64_t)(a < b ? a : b);
        i = ri;
        j = rj;
    }
    return TG_OK;
}

void tg_ngram_work_free(tg_ngram_work *w) {
    free(w->hyp);
    free(w->ref);
    w->hyp = w->ref = NULL;
    w->cap_hyp = w->cap_ref = 0;
}
