/* bpe_encode.c: applying the merges to text (with a per-word cache), and decoding ids. */
#include <stdlib.h>
#include <string.h>

#include "datasets/bpe.h"

static const char unk_text[] = "\xE2\x81\x87";      /* U+2047 "⁇", what sentencepiece prints */
static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */

static bool scratch_grow(tg_bpe *b, size_t n) {
    if (n <= b->sym_cap) return true;
    size_t c1 = b->sym_cap, c2 = b->sym_cap, c3 = b->sym_cap;
    if (!tg_ds_grow((void **)&b->sym, &c1, n, sizeof *b->sym) ||
        !tg_ds_grow((void **)&b->prev, &c2, n, sizeof *b->prev) ||
        !tg_ds_grow((void **)&b->next, &c3, n, sizeof *b->next))
        return false;
    b->sym_cap = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
    return true;
}

/* Min-heap of (rank << 32 | position): the lowest rank first, then the leftmost. */
static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

static bool push_pair(tg_bpe *b, size_t *hn, int32_t pos) {
    int32_t nx = b->next[pos];
    if (nx < 0) return true;
    int64_t *rank = tg_ds_u64map_get(&b->merge_rank, tg_bpe_pair_key(b->sym[pos], b->sym[nx]));
    if (!rank) return true;
    if (!tg_ds_grow((void **)&b->heap, &b->heap_cap, *hn + 1, sizeof *b->heap)) return false;
    heap_push(b->heap, hn, ((uint64_t)*rank << 32) | (uint32_t)pos);
    return true;
}

/* Segments one word (marker + w) into b->sym, linked by next; returns the count, -1 on OOM. */
static int64_t segment_word(tg_bpe *b, const char *w, size_t n) {
    if (n >= INT32_MAX - 1 || !scratch_grow(b, n + 1)) return -1;
    int32_t k = (int32_t)tg_bpe_word_chars(b, w, n, b->sym);
    for (int32_t i = 0; i < k; i++) {
        b->prev[i] = i - 1;
        b->next[i] = i + 1 < k ? i + 1 : -1;
    }
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < k; i++)
        if (!push_pair(b, &hn, i)) return -1;
    while (hn > 0) {
        uint64_t top = heap_pop(b->heap, &hn);
        int32_t rank = (int32_t)(top >> 32), pos = (int32_t)(uint32_t)top;
        int32_t nx = b->next[pos];
        /* Entries go stale when a neighbour merges first; the pair must still be there. */
        if (b->sym[pos] < 0 || nx < 0 || b->sym[pos] != b->merge_left[rank] ||
            b->sym[nx] != b->merge_right[rank])
            continue;
        b->sym[pos] = b->merge_result[rank];
        b->sym[nx] = -1;
        b->next[pos] = b->next[nx];
        if (b->next[nx] >= 0) b->prev[b->next[nx]] = pos;
        if (b->prev[pos] >= 0 && !push_pair(b, &hn, b->prev[pos])) return -1;
        if (!push_pair(b, &hn, pos)) return -1;
    }
    return k;
}

static bool encode_word(tg_bpe *b, const char *w, size_t n, tg_ids *out) {
    bool cacheable = n <= TG_BPE_CACHE_MAX_WORD;
    if (cacheable) {
        int64_t c = tg_ds_strtab_find(&b->cache, w, n);
        if (c >= 0) {
            size_t from = b->cache_off[c], to = (size_t)c + 1 < b->cache.n ? b->cache_off[c + 1] : b->cache_ids.n;
            if (!tg_ds_grow((void **)&out->v, &out->cap, out->n + (to - from), sizeof *out->v)) return false;
            memcpy(out->v + out->n, b->cache_ids.v + from, (to - from) * sizeof *out->v);
            out->n += to - from;
            return true;
        }
    }
    int64_t k = segment_word(b, w, n);
    if (k < 0) return false;
    size_t start = out->n;
    for (int32_t i = 0; i >= 0; i = b->next[i])
        if (!tg_ds_ids_push(out, b->sym[i])) return false;
    if (cacheable && b->cache.n < TG_BPE_CACHE_MAX_ENTRIES) {
        /* Entries are appended in index order, so entry c's ids end where entry c+1's start. */
        size_t at = b->cache_ids.n, cnt = out->n - start;
        if (!tg_ds_grow((void **)&b->cache_ids.v, &b->cache_ids.cap, at + cnt, sizeof(int32_t)) ||
            !tg_ds_grow((void **)&b->cache_off, &b->cache_off_cap, b->cache.n + 1, sizeof(size_t)))
            return true; /* no room to cache: the word is still encoded */
        bool added;
        int64_t c = tg_ds_strtab_intern(&b->cache, w, n, &added);
        if (c < 0) return true;
        b->cache_off[c] = at;
        memcpy(b->cache_ids.v + at, out->v + start, cnt * sizeof(int32_t));
        b->cache_ids.n = at + cnt;
    }
    return true;
}

