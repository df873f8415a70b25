/* ngram.c: clipped n-gram matching between a hypothesis and a reference, shared by BLEU (word
 * n-grams) and chrF (character and word n-grams). Both sides' n-grams are sorted and then
 * merged, so equal n-grams meet in runs and each distinct n-gram adds min(hyp run, ref run):
 * the same number as Python's Counter intersection, without a hash table. The order sorted by
 * is a hash of the n-gram's units, then (keys tied) the units themselves: any total order that
 * both sides share gives the same runs, and this one compares one number where the units' code
 * points took a loop a unit (a 1.3 MB line scored in 19 s, the same bytes in lines in 2.5 s).
 * One call counts every order 1 .. max_n: each side's units are hashed once, and order n's keys
 * are order n - 1's with one more unit mixed in (2,000 sentences: 1.70 G instructions with a
 * call an order, each hashing both sides and mixing n units a key; 1.35 G). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "train/metrics/text.h"

/* 16 bytes an n-gram, and three arrays of them a side's length (hyp, ref, the sort's), with 16
 * bytes a unit a side for its unit hashes and running keys: on one huge line they are most of
 * score's memory (a 1.3 MB line against a 1.1 MB one: 147 MB peak; 132 when the hashes were
 * one side's at a time, remade each order; 159 with an order field in each n-gram) */
_Static_assert(sizeof(tg_ngram) <= 16, "tg_ngram: a key and a pointer");

static int unit_cmp(const tg_unit *a, const tg_unit *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i < n; i++)
        if (a->p[i] != b->p[i]) return a->p[i] < b->p[i] ? -1 : 1;
    return (a->len > b->len) - (a->len < b->len);
}

/* n-grams of order n: by key, then (keys tied) unit by unit */
static int ngram_cmp(const tg_ngram *a, const tg_ngram *b, size_t n) {
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    for (size_t i = 0; i < n; i++) {
        int c = unit_cmp(&a->u[i], &b->u[i]);
        if (c) return c;
    }
    return 0;
}

/* a[0 .. count) in ngram_cmp's order, through tmp (count / 2 elements): a merge sort, as qsort
 * has no way to pass the order n to its comparison; runs of up to 16 by insertion. */
static void merge_sort(tg_ngram *a, tg_ngram *tmp, size_t count, size_t n) {
    if (count <= 16) {
        for (size_t i = 1; i < count; i++) {
            tg_ngram x = a[i];
            size_t j = i;
            for (; j > 0 && ngram_cmp(&x, &a[j - 1], n) < 0; j--) a[j] = a[j - 1];
            a[j] = x;
        }
        return;
    }
    size_t h = count / 2;
    merge_sort(a, tmp, h, n);
    merge_sort(a + h, tmp, count - h, n);
    if (ngram_cmp(&a[h - 1], &a[h], n) <= 0) return;
    memcpy(tmp, a, h * sizeof *a);   /* the left half out; the merge fills a from the front */
    size_t i = 0, j = h, o = 0;
    while (i < h && j < count) a[o++] = ngram_cmp(&a[j], &tmp[i], n) < 0 ? a[j++] : tmp[i++];
    while (i < h) a[o++] = tmp[i++];
}

/* A unit's code points and length through FNV-1a (64 bits). An n-gram's key starts at KEY_SEED
 * and takes its units in order, each unit's hash XORed in and then mixed by a 64-bit finaliser
 * (splitmix64's), so keys spread over the range. The key of units i .. i + n - 1 is that of
 * units i .. i + n - 2 with one more unit taken: each order's keys cost one mix an n-gram, from
 * the order before's. Equal units hash alike and equal n-grams key alike, which is all the
 * order needs. */
#define KEY_SEED 0x9e3779b97f4a7c15ULL

static uint64_t unit_hash(const tg_unit *u) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < u->len; i++) h = (h ^ u->p[i]) * 0x100000001b3ULL;
    return (h ^ u->len) * 0x100000001b3ULL;
}

static uint64_t mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Grows the array whose pointer is at pp (any T **, copied through memcpy, not cast to void **)
 * to hold count elements of size bytes. */
static bool reserve(void *pp, size_t *cap, size_t count, size_t size) {
    if (count <= *cap) return true;
    void *p;
    memcpy(&p, pp, sizeof p);
    void *q = realloc(p, count * size);
    if (!q) return false;
    memcpy(pp, &q, sizeof q);
    *cap = count;
    return true;
}

/* Fewer n-grams than this (a sentence's, a paragraph's): one merge sort in the whole order. The
 * radix sort's eight passes each clear and sum 256 counts, which a side of a hundred n-grams does
 * not repay: from 32, 2,000 sentences took 2.69 G instructions, 1.60 G from 1,024 (valgrind
 * lackey); sides of 2,000 and 6,000 code points were cheapest from 1,024 too. */
enum { RADIX_FROM = 1024 };

/* a[0 .. count) by key alone: least significant byte first, stable passes through tmp; a pass
 * whose byte every key shares is skipped. */
static void radix_by_key(tg_ngram *a, tg_ngram *tmp, size_t count) {
    tg_ngram *src = a, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 8) {
        size_t at[256] = {0};
        for (size_t i = 0; i < count; i++) at[(src[i].key >> shift) & 255]++;
        if (at[(src[0].key >> shift) & 255] == count) continue;
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = at[d];
            at[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < count; i++) dst[at[(src[i].key >> shift) & 255]++] = src[i];
        tg_ngram *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, count * sizeof *a);
}

