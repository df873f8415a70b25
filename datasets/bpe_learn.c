/* bpe_learn.c: learning the merges from word counts.
 *
 * Words are counted once; each word type is a sequence of symbols weighted by its count. Pair
 * counts are kept incrementally: every pair knows the words it occurs in, so a merge touches only
 * those words, and only the pairs next to a merged spot change. The best pair comes from a
 * max-heap with lazy deletion (an entry whose count is out of date is dropped when it surfaces). */
#include <stdlib.h>
#include <string.h>

#include "datasets/bpe.h"

typedef struct heap_entry {
    int64_t count;
    uint64_t key; /* (left << 32 | right): ties go to the smaller key */
    uint32_t pair;
} heap_entry;

typedef struct learner {
    tg_bpe *b;
    /* word types */
    size_t nw;
    int64_t *wcount;   /* (nw) */
    size_t *woff;      /* (nw) start in syms */
    int32_t *wlen;     /* (nw) current symbol count */
    int32_t *syms;
    uint32_t *wstamp;  /* (nw) last merge that rewrote the word */
    /* pairs, dense */
    tg_ds_u64map pair_of; /* key -> dense index */
    size_t np, pcap;
    uint64_t *pkey;
    int64_t *pcount;
    int32_t **plist;   /* words the pair occurs in (may hold stale or repeated entries) */
    uint32_t *plen, *plcap;
    uint32_t *pstamp;  /* last merge that marked the pair dirty */
    uint32_t *dirty;
    size_t ndirty, dcap;
    heap_entry *heap;
    size_t hn, hcap;
    /* scratch for rewriting one word */
    int32_t *tmp;
    unsigned char *created, *occ;
    size_t tmpcap;
    uint32_t merge_no;
} learner;

static bool better(const heap_entry *x, const heap_entry *y) {
    return x->count > y->count || (x->count == y->count && x->key < y->key);
}