tg_status tg_bpe_encode(tg_bpe *b, const char *text, size_t len, tg_ids *out, tg_err *err) {
    size_t i = 0;
    while (i < len) {
        size_t k = tg_utf8_space_len(text + i, len - i);
        if (k) { i += k; continue; }
        size_t j = i + 1;
        while (j < len) {
            unsigned char c = (unsigned char)text[j];
            if (c > ' ' && c < 0x80) { j++; continue; }   /* the common case, no call */
            if (tg_utf8_space_len(text + j, len - j)) break;
            j++;
        }
        if (!encode_word(b, text + i, j - i, out))
            return tg_err_set(err, TG_ERR_NOMEM, "out of memory encoding a word of %zu bytes", j - i);
        i = j;
    }
    return TG_OK;
}

/* Appends the text of one id; false when out of memory. Unknown ids are reported via *bad. */
static bool append_piece(const tg_bpe *b, int32_t id, tg_str *out, bool *bad) {
    if (id < 0 || id >= tg_bpe_vocab_size(b)) { *bad = true; return tg_ds_str_append(out, unk_text, 3); }
    if (id == TG_PAD_ID || id == TG_BOS_ID || id == TG_EOS_ID) return true;
    if (id == TG_UNK_ID) return tg_ds_str_append(out, unk_text, 3);
    if (id < TG_BPE_FIRST_CHAR) {
        char c = (char)(id - TG_BPE_FIRST_BYTE);
        return tg_ds_str_append(out, &c, 1);
    }
    return tg_ds_str_append(out, tg_bpe_piece_bytes(b, id), tg_bpe_piece_len(b, id));
}

tg_status tg_bpe_decode(const tg_bpe *b, const int32_t *ids, size_t n, tg_str *out, tg_err *err) {
    out->n = 0;
    if (!tg_ds_str_append(out, "", 0)) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        bool bad = false;
        if (!append_piece(b, ids[i], out, &bad)) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        if (bad)
            return tg_err_set(err, TG_ERR_ARG, "id %d at position %zu is outside the vocabulary (0..%d)",
                              (int)ids[i], i, (int)tg_bpe_vocab_size(b) - 1);
    }
    /* Every word starts with the marker; the first one stands for no space at all. */
    if (out->n > 0 && out->s[0] == TG_BPE_MARKER) {
        memmove(out->s, out->s + 1, out->n); /* moves the terminator too */
        out->n--;
    }
    return TG_OK;
}

tg_status tg_bpe_detok(const tg_bpe *b, const int32_t *ids, size_t n, tg_str *out, tg_err *err) {
    tg_str raw = {0};
    tg_status st = TG_OK;
    out->n = 0;
    bool ok = tg_ds_str_append(out, "", 0) && tg_ds_str_append(&raw, "", 0);
    for (size_t i = 0; i < n && ok && ids[i] != TG_EOS_ID; i++) {
        bool bad = false;
        ok = append_piece(b, ids[i], &raw, &bad);
    }
    /* Model output may put byte pieces together that are not UTF-8, or make a NUL or another
     * control character (ESC, BEL, a C1 control): text a terminal would obey, on translate's
     * stdout. Each is replaced; white space (tab to CR, U+0085) is left to the normalisation. */
    for (size_t i = 0; i < raw.n && ok;) {
        uint32_t cp;
        int k = tg_utf8_next(raw.s + i, raw.n - i, &cp);
        bool control = k > 0 && ((cp < 0x20 && !(cp >= '\t' && cp <= '\r')) ||
                                 (cp >= 0x7F && cp <= 0x9F && cp != 0x85));
        ok = control || k == 0 ? tg_ds_str_append(out, replacement, 3)
                               : tg_ds_str_append(out, raw.s + i, (size_t)k);
        i += k > 0 ? (size_t)k : 1;   /* a byte that is no UTF-8: one replacement each */
    }
    if (ok) {
        out->n = tg_corpus_normalize(out->s, out->n);
        out->s[out->n] = '\0';
    } else {
        st = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    }
    tg_str_free(&raw);
    return st;
}