/* Sorts a[0 .. count) in ngram_cmp's order: a long side by key, then each run of one key whose
 * n-grams are not all equal (keys that collide) by its units too. */
static void sort_ngrams(tg_ngram *a, tg_ngram *tmp, size_t count, size_t n) {
    if (count < RADIX_FROM) {
        merge_sort(a, tmp, count, n);
        return;
    }
    radix_by_key(a, tmp, count);
    for (size_t i = 0, e; i < count; i = e) {
        bool same = true;
        for (e = i + 1; e < count && a[e].key == a[i].key; e++)
            same = same && !ngram_cmp(&a[e], &a[i], n);
        if (!same) merge_sort(a + i, tmp, e - i, n);
    }
}

/* A side's unit hashes at (*hk)[0 .. n_units) and its running keys, each the seed for now, at
 * (*hk)[n_units .. 2 n_units). */
static bool hash_side(const tg_unit *units, size_t n_units, uint64_t **hk, size_t *cap) {
    if (!reserve(hk, cap, 2 * n_units, sizeof **hk)) return false;
    for (size_t i = 0; i < n_units; i++) {
        (*hk)[i] = unit_hash(&units[i]);
        (*hk)[n_units + i] = KEY_SEED;
    }
    return true;
}

/* Fills (*arr)[0 .. count) with the order-n n-grams of units[0 .. n_units), sorted. hk is the
 * side's as hash_side left it and then the call for order n - 1: each running key there takes
 * one more unit, the n-gram's last. */
static tg_status collect(const tg_unit *units, size_t n_units, size_t n, uint64_t *hk,
                         tg_ngram_work *w, tg_ngram **arr, size_t *cap, size_t *count) {
    *count = n_units >= n ? n_units - n + 1 : 0;
    if (!*count) return TG_OK;
    if (!reserve(arr, cap, *count, sizeof **arr) ||
        !reserve(&w->tmp, &w->cap_tmp, *count, sizeof *w->tmp))
        return TG_ERR_NOMEM;
    const uint64_t *last = hk + n - 1;   /* last[i]: the hash of n-gram i's last unit */
    uint64_t *key = hk + n_units;
    int drop = w->key_bits > 0 && w->key_bits < 64 ? 64 - w->key_bits : 0;
    for (size_t i = 0; i < *count; i++) {
        key[i] = mix(key[i] ^ last[i]);
        (*arr)[i] = (tg_ngram){.key = key[i] >> drop, .u = units + i};
    }
    sort_ngrams(*arr, w->tmp, *count, n);
    return TG_OK;
}

/* The clipped matches of order n between the sorted w->hyp[0 .. nh) and w->ref[0 .. nr). */
static int64_t merge_count(const tg_ngram_work *w, size_t nh, size_t nr, size_t n) {
    int64_t match = 0;
    size_t i = 0, j = 0;
    while (i < nh && j < nr) {
        int c = ngram_cmp(&w->hyp[i], &w->ref[j], n);
        if (c < 0) { i++; continue; }
        if (c > 0) { j++; continue; }
        size_t ri = i + 1, rj = j + 1;
        while (ri < nh && ngram_cmp(&w->hyp[ri], &w->hyp[i], n) == 0) ri++;
        while (rj < nr && ngram_cmp(&w->ref[rj], &w->ref[j], n) == 0) rj++;
        size_t a = ri - i, b = rj - j;
        match += (int64_t)(a < b ? a : b);
        i = ri;
        j = rj;
    }
    return match;
}

tg_status tg_ngram_match_orders(const tg_unit *hyp, size_t n_hyp, const tg_unit *ref,
                                size_t n_ref, size_t max_n, tg_ngram_work *w, int64_t *match) {
    for (size_t n = 1; n <= max_n; n++) match[n - 1] = 0;
    if (!max_n || !n_hyp || !n_ref) return TG_OK;   /* no n-grams on a side: no matches */
    if (!hash_side(hyp, n_hyp, &w->hk_hyp, &w->cap_hk_hyp) ||
        !hash_side(ref, n_ref, &w->hk_ref, &w->cap_hk_ref))
        return TG_ERR_NOMEM;
    /* from the first order longer than a side on, there are no matches */
    for (size_t n = 1; n <= max_n && n <= n_hyp && n <= n_ref; n++) {
        size_t nh, nr;
        if (collect(hyp, n_hyp, n, w->hk_hyp, w, &w->hyp, &w->cap_hyp, &nh) != TG_OK ||
            collect(ref, n_ref, n, w->hk_ref, w, &w->ref, &w->cap_ref, &nr) != TG_OK)
            return TG_ERR_NOMEM;
        match[n - 1] = merge_count(w, nh, nr, n);
    }
    return TG_OK;
}

void tg_ngram_work_free(tg_ngram_work *w) {
    free(w->hyp);
    free(w->ref);
    free(w->tmp);
    free(w->hk_hyp);
    free(w->hk_ref);
    w->hyp = w->ref = w->tmp = NULL;
    w->hk_hyp = w->hk_ref = NULL;
    w->cap_hyp = w->cap_ref = w->cap_tmp = w->cap_hk_hyp = w->cap_hk_ref = 0;
}