static void sift_up(heap_entry *h, size_t i) {
    heap_entry v = h[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!better(&v, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static void sift_down(heap_entry *h, size_t n, size_t i) {
    heap_entry v = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(&h[c + 1], &h[c])) c++;
        if (!better(&h[c], &v)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static bool heap_push(learner *L, uint32_t p) {
    if (!tg_ds_grow((void **)&L->heap, &L->hcap, L->hn + 1, sizeof *L->heap)) return false;
    L->heap[L->hn] = (heap_entry){L->pcount[p], L->pkey[p], p};
    sift_up(L->heap, L->hn++);
    return true;
}

static void heap_pop(learner *L) {
    L->heap[0] = L->heap[--L->hn];
    if (L->hn) sift_down(L->heap, L->hn, 0);
}

static bool mergeable(int32_t a, int32_t b) { return a >= TG_BPE_FIRST_CHAR && b >= TG_BPE_FIRST_CHAR; }

/* Adds delta to the pair's count; a positive delta records that word w holds the pair. */
static bool pair_add(learner *L, int32_t a, int32_t b, int64_t delta, int32_t w) {
    uint64_t key = tg_bpe_pair_key(a, b);
    int64_t *v = tg_ds_u64map_get(&L->pair_of, key);
    uint32_t p;
    if (v) {
        p = (uint32_t)*v;
    } else {
        if (L->np >= UINT32_MAX) return false;
        p = (uint32_t)L->np;
        size_t c[6] = {L->pcap, L->pcap, L->pcap, L->pcap, L->pcap, L->pcap};
        if (!tg_ds_grow((void **)&L->pkey, &c[0], L->np + 1, sizeof *L->pkey) ||
            !tg_ds_grow((void **)&L->pcount, &c[1], L->np + 1, sizeof *L->pcount) ||
            !tg_ds_grow((void **)&L->plist, &c[2], L->np + 1, sizeof *L->plist) ||
            !tg_ds_grow((void **)&L->plen, &c[3], L->np + 1, sizeof *L->plen) ||
            !tg_ds_grow((void **)&L->plcap, &c[4], L->np + 1, sizeof *L->plcap) ||
            !tg_ds_grow((void **)&L->pstamp, &c[5], L->np + 1, sizeof *L->pstamp))
            return false;
        size_t m = c[0];
        for (int i = 1; i < 6; i++) m = c[i] < m ? c[i] : m;
        L->pcap = m;
        if (!tg_ds_u64map_put(&L->pair_of, key, p)) return false;
        L->pkey[p] = key;
        L->pcount[p] = 0;
        L->plist[p] = NULL;
        L->plen[p] = L->plcap[p] = 0;
        L->pstamp[p] = 0;
        L->np++;
    }
    L->pcount[p] += delta;
    if (delta > 0 && (L->plen[p] == 0 || L->plist[p][L->plen[p] - 1] != w)) {
        if (L->plen[p] == L->plcap[p]) {
            uint32_t nc = L->plcap[p] ? L->plcap[p] * 2 : 4;
            int32_t *q = realloc(L->plist[p], nc * sizeof *q);
            if (!q) return false;
            L->plist[p] = q;
            L->plcap[p] = nc;
        }
        L->plist[p][L->plen[p]++] = w;
    }
    if (L->pstamp[p] != L->merge_no) {
        L->pstamp[p] = L->merge_no;
        if (!tg_ds_grow((void **)&L->dirty, &L->dcap, L->ndirty + 1, sizeof *L->dirty)) return false;
        L->dirty[L->ndirty++] = p;
    }
    return true;
}

/* Rewrites word w with merge (a, b) -> r and updates the counts of the pairs that changed: those
 * touching a merged spot before, and those touching a new symbol after. */
static bool rewrite_word(learner *L, int32_t w, int32_t a, int32_t b, int32_t r) {
    int32_t *s = L->syms + L->woff[w];
    int32_t n = L->wlen[w], j = 0;
    if ((size_t)n > L->tmpcap) {
        size_t c1 = L->tmpcap, c2 = L->tmpcap, c3 = L->tmpcap;
        if (!tg_ds_grow((void **)&L->tmp, &c1, (size_t)n, sizeof *L->tmp) ||
            !tg_ds_grow((void **)&L->created, &c2, (size_t)n, 1) ||
            !tg_ds_grow((void **)&L->occ, &c3, (size_t)n, 1))
            return false;
        L->tmpcap = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
    }
    bool changed = false;
    memset(L->occ, 0, (size_t)n);
    for (int32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            L->occ[i] = L->occ[i + 1] = 1;
            L->tmp[j] = r;
            L->created[j++] = 1;
            i += 2;
            changed = true;
        } else {
            L->tmp[j] = s[i];
            L->created[j++] = 0;
            i++;
        }
    }
    if (!changed) return true; /* a stale entry in the pair's word list */
    int64_t wc = L->wcount[w];
    for (int32_t i = 0; i + 1 < n; i++)
        if ((L->occ[i] || L->occ[i + 1]) && mergeable(s[i], s[i + 1]) && !pair_add(L, s[i], s[i + 1], -wc, w))
            return false;
    for (int32_t i = 0; i + 1 < j; i++)
        if ((L->created[i] || L->created[i + 1]) && mergeable(L->tmp[i], L->tmp[i + 1]) &&
            !pair_add(L, L->tmp[i], L->tmp[i + 1], wc, w))
            return false;
    memcpy(s, L->tmp, (size_t)j * sizeof *s);
    L->wlen[w] = j;
    return true;
}

static void learner_free(learner *L) {
    free(L->wcount);
    free(L->woff);
    free(L->wlen);
    free(L->syms);
    free(L->wstamp);
    tg_ds_u64map_free(&L->pair_of);
    for (size_t p = 0; p < L->np; p++) free(L->plist[p]);
    free(L->pkey);
    free(L->pcount);
    free(L->plist);
    free(L->plen);
    free(L->plcap);
    free(L->pstamp);
    free(L->dirty);
    free(L->heap);
    free(L->tmp);
    free(L->created);
    free(L->occ);
}

typedef struct char_stat {
    const char *s;
    uint32_t n;
    int64_t count;
} char_stat;

static int char_cmp(const void *x, const void *y) {
    const char_stat *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    size_t m = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->s, b->s, m);
    if (c) return c;
    return a->n < b->n ? -1 : a->n > b->n;
}

/* 1. Word types of the lines of both sets (split on BPE's whitespace) into words, with their
 * counts in *counts (words.n). False when out of memory. */
static bool count_words(const char *const *sets[2], const size_t ns[2], tg_ds_strtab *words, int64_t **counts) {
    size_t cap = 0;
    for (int k = 0; k < 2; k++) {
        for (size_t l = 0; l < ns[k]; l++) {
            const char *s = sets[k][l];
            size_t len = strlen(s), i = 0;
            while (i < len) {
                size_t sk = tg_utf8_space_len(s + i, len - i);
                if (sk) { i += sk; continue; }
                size_t j = i + 1;
                while (j < len && !tg_utf8_space_len(s + j, len - j)) j++;
                bool added;
                int64_t w = tg_ds_strtab_intern(words, s + i, j - i, &added);
                if (w < 0 || !tg_ds_grow((void **)counts, &cap, (size_t)w + 1, sizeof **counts)) return false;
                if (added) (*counts)[w] = 0;
                (*counts)[w]++;
                i = j;
            }
        }
    }
    return true;
}

/* 2. The alphabet into b: the marker (counted once a word), then the characters seen at least
 * min_char times (weighted by word count), most frequent first, ties by bytes. */
static bool learn_alphabet(tg_bpe *b, const tg_ds_strtab *words, const int64_t *counts, int64_t min_char) {
    tg_ds_strtab chars = {0};
    int64_t *ccount = NULL, total = 0;
    size_t ccap = 0;
    char_stat *cs = NULL;
    bool added, ok = tg_ds_strtab_intern(&chars, " ", 1, &added) == 0 &&
                     tg_ds_grow((void **)&ccount, &ccap, 1, sizeof *ccount);
    if (ok) ccount[0] = 0;
    for (size_t w = 0; ok && w < words->n; w++) {
        const char *s = tg_ds_strtab_str(words, w);
        size_t n = words->len[w];
        total += counts[w];
        for (size_t i = 0; ok && i < n;) {
            uint32_t cp;
            int k = tg_utf8_next(s + i, n - i, &cp);
            if (k == 0) { i++; continue; } /* not UTF-8: left to byte fallback */
            int64_t c = tg_ds_strtab_intern(&chars, s + i, (size_t)k, &added);
            ok = c >= 0 && tg_ds_grow((void **)&ccount, &ccap, (size_t)c + 1, sizeof *ccount);
            if (!ok) break;
            if (added) ccount[c] = 0;
            ccount[c] += counts[w];
            i += (size_t)k;
        }
    }
    if (ok) ok = (cs = malloc((chars.n ? chars.n : 1) * sizeof *cs)) != NULL;
    if (ok) {
        ccount[0] = total;
        size_t nc = 0;
        for (size_t c = 0; c < chars.n; c++)
            if (c == 0 || ccount[c] >= min_char)
                cs[nc++] = (char_stat){tg_ds_strtab_str(&chars, c), chars.len[c], ccount[c]};
        qsort(cs, nc, sizeof *cs, char_cmp);
        bool dup;
        for (size_t c = 0; ok && c < nc; c++) ok = tg_bpe_add_char(b, cs[c].s, cs[c].n, &dup) >= 0;
    }
    tg_ds_strtab_free(&chars);
    free(ccount);
    free(cs);
    return ok;
}

/* 3. Each word type as symbols in L: the marker, then its characters (or bytes when a
 * character is not in the alphabet or not UTF-8). */
static bool word_symbols(learner *L, const tg_ds_strtab *words) {
    size_t total = 0;
    for (size_t w = 0; w < words->n; w++) total += 1 + words->len[w];
    L->nw = words->n;
    L->woff = malloc((L->nw ? L->nw : 1) * sizeof *L->woff);
    L->wlen = malloc((L->nw ? L->nw : 1) * sizeof *L->wlen);
    L->wstamp = calloc(L->nw ? L->nw : 1, sizeof *L->wstamp);
    L->syms = malloc((total ? total : 1) * sizeof *L->syms);
    if (!L->woff || !L->wlen || !L->wstamp || !L->syms) return false;
    size_t at = 0;
    for (size_t w = 0; w < words->n; w++) {
        size_t n = words->len[w];
        if (n >= INT32_MAX) return false;
        L->woff[w] = at;
        at += tg_bpe_word_chars(L->b, tg_ds_strtab_str(words, w), n, L->syms + at);
        L->wlen[w] = (int32_t)(at - L->woff[w]);
    }
    return true;
}

/* 4. Initial pair counts, and the heap over them. */
static bool pairs_init(learner *L) {
    for (size_t w = 0; w < L->nw; w++) {
        const int32_t *s = L->syms + L->woff[w];
        for (int32_t i = 0; i + 1 < L->wlen[w]; i++)
            if (mergeable(s[i], s[i + 1]) && !pair_add(L, s[i], s[i + 1], L->wcount[w], (int32_t)w)) return false;
    }
    if (!tg_ds_grow((void **)&L->heap, &L->hcap, L->np + 1, sizeof *L->heap)) return false;
    for (size_t p = 0; p < L->np; p++) L->heap[p] = (heap_entry){L->pcount[p], L->pkey[p], (uint32_t)p};
    L->hn = L->np;
    for (size_t i = L->hn / 2; i-- > 0;) sift_down(L->heap, L->hn, i);
    L->ndirty = 0;
    return true;
}

/* 5. Merges: the most frequent pair (count >= min_pair) becomes a piece, until there are
 * merges of them or no pair is left. */
static bool merge_loop(learner *L, int64_t merges, int64_t min_pair) {
    tg_bpe *b = L->b;
    while (b->n_merges < merges) {
        while (L->hn > 0 && L->heap[0].count != L->pcount[L->heap[0].pair]) heap_pop(L);
        if (L->hn == 0 || L->heap[0].count < min_pair) break;
        uint32_t p = L->heap[0].pair;
        heap_pop(L);
        int32_t a = (int32_t)(L->pkey[p] >> 32), c = (int32_t)(uint32_t)L->pkey[p];
        int32_t r = tg_bpe_add_merge(b, a, c);
        if (r < 0) return false;
        L->merge_no++;
        int32_t *list = L->plist[p];
        uint32_t nlist = L->plen[p];
        L->plist[p] = NULL;
        L->plen[p] = L->plcap[p] = 0;
        bool ok = true;
        for (uint32_t k = 0; ok && k < nlist; k++) {
            int32_t w = list[k];
            if (L->wstamp[w] == L->merge_no) continue;
            L->wstamp[w] = L->merge_no;
            ok = rewrite_word(L, w, a, c, r);
        }
        free(list);
        for (size_t k = 0; ok && k < L->ndirty; k++)
            ok = L->pcount[L->dirty[k]] <= 0 || heap_push(L, L->dirty[k]);
        if (!ok) return false;
        L->ndirty = 0;
    }
    return true;
}

static tg_status learn_core(tg_bpe **out, const char *const *lines1, size_t n1,
                            const char *const *lines2, size_t n2, const tg_bpe_learn_opts *o,
                            tg_err *err) {
    *out = NULL;
    if (!o) return tg_err_set(err, TG_ERR_ARG, "no learn options given (the merge count is needed)");
    if (o->merges < 0) return tg_err_set(err, TG_ERR_ARG, "merges must be 0 or more, not %d", (int)o->merges);
    int64_t min_pair = o->min_pair_count > 0 ? o->min_pair_count : 2;
    int64_t min_char = o->min_char_count > 0 ? o->min_char_count : 1;
    learner L = {0};
    tg_ds_strtab words = {0};
    tg_bpe *b = tg_bpe_new_empty();
    if (!b) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    L.b = b;
    const char *const *sets[2] = {lines1, lines2};
    const size_t ns[2] = {n1, n2};
    bool ok = count_words(sets, ns, &words, &L.wcount) && learn_alphabet(b, &words, L.wcount, min_char) &&
              word_symbols(&L, &words);
    tg_ds_strtab_free(&words);
    ok = ok && pairs_init(&L) && merge_loop(&L, o->merges, min_pair);
    learner_free(&L);
    if (!ok) {
        tg_bpe_free(b);
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory learning BPE");
    }
    *out = b;
    return TG_OK;
}

tg_status tg_bpe_learn_lines(tg_bpe **out, const char *const *lines, size_t n,
                             const tg_bpe_learn_opts *opts, tg_err *err) {
    return learn_core(out, lines, n, NULL, 0, opts, err);
}

tg_status tg_bpe_learn(tg_bpe **out, const tg_corpus *c, const tg_bpe_learn_opts *opts, tg_err *err) {
    return learn_core(out, (const char *const *)c->src, c->n, (const char *const *)c->tgt, c->n, opts, err);
}
